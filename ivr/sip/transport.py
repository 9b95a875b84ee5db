"""The only owner of SIP sockets: one UDP socket and one TCP listener per worker.

Incoming bytes are handed, whole message by whole message, to one callback with the peer they
came from; outgoing bytes go to a :class:`Peer` (over the TCP connection the peer opened when
there is one). Framing errors close a TCP connection; nothing here ever raises into the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from ivr.sip.dialog import Peer
from ivr.sip.message import SipParseError, split_stream

log = logging.getLogger(__name__)

MAX_TCP_BUFFER = 256 * 1024  # a peer that sends more without a whole message is cut off
MAX_DATAGRAM = 65535
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
    def __init__(self, on_data: OnData, sock: socket.socket) -> None:
        self._on_data = on_data
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
        try:
            self._on_data(data, Peer("udp", addr[0], addr[1]))
        except Exception:
            log.exception("SIP datagram from %s:%s crashed its handler", *addr[:2])

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error (ICMP): %s", exc)


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner
        self._buffer = b""
        self.peer: Peer | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer("tcp", host, port)
        self._owner._tcp[(host, port)] = self

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.transport is not None
        self._buffer += data
        try:
            messages, self._buffer = split_stream(self._buffer)
        except SipParseError as exc:
            log.info("closing TCP %s: unframeable stream (%s)", self.peer, exc)
            self.transport.close()
            return
        if len(self._buffer) > MAX_TCP_BUFFER:
            log.info("closing TCP %s: oversized message", self.peer)
            self.transport.close()
            return
        for message in messages:
            try:
                self._owner._on_data(message, self.peer)
            except Exception:
                log.exception("SIP message from %s crashed its handler", self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            key = (self.peer.host, self.peer.port)
            if self._owner._tcp.get(key) is self:
                del self._owner._tcp[key]


class SipTransport:
    """UDP and TCP listeners on one address and port."""

    def __init__(self, on_data: OnData) -> None:
        self._on_data = on_data
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
                _, proto = await loop.create_datagram_endpoint(
                    lambda: _Udp(self._on_data, sock), sock=sock
                )
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
        self.port = port

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
                    loop.create_connection(lambda: _TcpConnection(self), peer.host, peer.port), 5
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
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        for conn in list(self._tcp.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
