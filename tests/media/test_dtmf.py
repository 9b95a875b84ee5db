"""RFC 4733 event tracking and in-band (Goertzel) DTMF detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivr.media.dtmf import COL_HZ, KEYPAD, ROW_HZ, EventTracker, GoertzelDetector, event_digit
from ivr.media.rtp import TelephoneEvent
from speech.audio import read_wav

RATE = 8000


def press(tracker: EventTracker, ts: int, code: int, packets: int = 5, ends: int = 3) -> list[str]:
    """The packets a phone sends for one keypress: starts with growing duration, then 3 ends."""
    seen = []
    for i in range(packets):
        digit = tracker.feed(ts, TelephoneEvent(code, duration=160 * (i + 1)))
        seen.append(digit)
    for _ in range(ends):
        seen.append(tracker.feed(ts, TelephoneEvent(code, end=True, duration=160 * packets)))
    return [d for d in seen if d is not None]


def test_event_codes_map_to_keypad() -> None:
    assert [event_digit(c) for c in range(16)] == list("0123456789*#ABCD")
    assert event_digit(16) is None
    assert event_digit(255) is None


def test_each_press_reported_once() -> None:
    tracker = EventTracker()
    digits = []
    for i, code in enumerate((1, 2, 2, 3, 11, 10)):
        digits += press(tracker, 1000 + i * 2000, code)
    assert "".join(digits) == "1223#*"


def test_end_packet_reports_when_start_was_lost() -> None:
    tracker = EventTracker()
    assert tracker.feed(500, TelephoneEvent(7, end=True, duration=800)) == "7"
    assert tracker.feed(500, TelephoneEvent(7, end=True, duration=800)) is None
    assert tracker.feed(500, TelephoneEvent(7, end=True, duration=800)) is None


def test_events_above_15_ignored() -> None:
    tracker = EventTracker()
    assert press(tracker, 100, 16) == []
    assert press(tracker, 900, 66) == []  # a fax tone event
    assert press(tracker, 1800, 5) == ["5"]


def test_timestamp_wrap_and_long_press_continuation() -> None:
    tracker = EventTracker()
    top = 0xFFFFFFFF - 100
    assert tracker.feed(top, TelephoneEvent(9, duration=65535)) == "9"
    # The same key still held: continued under a new timestamp across the 32-bit wrap.
    assert tracker.feed((top + 65535) & 0xFFFFFFFF, TelephoneEvent(9, duration=160)) is None
    assert tracker.feed((top + 65535) & 0xFFFFFFFF, TelephoneEvent(9, True, 10, 800)) is None
    # A fresh press after the release is a new digit.
    assert tracker.feed((top + 90000) & 0xFFFFFFFF, TelephoneEvent(9, duration=160)) == "9"


def tones(digit: str, ms: int, amp: float = 6000.0, twist_db: float = 0.0) -> np.ndarray:
    r = next(i for i, row in enumerate(KEYPAD) if digit in row)
    c = KEYPAD[r].index(digit)
    t = np.arange(RATE * ms // 1000) / RATE
    high = amp * 10 ** (twist_db / 20)
    return amp * np.sin(2 * np.pi * ROW_HZ[r] * t) + high * np.sin(2 * np.pi * COL_HZ[c] * t)


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def detect(pcm: bytes, detector: GoertzelDetector | None = None) -> str:
    detector = detector or GoertzelDetector()
    out = []
    for i in range(0, len(pcm), 320):  # as the stream delivers it: 20 ms frames
        out += detector.feed(pcm[i : i + 320])
    return "".join(out)


def sequence(digits: str, tone_ms: int = 80, gap_ms: int = 60, **kw: float) -> np.ndarray:
    parts = [np.zeros(53)]  # misalign tones with the 20 ms blocks
    for d in digits:
        parts += [tones(d, tone_ms, **kw), np.zeros(RATE * gap_ms // 1000)]
    return np.concatenate(parts)


@pytest.mark.parametrize("snr_db", [30.0, 15.0])
def test_all_sixteen_digits_in_noise(snr_db: float) -> None:
    clean = sequence("1234567890*#ABCD")
    rng = np.random.default_rng(7)
    noise_rms = 6000 / 10 ** (snr_db / 20)  # relative to each tone's amplitude
    assert detect(to_pcm(clean + rng.normal(0, noise_rms, len(clean)))) == "1234567890*#ABCD"


def test_twist_limits() -> None:
    assert detect(to_pcm(sequence("5", twist_db=-6.0))) == "5"  # low tone 6 dB louder: a line
    assert detect(to_pcm(sequence("5", twist_db=3.0))) == "5"
    assert detect(to_pcm(sequence("5", twist_db=-12.0))) == ""
    assert detect(to_pcm(sequence("5", twist_db=8.0))) == ""


def test_minimum_duration_and_gap() -> None:
    assert detect(to_pcm(sequence("8", tone_ms=20))) == ""  # a 20 ms blip is no keypress
    # The same digit twice with a proper gap counts twice; a 10 ms dropout does not split one.
    assert detect(to_pcm(sequence("88", tone_ms=100, gap_ms=80))) == "88"
    held = np.concatenate([tones("8", 100), np.zeros(80), tones("8", 100)])
    assert detect(to_pcm(held)) == "8"


def test_single_tone_and_quiet_tones_rejected() -> None:
    t = np.arange(RATE) / RATE
    assert detect(to_pcm(6000 * np.sin(2 * np.pi * 941 * t))) == ""
    assert detect(to_pcm(sequence("3", amp=100.0))) == ""


def test_blocks_split_across_feeds() -> None:
    pcm = to_pcm(sequence("42"))
    detector = GoertzelDetector()
    out = []
    for i in range(0, len(pcm), 98):  # odd sizes, even splitting a sample
        out += detector.feed(pcm[i : i + 98])
    assert "".join(out) == "42"


def test_no_false_digits_on_speech(speech_dir: Path) -> None:
    calls = sorted(speech_dir.glob("call8k_*.wav")) + sorted(speech_dir.glob("radio8k_*.wav"))
    assert calls, f"no call8k_*.wav in {speech_dir}"
    for path in calls:
        pcm, _ = read_wav(path, RATE)
        assert detect(pcm) == "", path.name


def test_digits_found_over_speech(speech_dir: Path) -> None:
    speech, _ = read_wav(speech_dir / "call8k_1.wav", RATE)
    voice = np.frombuffer(speech, dtype="<i2").astype(np.float64)[: RATE * 2]
    keys = sequence("709", tone_ms=100, gap_ms=200)
    mixed = voice[: len(keys)] * 0.2 + keys[: len(voice)]
    assert detect(to_pcm(mixed)) == "709"


def test_different_keys_under_one_timestamp() -> None:
    # A gateway that reuses the talk-spurt timestamp for every key still yields every key.
    tracker = EventTracker()
    assert press(tracker, 4000, 4) + press(tracker, 4000, 2) == ["4", "2"]


def test_same_key_again_after_lost_end_packets() -> None:
    tracker = EventTracker()
    # First press: start packets only (its end packets were lost), 100 ms long.
    assert press(tracker, 8000, 6, packets=5, ends=0) == ["6"]
    # The same key 120 ms later is a second press, not a continuation.
    assert press(tracker, 8000 + 960, 6) == ["6"]
