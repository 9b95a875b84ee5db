"""Mistakes an operator can make at start-up, each told in one line instead of a traceback.

:class:`OperatorError` carries a message meant for the person who started the node; the console
prints it as ``tongdai: error: <message>`` and exits non-zero. :func:`settings_problems` turns a
pydantic validation error into one such line per bad setting, naming the environment variable.
"""

from __future__ import annotations

import errno

from pydantic import ValidationError

EXIT_CONFIG = 2
"""Exit status for a configuration mistake (bad setting, port in use, unreachable database)."""


class OperatorError(Exception):
    """A start-up failure the operator can fix; ``lines`` are printed, one per problem."""

    def __init__(self, *lines: str) -> None:
        super().__init__("; ".join(lines))
        self.lines = list(lines)


def settings_problems(error: ValidationError, *, env_prefix: str = "TONGDAI_") -> list[str]:
    """One line per invalid setting: its dotted name, its environment variable, the value
    given and what is wrong with it."""
    lines = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ())]
        dotted = ".".join(location) or "(settings)"
        variable = env_prefix + "__".join(part.upper() for part in location)
        given = problem.get("input")
        shown = f" = {given!r}" if isinstance(given, (str, int, float, bool)) else ""
        lines.append(f"setting {dotted} ({variable}){shown}: {problem.get('msg', 'invalid')}")
    return lines


def bind_problem(exc: OSError, *, what: str, host: str, port: int, fix: str) -> OperatorError:
    """The one line for a socket that could not be bound (port in use, no permission, no such
    address), with what the operator can change."""
    if exc.errno == errno.EADDRINUSE:
        reason = "is already in use by another process"
    elif exc.errno == errno.EACCES:
        reason = "needs privileges this process does not have"
    elif exc.errno == errno.EADDRNOTAVAIL:
        reason = "names an address this machine does not have"
    else:
        reason = f"cannot be opened ({exc.strerror or exc})"
    return OperatorError(f"{what} {host}:{port} {reason}: {fix}")
