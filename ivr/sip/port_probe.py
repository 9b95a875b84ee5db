"""Whether a listening address is free, asked before a node starts its slow start-up."""

from __future__ import annotations

import socket

from config.operator_errors import OperatorError, bind_problem

_KINDS = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}


def require_free(host: str, port: int, transports: list[str], *, what: str, fix: str) -> None:
    """Bind and release ``host:port`` for each transport; an :class:`OperatorError` (one line)
    when one cannot be bound. Port 0 (any free port) always passes."""
    if port == 0:
        return
    for transport in transports:
        kind = _KINDS.get(transport)
        if kind is None:
            raise OperatorError(f"{what}: unknown transport {transport!r} (udp or tcp)")
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:
                # what the real listener does too: a port in TIME_WAIT is not "in use"
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise bind_problem(
                    exc, what=f"{what} ({transport})", host=host, port=port, fix=fix
                ) from None
