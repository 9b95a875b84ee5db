"""Several IVR workers behind one SIP port: a dispatcher by Call-ID.

One process owns the SIP sockets (a :class:`SipTransport`). Each message it receives goes to
worker ``crc32(Call-ID) % N`` over a Unix datagram socket, so every message of a call (INVITE,
CANCEL, ACK, BYE, INFO, re-INVITE, NOTIFY) reaches the worker that owns the call, whatever
address the caller or a proxy sends from. Workers send their messages back the same way and the
dispatcher writes them to the network, so responses still leave from the SIP port and TCP
connections stay in one place. RTP never passes here: each worker has its own RTP sockets.

Frames on the Unix sockets: ``<transport> <host> <port>\\n`` followed by the SIP message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import zlib
from collections.abc import Callable

from ivr.settings import SourceLimitSettings
from ivr.sip.dialog import Peer
from ivr.sip.transport import SipTransport, local_ip_towards

log = logging.getLogger(__name__)

FRAME_BYTES = 70_000  # a whole SIP message (<= 65,535 bytes) and its address line
_CALL_ID = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]+?)[ \t]*\r?$", re.I | re.M)


def worker_for(message: bytes, workers: int) -> int:
    """The worker that owns this message's call: by Call-ID; worker 0 when there is none."""
    head = message.split(b"\r\n\r\n", 1)[0]
    match = _CALL_ID.search(head)
    if match is None:
        return 0
    return zlib.crc32(match.group(1)) % workers


def encode_frame(peer: Peer, data: bytes) -> bytes:
    """A message with the address it came from or goes to."""
    return f"{peer.transport} {peer.host} {peer.port}\n".encode() + data


def decode_frame(frame: bytes) -> tuple[Peer, bytes]:
    """The inverse of :func:`encode_frame`; ValueError for a broken frame."""
    line, _, data = frame.partition(b"\n")
    transport, host, port = line.decode().split(" ")
    return Peer(transport, host, int(port)), data


def socket_pairs(workers: int) -> list[tuple[socket.socket, socket.socket]]:
    """One (dispatcher end, worker end) Unix datagram pair per worker, made before forking."""
    pairs = []
    for _ in range(workers):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for end in (a, b):
            with contextlib.suppress(OSError):
                end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
                end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            end.setblocking(False)
        pairs.append((a, b))
    return pairs


class Dispatcher:
    """Owns the SIP sockets and relays between them and the workers."""

    def __init__(
        self, worker_sockets: list[socket.socket], limits: SourceLimitSettings | None = None
    ) -> None:
        self._workers = worker_sockets
        self.transport = SipTransport(self._from_network, limits=limits)
        self.relayed = [0] * len(worker_sockets)

    async def start(self, host: str, port: int, transports: list[str]) -> None:
        await self.transport.start(host, port, transports)
        loop = asyncio.get_running_loop()
        for sock in self._workers:
            loop.add_reader(sock.fileno(), self._from_worker, sock)

    def _from_network(self, data: bytes, peer: Peer) -> None:
        index = worker_for(data, len(self._workers))
        try:
            self._workers[index].send(encode_frame(peer, data))
            self.relayed[index] += 1
        except (BlockingIOError, OSError) as exc:
            log.warning("worker %d cannot take a message (%s): dropped", index, exc)

    def _from_worker(self, sock: socket.socket) -> None:
        for _ in range(256):
            try:
                frame = sock.recv(FRAME_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("worker socket failed: %s", exc)
                asyncio.get_running_loop().remove_reader(sock.fileno())
                return
            try:
                peer, data = decode_frame(frame)
            except (ValueError, UnicodeDecodeError):
                log.warning("broken frame from a worker: dropped")
                continue
            self.transport.send(data, peer)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._workers:
            with contextlib.suppress(Exception):
                loop.remove_reader(sock.fileno())
        await self.transport.close()


class RelayTransport:
    """A worker's side: the same surface as :class:`SipTransport`, over its Unix socket."""

    def __init__(self, on_data: Callable[[bytes, Peer], None], *, sock: socket.socket,
                 public_port: int, host: str = "0.0.0.0") -> None:  # fmt: skip
        self._on_data = on_data
        self._sock = sock
        self.port = public_port
        self.host = host
        self._local_ips: dict[str, str] = {}

    async def start(self, host: str, port: int, transports: list[str]) -> None:
        """Start reading what the dispatcher relays (the sockets are the dispatcher's)."""
        self.host = host
        asyncio.get_running_loop().add_reader(self._sock.fileno(), self._read)

    def _read(self) -> None:
        for _ in range(256):
            try:
                frame = self._sock.recv(FRAME_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("dispatcher socket failed: %s", exc)
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
                return
            try:
                peer, data = decode_frame(frame)
                self._on_data(data, peer)
            except Exception:
                log.exception("relayed SIP message crashed its handler")

    def local_ip_for(self, remote_host: str) -> str:
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host
        if remote_host not in self._local_ips:
            self._local_ips[remote_host] = local_ip_towards(remote_host)
        return self._local_ips[remote_host]

    def send(self, data: bytes, peer: Peer) -> None:
        try:
            self._sock.send(encode_frame(peer, data))
        except (BlockingIOError, OSError) as exc:
            log.warning("cannot hand a message to the dispatcher (%s): dropped", exc)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
