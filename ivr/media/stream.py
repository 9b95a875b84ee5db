"""One call's RTP media: a UDP socket, the send queue, inbound reordering, digits and frames.

Sending is driven by the shared :class:`~ivr.media.clock.MediaClock`: every 20 ms ``tick()``
sends one packet. While nothing is queued the stream sends encoded silence rather than nothing,
because most phones and gateways expect continuous RTP during a call (some take a pause for a
dead call, and NAT bindings need the traffic); the marker bit is set on the first packet of the
stream and on the first packet of every played item that follows silence (a talk-spurt).

Receiving: packets are parsed (malformed ones counted and dropped, never fatal), RFC 4733
events become digits, audio packets go through a small reorder buffer, are decoded by their
payload type and handed out as 20 ms frames of 16-bit 8 kHz PCM. Gaps in the timestamps (lost
packets, silence suppression) are filled with silence, up to one second, so downstream timing
stays true. In-band DTMF is detected on those frames until the peer has sent an RFC 4733 event,
after which tones in the audio are assumed to duplicate the events and are ignored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from core import g711
from ivr.log_budget import LogBudget
from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.dtmf import EVENT_DIGITS, EventTracker, GoertzelDetector
from ivr.media.frame_reader import FrameReader
from ivr.media.jitter import ReorderBuffer
from ivr.media.rtp import RtpError, RtpMedia, TelephoneEvent
from ivr.media.stream_stats import StreamStats
from ivr.media.strict_rtp import SourceLock

log = logging.getLogger(__name__)

FRAME_MS = 20
LINE_RATE = 8000
FRAME_SAMPLES = LINE_RATE * FRAME_MS // 1000
FRAME_BYTES = 2 * FRAME_SAMPLES
REORDER_DEPTH = 3  # packets (60 ms) waited for a missing one
REORDER_WAIT_S = 0.06  # after this long without packets, held ones are released anyway
MAX_GAP_FILL_SAMPLES = LINE_RATE  # silence inserted for a timestamp gap, at most 1 s
ENCODE_AHEAD_SAMPLES = LINE_RATE  # a playing prompt is encoded one second at a time
# In-band DTMF is analysed four frames at a time: one matrix product instead of four, for at
# most 80 ms more latency on a digit that already needs 40 ms of tone.
INBAND_BATCH_FRAMES = 4
EVENT_DURATION_MS = 160  # an RFC 4733 digit we send: 8 packets, then the end packet twice more
# While packets relayed from a bridged leg keep coming, the clock sends no audio of its own; it
# takes over when none came for this long (the other side on hold or silent): 5 frames, more
# than a peer's usual send jitter.
RELAY_COVER_S = 0.1
_LOG_BUDGET = LogBudget()  # shared by every stream of the process

_ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "PCMU": g711.ulaw_encode,
    "PCMA": g711.alaw_encode,
}
_DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "PCMU": g711.ulaw_decode,
    "PCMA": g711.alaw_decode,
}
_STATIC_PT = {0: "PCMU", 8: "PCMA"}


class MediaError(Exception):
    """Misuse of a media stream or an unsupported media description."""


def _check_address(addr: tuple[str, int]) -> tuple[str, int]:
    try:
        host, port = addr
    except (TypeError, ValueError):
        raise MediaError(f"media address must be (host, port), got {addr!r}") from None
    if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
        raise MediaError(f"bad media address {addr!r}")
    return (host, port)


@dataclass(frozen=True)
class Codec:
    """An audio codec as negotiated in SDP: ``name`` is PCMU or PCMA."""

    name: str
    payload_type: int
    rate: int = LINE_RATE

    def __post_init__(self) -> None:
        if self.name not in _ENCODERS:
            raise MediaError(f"unsupported codec {self.name!r}; expected PCMU or PCMA")
        if not 0 <= self.payload_type < 128:
            raise MediaError(f"payload type {self.payload_type} out of range 0-127")
        if self.rate != LINE_RATE:
            raise MediaError(f"{self.name} runs at {LINE_RATE} Hz, not {self.rate}")

    def encode(self, pcm: bytes) -> bytes:
        """16-bit PCM to this codec's bytes."""
        return _ENCODERS[self.name](pcm)

    def decode(self, data: bytes) -> bytes:
        """This codec's bytes to 16-bit PCM."""
        return _DECODERS[self.name](data)


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)


def _ignore_digit(digit: str, source: str) -> None:
    """A closed stream's digit callback."""


class PacketRelay(Protocol):
    """Where a bridged stream hands each packet it accepted (``ivr.media.passthrough``)."""

    def forward(self, packet: RtpMedia) -> None: ...


class _Play:
    """One queued piece of audio. It is encoded a second at a time as it plays, so a long
    prompt never holds the event loop for more than some tens of microseconds at once, and a
    codec change mid-prompt takes effect at the next packet."""

    __slots__ = ("codec", "encoded", "encoded_from", "future", "offset", "pcm", "samples")

    def __init__(self, pcm: bytes, future: asyncio.Future[bool]) -> None:
        self.pcm = pcm
        self.samples = len(pcm) // 2
        self.future = future
        self.offset = 0  # samples sent
        self.codec = ""
        self.encoded = b""  # one byte per sample, from sample ``encoded_from``
        self.encoded_from = 0


class MediaStream(asyncio.DatagramProtocol):
    """One call's RTP session on its own UDP socket, ticked by a shared MediaClock.

    ``on_digit(digit, source)`` is called with source ``"rfc4733"`` or ``"inband"``;
    ``on_inactive()`` once when no valid packet arrived for ``inactivity_timeout_s`` while the
    call is not on hold. Set :attr:`sending` to False on hold: nothing is sent and playback
    pauses (timestamps keep advancing), and the inactivity timer is suspended.
    """

    def __init__(
        self,
        *,
        clock: MediaClock,
        codec: Codec,
        dtmf_payload_type: int | None,
        remote: tuple[str, int] | None,
        on_digit: Callable[[str, str], None],
        inband_dtmf: bool = True,
        inactivity_timeout_s: float = 30.0,
        on_inactive: Callable[[], None] | None = None,
        ssrc: int | None = None,
        first_sequence: int | None = None,
        first_timestamp: int | None = None,
    ) -> None:
        self._clock = clock
        self._codec = codec
        self._dtmf_pt = dtmf_payload_type
        self._remote = None if remote is None else _check_address(remote)
        # strict RTP: whose packets are the caller's
        self._source: SourceLock[tuple[RtpMedia, int]] = SourceLock(self._remote)
        self._on_digit = on_digit
        self._inband = GoertzelDetector() if inband_dtmf else None
        self._inband_batch: list[bytes] = []
        self._inactivity_timeout_s = inactivity_timeout_s
        self._on_inactive = on_inactive
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc & 0xFFFFFFFF
        self._seq = secrets.randbits(16) if first_sequence is None else first_sequence & 0xFFFF
        self._ts = secrets.randbits(32) if first_timestamp is None else first_timestamp
        self._ts &= 0xFFFFFFFF
        self.local_port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._sending = True
        self._marker = True  # first packet of the stream starts a talk-spurt
        self._talking = False
        self._plays: deque[_Play] = deque()
        self._events_out: deque[tuple[TelephoneEvent, bool]] = deque()  # (event, first packet)
        self._event_ts = 0
        self._silence = codec.encode(bytes(FRAME_BYTES))
        # Weak: a reader its owner dropped without aclose() disappears instead of filling up.
        self._readers: weakref.WeakSet[FrameReader] = weakref.WeakSet()
        # receive state
        self._jitter: ReorderBuffer[RtpMedia] = ReorderBuffer(depth=REORDER_DEPTH)
        self._events = EventTracker()
        self._rfc4733_seen = False
        self._peer_ssrc: int | None = None
        self._next_rx_ts: int | None = None
        self._rx_pcm = b""
        self._last_rx = 0.0
        self._inactive_fired = False
        # counters
        self._packets_in = self._packets_out = self._bytes_in = self._bytes_out = 0
        self._malformed = self._unknown = self._foreign = self._digits = self._dropped = 0
        self._last_send: float | None = None
        self._max_gap = 0.0
        # bridging: where accepted packets are forwarded, and packets forwarded to us
        self.relay_to: PacketRelay | None = None
        self._relayed_at: float | None = None  # when the last one was sent; None: clock sends
        self._relayed_ts: int | None = None  # just after the last relayed audio

    # ------------------------------------------------------------------ set-up and control
    async def open(self, host: str, port: int) -> None:
        """Bind the UDP socket (``port`` from a PortAllocator; 0 lets the OS choose) and start
        ticking. Raises OSError when the port cannot be bound."""
        if self._transport is not None or self._closed:
            raise MediaError("stream already opened")
        loop = asyncio.get_running_loop()
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        except ValueError:  # a host name: let asyncio resolve it, send through the transport
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, local_addr=(host, port)
            )
        else:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.bind((host, port))
                transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
            except BaseException:
                sock.close()
                raise
            # The clock sends on the socket itself: the transport's sendto adds checks that
            # cost more than the system call, 50 times a second per call.
            self._sock = sock
        self.local_port = transport.get_extra_info("sockname")[1]
        self._clock.register(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The socket is ready. Datagrams may arrive even before :meth:`open` returns."""
        # The selector loop's UDP transport does not subclass DatagramTransport in 3.11.
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._loop = asyncio.get_running_loop()
        self._last_rx = self._loop.time()

    @property
    def codec(self) -> Codec:
        """The codec we send with."""
        return self._codec

    @property
    def remote(self) -> tuple[str, int] | None:
        """Where packets are sent: from SDP, or the latched source of the peer's packets."""
        return self._remote

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._closed

    def set_remote(self, addr: tuple[str, int]) -> None:
        """The peer's media address from SDP. The next valid packet from elsewhere moves the
        destination there again (symmetric RTP through NAT)."""
        self._remote = _check_address(addr)
        self._source.reset(self._remote)

    def set_codec(self, codec: Codec, dtmf_payload_type: int | None) -> None:
        """Switch codec (re-INVITE). Audio being played continues in the new codec."""
        if codec != self._codec:
            self._codec = codec
            self._silence = codec.encode(bytes(FRAME_BYTES))
        self._dtmf_pt = dtmf_payload_type

    @property
    def dtmf_payload_type(self) -> int | None:
        """The negotiated telephone-event payload type, None without one."""
        return self._dtmf_pt

    @property
    def timestamp(self) -> int:
        """The RTP timestamp of the next packet the clock sends."""
        return self._ts

    @property
    def last_send_at(self) -> float | None:
        """Loop time of the last packet sent (None before the first, and after a hold)."""
        return self._last_send

    @property
    def relayed(self) -> bool:
        """True while packets relayed from a bridged leg are what this stream sends."""
        return self._relayed_at is not None

    @property
    def fileno(self) -> int | None:
        """The UDP socket's file descriptor (None before :meth:`open`)."""
        sock = self._sock
        if sock is None and self._transport is not None:
            sock = self._transport.get_extra_info("socket")
        return None if sock is None else sock.fileno()

    @property
    def sending(self) -> bool:
        """False while the call is on hold."""
        return self._sending

    @sending.setter
    def sending(self, value: bool) -> None:
        if value and not self._sending:
            self._marker = True
            self._last_send = None  # the hold is not a send gap
            if self._loop is not None:
                self._last_rx = self._loop.time()  # the peer may have been silent on hold
        self._sending = value

    # ------------------------------------------------------------------ playback
    def play(self, pcm: bytes) -> asyncio.Future[bool]:
        """Queue 16-bit 8 kHz PCM behind what is playing. The future becomes True when the last
        packet was sent, False when playback was stopped or the stream closed first."""
        if len(pcm) % 2:
            raise g711.G711Error(f"PCM must be whole 16-bit samples, got {len(pcm)} bytes")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_result(False)
        elif not pcm:
            future.set_result(True)
        else:
            self._plays.append(_Play(pcm, future))
        return future

    def send_digit(self, digit: str, duration_ms: int = EVENT_DURATION_MS) -> bool:
        """Send `digit` as an RFC 4733 event (one packet per tick in place of audio, the end
        packet three times); False when the peer did not negotiate telephone-event."""
        code = EVENT_DIGITS.find(digit) if len(digit) == 1 else -1
        if self._dtmf_pt is None or code < 0 or self._closed:
            return False
        steps = max(1, duration_ms // FRAME_MS)
        for step in range(steps):
            end = step == steps - 1
            event = TelephoneEvent(code, end=end, duration=(step + 1) * FRAME_SAMPLES)
            for _ in range(3 if end else 1):
                self._events_out.append((event, step == 0))
        return True

    def _next_event_packet(self) -> bytes:
        event, first = self._events_out.popleft()
        if first:
            self._event_ts = self._ts
        assert self._dtmf_pt is not None  # send_digit queues nothing without it
        return rtp.build(
            self._dtmf_pt, self._seq, self._event_ts, self.ssrc, event.serialize(), first
        )

    def stop_playback(self) -> None:
        """Drop everything queued or playing; their futures become False."""
        plays, self._plays = self._plays, deque()
        for item in plays:
            if not item.future.done():
                item.future.set_result(False)

    @property
    def playing(self) -> bool:
        """True while audio is queued or playing."""
        return bool(self._plays)

    # ------------------------------------------------------------------ frames
    def frames(self) -> FrameReader:
        """The caller's decoded audio as 20 ms frames of 16-bit 8 kHz PCM, in order, from now
        on. Several readers may exist; each gets every frame. Ends when the stream closes."""
        reader = FrameReader(self._readers.discard)
        if self._closed:
            reader.finish()
        else:
            self._readers.add(reader)
        return reader

    # ------------------------------------------------------------------ stats and close
    @property
    def stats(self) -> StreamStats:
        """A snapshot of the counters."""
        jitter = self._jitter.stats
        return StreamStats(
            packets_in=self._packets_in,
            packets_out=self._packets_out,
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            malformed=self._malformed,
            unknown_payload=self._unknown,
            foreign=self._foreign,
            lost=jitter.lost,
            late=jitter.late,
            duplicate=jitter.duplicate,
            digits=self._digits,
            frames_dropped=self._dropped,
            max_send_gap_s=self._max_gap,
        )

    def close(self) -> None:
        """Stop ticking, close the socket, fail pending plays, end frame readers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._clock.unregister(self)
        self.stop_playback()
        # The callbacks are closures over the leg and its call: dropped, so that a closed
        # stream the endpoint still holds keeps no call alive (and forms no cycle with it).
        self._on_digit = _ignore_digit
        self._on_inactive = None
        self.relay_to = None  # the other leg's relay holds that leg's stream
        if self._transport is not None:
            self._transport.close()
        readers, self._readers = list(self._readers), weakref.WeakSet()
        for reader in readers:
            reader.finish()

    # ------------------------------------------------------------------ sending (clock)
    def tick(self) -> None:
        """Called by the clock every 20 ms: send one packet, check timers."""
        if self._closed or self._loop is None:
            return
        now = self._clock.now
        transport, remote = self._transport, self._remote
        relayed = False
        if self._relayed_at is not None:
            if now - self._relayed_at < RELAY_COVER_S:
                relayed = True  # the other leg's packets are sent as they arrive
            else:
                self._resume_after_relay()
        if (
            self._sending
            and transport is not None
            and remote is not None
            and (self._events_out or not relayed)
        ):
            if self._events_out:  # an RFC 4733 event replaces the audio while it lasts
                packet = self._next_event_packet()
            else:
                if self._plays:
                    payload = self._next_payload()
                else:
                    payload = self._silence
                    self._talking = False
                marker = self._marker
                self._marker = False
                packet = rtp.build(
                    self._codec.payload_type, self._seq, self._ts, self.ssrc, payload, marker
                )
            self._send(packet, remote, transport, now)
        self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
        if self._jitter.pending and now - self._last_rx > REORDER_WAIT_S:
            for held in self._jitter.flush():
                self._deliver(held)
        if (
            self._sending
            and not self._inactive_fired
            and now - self._last_rx > self._inactivity_timeout_s
        ):
            self._inactive_fired = True
            log.info("no RTP for %.1f s on port %d", self._inactivity_timeout_s, self.local_port)
            self._notify_inactive()

    def _send(
        self,
        packet: bytes,
        remote: tuple[str, int],
        transport: asyncio.DatagramTransport,
        now: float,
    ) -> None:
        sock = self._sock
        if sock is not None:
            try:
                sock.sendto(packet, remote)
            except (BlockingIOError, InterruptedError):
                # The socket buffer is full: from now on let asyncio queue and wait for
                # room, so packets never overtake each other.
                self._sock = None
                transport.sendto(packet, remote)
            except OSError as exc:
                self.error_received(exc)
        else:
            transport.sendto(packet, remote)
        self._seq = (self._seq + 1) & 0xFFFF
        self._packets_out += 1
        self._bytes_out += len(packet)
        if self._last_send is not None:
            self._max_gap = max(self._max_gap, now - self._last_send)
        self._last_send = now

    def send_relayed(
        self, payload_type: int, timestamp: int, payload: bytes, marker: bool, samples: int,
        now: float,
    ) -> bool:  # fmt: skip
        """Send a packet relayed from a bridged leg now, with our SSRC and sequence number
        (`samples` of audio, 0 for an RFC 4733 event; `now` the loop's time). While such
        packets keep coming the clock sends no audio of its own. False when this stream does
        not send (on hold, closed, no peer address yet)."""
        transport, remote = self._transport, self._remote
        if self._closed or not self._sending or transport is None or remote is None:
            return False
        self._send(rtp.build(payload_type, self._seq, timestamp, self.ssrc, payload, marker),
                   remote, transport, now)  # fmt: skip
        self._relayed_at = now
        end = (timestamp + samples) & 0xFFFFFFFF
        if samples and (self._relayed_ts is None or rtp.ts_delta(end, self._relayed_ts) > 0):
            self._relayed_ts = end
        return True

    def _resume_after_relay(self) -> None:
        """Relayed packets stopped: the clock sends again, from a timestamp past theirs."""
        self._relayed_at = None
        self._marker = True
        if self._relayed_ts is not None and rtp.ts_delta(self._relayed_ts, self._ts) > 0:
            self._ts = self._relayed_ts

    def _notify_inactive(self) -> None:
        if self._on_inactive is not None:
            try:
                self._on_inactive()
            except Exception:  # the receiver's bug must not stop the media
                log.exception("on_inactive callback failed")

    def _next_payload(self) -> bytes:
        while self._plays:
            item = self._plays[0]
            if item.future.done():  # cancelled by its owner
                self._plays.popleft()
                continue
            start = item.offset
            rel = start - item.encoded_from
            if item.codec != self._codec.name or rel >= len(item.encoded):
                ahead = item.pcm[2 * start : 2 * (start + ENCODE_AHEAD_SAMPLES)]
                item.encoded = self._codec.encode(ahead)
                item.encoded_from = start
                item.codec = self._codec.name
                rel = 0
            chunk = item.encoded[rel : rel + FRAME_SAMPLES]
            item.offset = start + FRAME_SAMPLES
            if len(chunk) < FRAME_SAMPLES:
                chunk += self._silence[: FRAME_SAMPLES - len(chunk)]
            if item.offset >= item.samples:
                self._plays.popleft()
                item.future.set_result(True)
            if not self._talking:
                self._talking = True
                self._marker = True
            return chunk
        self._talking = False
        return self._silence

    # ------------------------------------------------------------------ receiving (socket)
    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """A datagram arrived on our port: never raises, whatever it holds (an exception here
        would make asyncio close the socket, and the caller would go unheard)."""
        if self._closed:
            return
        try:
            self._receive(data, addr)
        except Exception:
            self._malformed += 1
            logged, suppressed = _LOG_BUDGET.allow("rtp-crash")
            if logged:  # a stream of crafted packets must not become a stream of tracebacks
                log.exception(
                    "RTP datagram on port %d could not be handled (%d like it not logged)",
                    self.local_port,
                    suppressed,
                )

    def _receive(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            packet = rtp.parse_media(data)
        except RtpError:
            self._malformed += 1
            return
        source: tuple[str, int] = (
            addr if len(addr) == 2 else (addr[0], addr[1])
        )  # IPv6 adds flow/scope
        assert self._loop is not None
        now = self._loop.time()
        dropped = self._source.dropped
        taken = self._source.admit(source, packet.sequence, (packet, len(data)))
        self._foreign += self._source.dropped - dropped  # strangers, failed probations
        if not taken:
            return
        if source != self._remote:
            # Symmetric RTP: send where the caller's packets come from (NAT), learned once.
            log.info(
                "RTP on port %d comes from %s:%d, not %s: sending there (symmetric RTP)",
                self.local_port,
                source[0],
                source[1],
                self._remote,
            )
            self._remote = source
        self._last_rx = now
        for media, size in taken:
            self._accept(media, size)

    def _accept(self, packet: RtpMedia, size: int) -> None:
        """A packet of the caller's: count it, route events and media."""
        self._packets_in += 1
        self._bytes_in += size
        relay = self.relay_to
        if relay is not None:
            relay.forward(packet)
        payload_type = packet.payload_type
        if payload_type == self._dtmf_pt:
            self._receive_event(packet)
            return
        if payload_type != self._codec.payload_type and payload_type not in _STATIC_PT:
            self._unknown += 1
            return
        if relay is not None and not self._readers:
            self._next_rx_ts = None  # relayed as it came; nothing here needs the audio
            return
        if packet.ssrc != self._peer_ssrc:
            if self._peer_ssrc is not None:  # re-INVITE or a new source: a fresh sequence
                for held in self._jitter.restart():
                    self._deliver(held)
                self._next_rx_ts = None
            self._peer_ssrc = packet.ssrc
        for ready in self._jitter.push(packet.sequence, packet):
            self._deliver(ready)

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket closed. If we did not close it ourselves the media is dead: report it
        as inactivity so the call ends instead of going on deaf and mute."""
        if self._closed:
            return
        log.warning("RTP socket on port %d closed unexpectedly: %s", self.local_port, exc)
        on_inactive = self._on_inactive  # close() lets go of it
        self.close()
        if not self._inactive_fired:
            self._inactive_fired = True
            self._on_inactive = on_inactive
            self._notify_inactive()
            self._on_inactive = None

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (e.g. port unreachable while the peer sets up) are not fatal."""
        log.debug("RTP socket error on port %d: %s", self.local_port, exc)

    def _receive_event(self, packet: RtpMedia) -> None:
        try:
            event = TelephoneEvent.parse(packet.payload)
        except RtpError:
            self._malformed += 1
            return
        now = self._loop.time() if self._loop is not None else None
        digit = self._events.feed(packet.timestamp, event, now)
        if digit is not None:
            self._rfc4733_seen = True
            self._emit_digit(digit, "rfc4733")

    def _emit_digit(self, digit: str, source: str) -> None:
        self._digits += 1
        try:
            self._on_digit(digit, source)
        except Exception:  # the receiver's bug must not stop the media
            log.exception("on_digit callback failed")

    def _deliver(self, packet: RtpMedia) -> None:
        if not self._readers and (self._inband is None or self._rfc4733_seen):
            # Nobody needs the caller's audio now (no frame reader, and no in-band digits to
            # look for): keep the timestamps, skip decoding and framing, the bulk of the cost
            # of a received packet.
            self._next_rx_ts = (packet.timestamp + len(packet.payload)) & 0xFFFFFFFF
            self._rx_pcm = b""
            return
        if packet.payload_type == self._codec.payload_type:
            pcm = self._codec.decode(packet.payload)
        else:
            pcm = _DECODERS[_STATIC_PT[packet.payload_type]](packet.payload)
        expected = self._next_rx_ts
        if expected is not None:
            gap = rtp.ts_delta(packet.timestamp, expected)
            if 0 < gap <= MAX_GAP_FILL_SAMPLES:
                pcm = bytes(2 * gap) + pcm
        self._next_rx_ts = (packet.timestamp + len(packet.payload)) & 0xFFFFFFFF
        data = self._rx_pcm + pcm if self._rx_pcm else pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._rx_pcm = data[whole:]
        for start in range(0, whole, FRAME_BYTES):
            self._frame(data[start : start + FRAME_BYTES])

    def _frame(self, frame: bytes) -> None:
        # While bridged, tones pass through in the relayed audio: nothing to detect.
        if self._inband is not None and not self._rfc4733_seen and self.relay_to is None:
            batch = self._inband_batch
            batch.append(frame)
            if len(batch) >= INBAND_BATCH_FRAMES:
                self._inband_batch = []
                for digit in self._inband.feed(b"".join(batch)):
                    self._emit_digit(digit, "inband")
        if self._readers:  # iterating an empty WeakSet still costs
            for reader in self._readers:
                if reader.push(frame):
                    self._dropped += 1
