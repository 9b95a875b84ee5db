"""The RFC 4733 event packets a stream sends for a digit, one per tick in place of audio."""

from __future__ import annotations

from collections import deque

from ivr.media import rtp
from ivr.media.codec import FRAME_MS, FRAME_SAMPLES
from ivr.media.dtmf import EVENT_DIGITS
from ivr.media.rtp import TelephoneEvent

EVENT_DURATION_MS = 160  # an RFC 4733 digit we send: 8 packets, then the end packet twice more


class OutgoingEvents(deque[tuple[TelephoneEvent, bool]]):
    """Queued event packets as (event, first packet of its digit). A deque itself, so that the
    clock's per-tick "any event to send?" stays a C-level truth test."""

    __slots__ = ("_event_ts",)

    def __init__(self) -> None:
        super().__init__()
        self._event_ts = 0  # every packet of one digit carries the timestamp of its first

    def add_digit(self, digit: str, duration_ms: int) -> bool:
        """Queue `digit` for `duration_ms` (one packet per 20 ms, the end packet three times);
        False, queueing nothing, when it is not an RFC 4733 digit."""
        code = EVENT_DIGITS.find(digit) if len(digit) == 1 else -1
        if code < 0:
            return False
        steps = max(1, duration_ms // FRAME_MS)
        for step in range(steps):
            end = step == steps - 1
            event = TelephoneEvent(code, end=end, duration=(step + 1) * FRAME_SAMPLES)
            for _ in range(3 if end else 1):
                self.append((event, step == 0))
        return True

    def next_packet(
        self, payload_type: int | None, sequence: int, timestamp: int, ssrc: int
    ) -> bytes:
        """The next queued packet, built with the stream's header fields (`timestamp` is the
        stream's current one, kept for the rest of the digit when this packet starts it)."""
        event, first = self.popleft()
        if first:
            self._event_ts = timestamp
        assert payload_type is not None  # send_digit queues nothing without it
        return rtp.build(payload_type, sequence, self._event_ts, ssrc, event.serialize(), first)
