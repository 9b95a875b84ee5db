"""The only owner of SIP sockets: one UDP socket and one TCP listener per worker.

Incoming bytes are handed, whole message by whole message, to one callback with the peer they
came from; outgoing bytes go to a :class:`Peer` (over the TCP connection the peer opened when
there is one). Framing errors close a TCP connection; nothing here ever raises into the loop.

Hostile sources are limited here, before any parsing (``ivr/sip/source_limits.py``): request
and INVITE rates per address with a temporary ban, TCP connections per address and in total,
idle and message-completion timeouts, no provisional answers to unverified UDP sources, and a
budget on repeated log lines (``accept()`` running out of descriptors included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from ivr.log_budget import LogBudget
from ivr.settings import SourceLimitSettings
from ivr.sip.dialog import Peer
from ivr.sip.message import SipParseError, split_stream
from ivr.sip.source_limits import (
    Clock,
    ReflectionGuard,
    SourceGuard,
    TcpBudget,
    Verdict,
)

log = logging.getLogger(__name__)

MAX_TCP_BUFFER = 256 * 1024  # a peer that sends more without a whole message is cut off
MAX_DATAGRAM = 65535
EVICT_AFTER_S = 1.0  # a connection this long silent may be closed for a new one at the cap
# asyncio reads one datagram per wake-up of a socket, and a busy loop wakes every socket once
# per turn: with hundreds of RTP sockets the SIP socket would get one message per turn and its
# queue would grow by seconds. So each wake-up also reads what is queued, up to this many more.
UDP_DRAIN_BUDGET = 64
OnData = Callable[[bytes, Peer], None]


def local_ip_towards(remote_host: str) -> str:
    """The local address the kernel would use towards ``remote_host`` (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((remote_host, 9))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport, sock: socket.socket) -> None:
        self._owner = owner
        self._sock = sock
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._handle(data, addr)
        for _ in range(UDP_DRAIN_BUDGET):
            if self.transport is None or self.transport.is_closing():
                return
            try:
                data, addr = self._sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error, or the socket closed by a handler
                self.error_received(exc)
                return
            self._handle(data, addr)

    def _handle(self, data: bytes, addr: tuple[str, int]) -> None:
        owner = self._owner
        if owner.guard.admit(addr[0], data) is not Verdict.ADMIT:
            return  # a flood or a banned source: dropped unanswered
        owner.reflection.observe(data, addr)
        try:
            owner._on_data(data, Peer("udp", addr[0], addr[1]))
        except Exception:
            if owner.log_budget.allow("handler-crash")[0]:  # tracebacks, but not a flood
                log.exception("SIP datagram from %s:%s crashed its handler", *addr[:2])

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error (ICMP): %s", exc)


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,9})")


class _TcpConnection(asyncio.Protocol):
    """One TCP connection: framing without rescanning (a header dripped a byte at a time costs
    linear time, not quadratic), per-message rate checks, activity times for the sweeper."""

    def __init__(self, owner: SipTransport, *, accepted: bool = True) -> None:
        self._owner = owner
        self._accepted = accepted  # False: we connected out (not counted against the caps)
        self._buffer = bytearray()
        self._scanned = 0  # the header end is not before this offset of the buffer
        self._need = 0  # bytes the first message needs, once its header is complete
        self.peer: Peer | None = None
        self.transport: asyncio.Transport | None = None
        self.counted = False
        self.last_data = owner.clock()
        self.partial_since: float | None = None  # when the unfinished message began

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer("tcp", host, port)
        owner = self._owner
        if self._accepted:
            if owner.tcp_budget.open >= owner.tcp_budget.total:
                owner._evict_idlest()
            if not owner.tcp_budget.acquire(host):
                owner.log_budget.info(log, "tcp-cap", "TCP from %s refused: connection cap", host)
                transport.abort()
                return
            self.counted = True
        owner._tcp[(host, port)] = self

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.transport is not None
        owner = self._owner
        self.last_data = owner.clock()
        if self.partial_since is None:
            self.partial_since = self.last_data
        self._buffer += data
        if not self._complete():
            if len(self._buffer) > MAX_TCP_BUFFER:
                self._close("oversized message")
            return
        try:
            messages, rest = split_stream(bytes(self._buffer))
        except SipParseError as exc:
            self._close(f"unframeable stream ({exc})")
            return
        self._buffer = bytearray(rest)
        self._scanned = self._need = 0
        self.partial_since = self.last_data if rest.strip(b"\r\n") else None
        for message in messages:
            if owner.guard.admit(self.peer.host, message) is not Verdict.ADMIT:
                if owner.guard.banned(self.peer.host):
                    self._close("banned source")
                    return
                continue
            try:
                owner._on_data(message, self.peer)
            except Exception:
                if owner.log_budget.allow("handler-crash")[0]:
                    log.exception("SIP message from %s crashed its handler", self.peer)

    def _complete(self) -> bool:
        """Whether the buffer may hold a whole message, scanning only the bytes not seen yet."""
        buffer = self._buffer
        if self._need:
            return len(buffer) >= self._need
        start = max(0, self._scanned - 3)
        found = _HEADER_END.search(buffer, start)
        if found is None:
            self._scanned = len(buffer)
            return False
        if not buffer[: found.start()].strip(b"\r\n"):
            return True  # keep-alive blank lines: let the framer skip them
        length = _CONTENT_LENGTH.search(buffer, 0, found.start())
        self._need = found.end() + (int(length.group(1)) if length else 0)
        return len(buffer) >= self._need

    def _close(self, reason: str) -> None:
        assert self.transport is not None
        self._owner.log_budget.info(log, "tcp-close", "closing TCP %s: %s", self.peer, reason)
        self.transport.abort()

    def expired(self, now: float) -> str | None:
        """Why the sweeper should close this connection now, or None."""
        limits = self._owner.limits
        if self.partial_since is not None and now - self.partial_since > limits.tcp_message_s:
            return "message not completed in time"
        if now - self.last_data > limits.tcp_idle_s:
            return "idle"
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is None:
            return
        if self.counted:
            self.counted = False
            self._owner.tcp_budget.release(self.peer.host)
        key = (self.peer.host, self.peer.port)
        if self._owner._tcp.get(key) is self:
            del self._owner._tcp[key]


class SipTransport:
    """UDP and TCP listeners on one address and port."""

    def __init__(
        self,
        on_data: OnData,
        *,
        limits: SourceLimitSettings | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._on_data = on_data
        self.limits = limits or SourceLimitSettings()
        self.clock = clock
        self.guard = SourceGuard(self.limits, clock=clock)
        self.tcp_budget = TcpBudget.from_settings(self.limits)
        self.reflection = ReflectionGuard(self.limits.verified_sources)
        self.log_budget = LogBudget(clock=clock)
        self._sweeper: asyncio.Task[None] | None = None
        self._udp: _Udp | None = None
        self._server: asyncio.Server | None = None
        self._tcp: dict[tuple[str, int], _TcpConnection] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self.host = "0.0.0.0"
        self.port = 0
        self._local_ips: dict[str, str] = {}

    async def start(self, host: str, port: int, transports: list[str]) -> None:
        """Bind the listeners. Port 0 picks a free port (the UDP one, shared with TCP)."""
        loop = asyncio.get_running_loop()
        self.host = host
        if "udp" in transports:
            # Our own socket, so that the protocol can read what is queued (see _Udp).
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            family, _, _, _, address = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
                sock.bind(address)
                _, proto = await loop.create_datagram_endpoint(lambda: _Udp(self, sock), sock=sock)
            except BaseException:
                sock.close()
                raise
            self._udp = proto
            assert proto.transport is not None
            port = proto.transport.get_extra_info("sockname")[1]
        if "tcp" in transports:
            self._server = await loop.create_server(
                lambda: _TcpConnection(self), host=host, port=port, reuse_address=True
            )
            port = self._server.sockets[0].getsockname()[1]
            self._sweeper = loop.create_task(self._sweep())
            _budget_accept_errors(loop, self.log_budget)
        self.port = port

    def _evict_idlest(self) -> None:
        """At the total cap, close the connection silent for longest (at least
        :data:`EVICT_AFTER_S`), so held-open idle connections cannot lock everyone out."""
        counted = [conn for conn in self._tcp.values() if conn.counted]
        if not counted:
            return
        idlest = min(counted, key=lambda conn: conn.last_data)
        if self.clock() - idlest.last_data >= EVICT_AFTER_S and idlest.transport is not None:
            idlest._close("evicted: idlest connection at the connection cap")
            idlest.connection_lost(None)  # free its slot now, not on the next loop turn

    async def _sweep(self) -> None:
        """Close TCP connections that are idle, or whose message is not completed in time."""
        period = min(1.0, self.limits.tcp_message_s / 2)
        while True:
            await asyncio.sleep(period)
            now = self.clock()
            for conn in list(self._tcp.values()):
                reason = conn.expired(now)
                if reason is not None and conn.transport is not None:
                    conn._close(reason)

    def local_ip_for(self, remote_host: str) -> str:
        """The local address the kernel would use towards ``remote_host`` (for Via/Contact/SDP)."""
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host
        cached = self._local_ips.get(remote_host)
        if cached:
            return cached
        ip = local_ip_towards(remote_host)
        self._local_ips[remote_host] = ip
        return ip

    def send(self, data: bytes, peer: Peer) -> None:
        """Send bytes to a peer; never raises."""
        try:
            if peer.transport == "udp":
                udp = self._udp.transport if self._udp is not None else None
                if not self.reflection.may_send(data, (peer.host, peer.port)):
                    return  # an unverified source gets no more than RFC 3261 requires
                if udp is not None and not udp.is_closing():
                    udp.sendto(data, (peer.host, peer.port))
                return
            conn = self._tcp.get((peer.host, peer.port))
            if conn is not None and conn.transport is not None and not conn.transport.is_closing():
                conn.transport.write(data)
                return
            self._connect_and_send(data, peer)
        except OSError as exc:
            log.info("send to %s failed: %s", peer, exc)

    def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        key = (peer.host, peer.port)
        queue = self._pending.setdefault(key, [])
        queue.append(data)
        if len(queue) > 1:
            return  # a connection attempt is already under way

        async def connect() -> None:
            loop = asyncio.get_running_loop()
            try:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _TcpConnection(self, accepted=False), peer.host, peer.port
                    ),
                    5,
                )
            except (OSError, TimeoutError) as exc:
                log.info("TCP connect to %s failed: %s", peer, exc)
                self._pending.pop(key, None)
                return
            for chunk in self._pending.pop(key, []):
                assert proto.transport is not None
                proto.transport.write(chunk)

        asyncio.get_running_loop().create_task(connect())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        for conn in list(self._tcp.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)


_ACCEPT_FAILURE = "socket.accept() out of system resource"


def _budget_accept_errors(loop: asyncio.AbstractEventLoop, budget: LogBudget) -> None:
    """Route asyncio's ``accept()`` resource errors through a log budget (asyncio itself backs
    off for a second after each); every other loop error goes to the handler set before."""
    previous = loop.get_exception_handler()
    if getattr(previous, "budgets_accept_errors", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_FAILURE:
            exc = context.get("exception")
            budget.warning(log, "accept", "TCP accept() failed: %s (backing off)", exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.budgets_accept_errors = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
