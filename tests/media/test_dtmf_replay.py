"""RFC 4733 events replayed with their original timestamps (sipp pcaps, some gateways)."""

from __future__ import annotations

from ivr.media.dtmf import EventTracker
from ivr.media.rtp import TelephoneEvent


def _press(tracker: EventTracker, ts: int, code: int, start: float) -> list[str]:
    """One keypress: start packets every 20 ms, then three end packets at once."""
    out = []
    for i in range(5):
        out.append(tracker.feed(ts, TelephoneEvent(code, False, 10, 160 * i), start + 0.02 * i))
    for _ in range(3):
        out.append(tracker.feed(ts, TelephoneEvent(code, True, 10, 800), start + 0.1))
    return [d for d in out if d is not None]


def test_replayed_keypress_after_a_pause_is_a_new_press() -> None:
    tracker = EventTracker()
    digits = _press(tracker, 17632, 0, 0.0) + _press(tracker, 17632, 0, 0.5)
    assert digits == ["0", "0"]


def test_end_retransmissions_are_still_one_press() -> None:
    tracker = EventTracker()
    assert _press(tracker, 1000, 5, 0.0) == ["5"]
    # a straggling end packet 40 ms later is the same press
    assert tracker.feed(1000, TelephoneEvent(5, True, 10, 800), 0.14) is None


def test_without_arrival_times_the_timestamp_decides() -> None:
    tracker = EventTracker()
    assert tracker.feed(7, TelephoneEvent(1, True, 10, 800)) == "1"
    assert tracker.feed(7, TelephoneEvent(1, True, 10, 800)) is None
