"""One call's RTP media: a UDP socket, the send queue, inbound reordering, digits and frames.

Sending is driven by the shared :class:`~ivr.media.clock.MediaClock`: every 20 ms ``tick()``
sends one packet. While nothing is queued the stream sends encoded silence rather than nothing,
because most phones and gateways expect continuous RTP during a call (some take a pause for a
dead call, and NAT bindings need the traffic); the marker bit is set on the first packet of the
stream and on the first packet of every played item that follows silence (a talk-spurt).

Receiving is :mod:`ivr.media.receive_path`, a base class of the stream; the codecs are in
:mod:`ivr.media.codec`, the queue of audio to play in :mod:`ivr.media.play_queue` and the RFC
4733 packets of a digit we send in :mod:`ivr.media.outgoing_events`. Their public names are
imported here too, where callers have always found them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
import weakref
from collections.abc import Callable
from typing import cast

from core import g711
from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.codec import (
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    LINE_RATE,
    PCMA,
    PCMU,
    Codec,
    MediaError,
)
from ivr.media.frame_reader import FrameReader
from ivr.media.outgoing_events import EVENT_DURATION_MS, OutgoingEvents
from ivr.media.play_queue import ENCODE_AHEAD_SAMPLES, PlayQueue
from ivr.media.receive_path import (
    INBAND_BATCH_FRAMES,
    MAX_GAP_FILL_SAMPLES,
    REORDER_DEPTH,
    PacketRelay,
    ReceivePath,
)
from ivr.media.stream_stats import StreamStats

__all__ = [
    "ENCODE_AHEAD_SAMPLES",
    "EVENT_DURATION_MS",
    "FRAME_BYTES",
    "FRAME_MS",
    "FRAME_SAMPLES",
    "INBAND_BATCH_FRAMES",
    "LINE_RATE",
    "MAX_GAP_FILL_SAMPLES",
    "PCMA",
    "PCMU",
    "RELAY_COVER_S",
    "REORDER_DEPTH",
    "REORDER_WAIT_S",
    "Codec",
    "MediaError",
    "MediaStream",
    "PacketRelay",
    "StreamStats",
]

log = logging.getLogger(__name__)

REORDER_WAIT_S = 0.06  # after this long without packets, held ones are released anyway

# While packets relayed from a bridged leg keep coming, the clock sends no audio of its own; it
# takes over when none came for this long (the other side on hold or silent): 5 frames, more
# than a peer's usual send jitter.
RELAY_COVER_S = 0.1


def _check_address(addr: tuple[str, int]) -> tuple[str, int]:
    try:
        host, port = addr
    except (TypeError, ValueError):
        raise MediaError(f"media address must be (host, port), got {addr!r}") from None
    if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
        raise MediaError(f"bad media address {addr!r}")
    return (host, port)


def _ignore_digit(digit: str, source: str) -> None:
    """A closed stream's digit callback."""


class MediaStream(ReceivePath):
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
        self._init_receive(self._remote, on_digit, inband_dtmf)
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
        self._plays = PlayQueue()
        self._events_out = OutgoingEvents()
        self._silence = codec.encode(bytes(FRAME_BYTES))
        self._inactive_fired = False
        # counters (those of the receive path are set up with it)
        self._packets_out = self._bytes_out = 0
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
        """Switch codec (re-INVITE). Audio being played continues in the new codec; a digit
        still being sent is dropped when the peer no longer takes telephone-event."""
        if codec != self._codec:
            self._codec = codec
            self._silence = codec.encode(bytes(FRAME_BYTES))
        self._dtmf_pt = dtmf_payload_type
        if dtmf_payload_type is None:
            self._events_out.clear()

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
            self._plays.add(pcm, future)
        return future

    def send_digit(self, digit: str, duration_ms: int = EVENT_DURATION_MS) -> bool:
        """Send `digit` as an RFC 4733 event (one packet per tick in place of audio, the end
        packet three times); False when the peer did not negotiate telephone-event."""
        if self._dtmf_pt is None or self._closed:
            return False
        return self._events_out.add_digit(digit, duration_ms)

    def stop_playback(self) -> None:
        """Drop everything queued or playing; their futures become False."""
        self._plays.stop()

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
                packet = self._events_out.next_packet(self._dtmf_pt, self._seq, self._ts, self.ssrc)
            else:
                payload = (
                    self._plays.next_frame(self._codec, self._silence) if self._plays else None
                )
                if payload is None:
                    payload = self._silence
                    self._talking = False
                elif not self._talking:  # the first packet of a played item after silence
                    self._talking = True
                    self._marker = True
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
