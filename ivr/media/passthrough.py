"""Pass-through relay: each RTP packet one leg receives is sent on the other leg at once.

A bridged call needs no jitter buffer, no decoding and no per-frame task in the middle: the
phones at both ends have their own jitter buffers. So the packet is forwarded from the datagram
callback of the receiving stream, in the same turn of the event loop:

- **Audio**: the G.711 payload is copied as it is when both legs use one codec; PCMA↔PCMU is
  one ``bytes.translate`` through a 256-entry table (the byte decoded and encoded again, as the
  reference algorithm does), never a decode to PCM.
- **RFC 4733 digits** are forwarded packet by packet with the payload type the other leg
  negotiated (dropped when it negotiated none; the bridge then has nothing else to send).
- **Headers**: the packet leaves with the target stream's SSRC and sequence numbers; its
  timestamp is the source's moved by an offset fixed at the start of each run of relayed
  packets, so the receiver sees the source's own spacing, and the marker bit on every restart.

While packets are relayed into a stream its clock ticks send nothing
(:meth:`MediaStream.send_relayed`); when they stop for longer than
:data:`ivr.media.stream.RELAY_COVER_S` (the other side put the call on hold, or fell silent with
silence suppression), the clock takes over again with silence or whatever is queued on the
stream (hold music).

A frame reader on the receiving stream (a recording) still gets the decoded audio: only
then is anything decoded. A bridge's recording is not a reader: :attr:`Passthrough.tape`
gets each relayed payload as it came, undecoded (:mod:`ivr.media.leg_tape`). Timings of the
relay are kept in histograms for the benchmarks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core import g711
from ivr.media import rtp
from ivr.media.arrival_stamp import ArrivalStamp
from ivr.media.latency_histogram import LatencyHistogram
from ivr.media.leg_tape import LegTape
from ivr.media.rtp import RtpMedia
from ivr.media.stream import MediaStream

_STATIC_PT = {0: "PCMU", 8: "PCMA"}
MAX_OFFSET_DRIFT = 8000  # samples (1 s): a timestamp further than this from ours starts afresh


def _table(decode: Callable[[int], int], encode: Callable[[int], int]) -> bytes:
    return bytes(encode(decode(code)) for code in range(256))


# code in one law -> code in the other, through the 16-bit sample the reference algorithm gives
_TRANSLATE = {
    ("PCMA", "PCMU"): _table(g711.alaw_to_linear, g711.linear_to_ulaw),
    ("PCMU", "PCMA"): _table(g711.ulaw_to_linear, g711.linear_to_alaw),
}


@dataclass
class PassthroughStats:
    """What one direction of a relay did. ``held`` counts packets not sent because the target
    does not send (on hold, closed, no address yet); ``no_event_type`` RFC 4733 packets the
    target did not negotiate. ``added_delay`` is measured from the kernel's receive time
    to the send, on one packet in ``probe_every``."""

    relayed: int = 0
    transcoded: int = 0
    events: int = 0
    held: int = 0
    no_event_type: int = 0
    restarts: int = 0
    arrival_intervals: LatencyHistogram = field(default_factory=LatencyHistogram)
    send_intervals: LatencyHistogram = field(default_factory=LatencyHistogram)
    added_delay: LatencyHistogram = field(default_factory=LatencyHistogram)


class Passthrough:
    """One direction of a bridge: packets `source` receives are sent on `target`."""

    def __init__(self, source: MediaStream, target: MediaStream, *, probe_every: int = 0) -> None:
        """``probe_every`` > 0 measures the added delay of one packet in that many (a system
        call each: for benchmarks)."""
        self._source = source
        self._target = target
        self._now = asyncio.get_running_loop().time  # the streams' clock; built in the loop
        self.stats = PassthroughStats()
        self._offset: int | None = None  # our timestamp minus the source's
        self._ssrc: int | None = None
        self._next_ts: int | None = None  # just after the last audio we relayed
        self._last_arrival: float | None = None
        self._probe_every = probe_every
        self._probe_count = 0
        fd = source.fileno if probe_every > 0 else None
        self._stamp = ArrivalStamp(fd) if fd is not None else None
        self.tape: LegTape | None = None  # the bridge's recording of what this direction relays

    def start(self) -> None:
        """From now on every packet `source` accepts is forwarded."""
        self._source.relay_to = self

    def stop(self) -> None:
        """Forward nothing more (the bridge ended); idempotent."""
        if self._source.relay_to is self:
            self._source.relay_to = None

    def forward(self, packet: RtpMedia) -> None:
        """Called by the source stream for each packet it accepted from its peer."""
        source, target, stats = self._source, self._target, self.stats
        now = self._now()
        last = self._last_arrival
        self._last_arrival = now
        if last is not None:
            stats.arrival_intervals.add(now - last)
        payload_type = packet.payload_type
        payload = packet.payload
        if payload_type == source.dtmf_payload_type:
            out_type = target.dtmf_payload_type
            if out_type is None:
                stats.no_event_type += 1
                return
            samples = 0
            name = None
        else:
            codec = source.codec
            name = codec.name if payload_type == codec.payload_type else None
            name = name or _STATIC_PT.get(payload_type)
            if name is None:
                return  # the source stream counts it as an unknown payload type
            out_codec = target.codec
            if name != out_codec.name:
                payload = payload.translate(_TRANSLATE[name, out_codec.name])
                stats.transcoded += 1
            out_type = out_codec.payload_type
            samples = len(payload)
        if not target.sending:  # on hold: nothing to map, nothing sent
            stats.held += 1
            return
        marker = packet.marker
        offset = self._offset
        if offset is None or packet.ssrc != self._ssrc or not target.relayed:
            offset = self._restart(packet)
            marker = True
        else:
            drift = rtp.ts_delta((packet.timestamp + offset) & 0xFFFFFFFF, target.timestamp)
            if not -MAX_OFFSET_DRIFT < drift < MAX_OFFSET_DRIFT:  # the source jumped
                offset = self._restart(packet)
                marker = True
        timestamp = (packet.timestamp + offset) & 0xFFFFFFFF
        previous = target.last_send_at
        if not target.send_relayed(out_type, timestamp, payload, marker, samples, now):
            stats.held += 1
            return
        if samples:
            stats.relayed += 1
            tape = self.tape
            if tape is not None and name is not None:  # the source's payload, as it came
                tape.add(now, packet.timestamp, packet.ssrc, name, packet.payload)
            end = (timestamp + samples) & 0xFFFFFFFF
            if self._next_ts is None or rtp.ts_delta(end, self._next_ts) > 0:
                self._next_ts = end
        else:
            stats.events += 1
        if previous is not None:
            stats.send_intervals.add(now - previous)
        if self._stamp is not None:
            self._probe_count += 1
            if self._probe_count >= self._probe_every:
                self._probe_count = 0
                arrived = self._stamp.last()
                if arrived is not None:
                    stats.added_delay.add(time.time() - arrived)

    def _restart(self, packet: RtpMedia) -> int:
        """A new run of relayed packets: map the source's timestamp onto the target's, never
        behind what was already sent, so the receiver's timeline only moves forward."""
        start = self._target.timestamp
        if self._next_ts is not None and rtp.ts_delta(self._next_ts, start) > 0:
            start = self._next_ts
        self._offset = (start - packet.timestamp) & 0xFFFFFFFF
        self._ssrc = packet.ssrc
        self.stats.restarts += 1
        return self._offset


__all__ = ["Passthrough", "PassthroughStats"]
