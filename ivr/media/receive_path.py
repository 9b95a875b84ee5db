"""The receiving half of a :class:`~ivr.media.stream.MediaStream`, from datagram to frame.

Packets are parsed (malformed ones counted and dropped, never fatal) and admitted by the
strict-RTP source lock; RFC 4733 events become digits, audio packets go through a small reorder
buffer, are decoded by their payload type and handed out as 20 ms frames of 16-bit 8 kHz PCM.
Gaps in the timestamps (lost packets, silence suppression) are filled with silence, up to one
second, so downstream timing stays true. In-band DTMF is detected on those frames until the
peer has sent an RFC 4733 event, after which tones in the audio are assumed to duplicate the
events and are ignored.

This is a base class of the stream, not an object of its own: these methods run for every
packet received, and as methods of the stream itself they cost no call more than they did
before they had their own module.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ivr.log_budget import LogBudget
from ivr.media import rtp
from ivr.media.codec import DECODERS, FRAME_BYTES, LINE_RATE, STATIC_PT, Codec
from ivr.media.dtmf import EventTracker, GoertzelDetector
from ivr.media.frame_reader import FrameReader
from ivr.media.jitter import ReorderBuffer
from ivr.media.rtp import RtpError, RtpMedia, TelephoneEvent
from ivr.media.strict_rtp import SourceLock

# The stream's logger: one name for everything a stream logs, as log settings expect.
log = logging.getLogger("ivr.media.stream")

REORDER_DEPTH = 3  # packets (60 ms) waited for a missing one
MAX_GAP_FILL_SAMPLES = LINE_RATE  # silence inserted for a timestamp gap, at most 1 s
# In-band DTMF is analysed four frames at a time: one matrix product instead of four, for at
# most 80 ms more latency on a digit that already needs 40 ms of tone.
INBAND_BATCH_FRAMES = 4
_LOG_BUDGET = LogBudget()  # shared by every stream of the process


class PacketRelay(Protocol):
    """Where a bridged stream hands each packet it accepted (``ivr.media.passthrough``)."""

    def forward(self, packet: RtpMedia) -> None: ...


class ReceivePath(asyncio.DatagramProtocol):
    """Datagram to digits and frames, for the stream that derives from it.

    The stream owns and sets the attributes declared here without a value."""

    _closed: bool
    _loop: asyncio.AbstractEventLoop | None
    _remote: tuple[str, int] | None
    _codec: Codec
    _dtmf_pt: int | None
    local_port: int
    relay_to: PacketRelay | None

    def _init_receive(
        self,
        remote: tuple[str, int] | None,
        on_digit: Callable[[str, str], None],
        inband_dtmf: bool,
    ) -> None:
        """Set up the receive state; called from the stream's constructor."""
        # strict RTP: whose packets are the caller's
        self._source: SourceLock[tuple[RtpMedia, int]] = SourceLock(remote)
        self._on_digit = on_digit
        self._inband = GoertzelDetector() if inband_dtmf else None
        self._inband_batch: list[bytes] = []
        # Weak: a reader its owner dropped without aclose() disappears instead of filling up.
        self._readers: weakref.WeakSet[FrameReader] = weakref.WeakSet()
        self._jitter: ReorderBuffer[RtpMedia] = ReorderBuffer(depth=REORDER_DEPTH)
        self._events = EventTracker()
        self._rfc4733_seen = False
        self._peer_ssrc: int | None = None
        self._next_rx_ts: int | None = None
        self._rx_pcm = b""
        self._last_rx = 0.0
        # counters
        self._packets_in = self._bytes_in = 0
        self._malformed = self._unknown = self._foreign = self._digits = self._dropped = 0

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
        if payload_type != self._codec.payload_type and payload_type not in STATIC_PT:
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
            pcm = DECODERS[STATIC_PT[packet.payload_type]](packet.payload)
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
