"""Voice activity detection on the real recordings, on noise and on silence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speech.audio import read_wav
from speech.vad import (
    Endpoint,
    Endpointer,
    EndReason,
    InvalidFrame,
    SpeechDetector,
    VadConfig,
    VadEvent,
    VadEventKind,
    frame_features,
)

RATE = 8000
FRAME = 320  # 20 ms at 8 kHz
CLIPS = sorted(
    [
        "call8k_1.wav", "call8k_2.wav", "call8k_3.wav", "call8k_4.wav", "call8k_5.wav",
        "radio8k_1.wav", "clip16k_1.wav", "clip16k_3.wav", "lecture16k_00000063.wav",
        "report16k_7.wav",
    ]
)  # fmt: skip


def _noise(seconds: float, sigma: float, seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, sigma, int(seconds * RATE))
    return bytes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())


def _frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]


def _energy_bounds_s(frames: list[bytes]) -> tuple[float, float]:
    """Start of the first and end of the last frame within 30 dB of the loudest one: speech
    bounds found independently of the detector."""
    energies = [frame_features(f)[0] for f in frames]
    peak = max(energies)
    loud = [i for i, e in enumerate(energies) if e > peak - 30]
    return loud[0] * FRAME / 2 / RATE, (loud[-1] + 1) * FRAME / 2 / RATE


@pytest.mark.parametrize("clip", CLIPS)
def test_speech_start_and_end_on_real_recordings(speech_dir: Path, clip: str) -> None:
    speech, _ = read_wav(speech_dir / clip, RATE)
    lead, trail = _noise(0.5, 30.0), _noise(1.5, 30.0, seed=8)
    frames = _frames(lead + speech + trail)
    detector = SpeechDetector()
    events: list[tuple[VadEvent, float]] = []
    for frame in frames:
        event = detector.feed(frame)
        if event is not None:
            events.append((event, detector.position_s))
    onset, offset = _energy_bounds_s(frames)
    first, reported_at = events[0]
    assert first.kind is VadEventKind.SPEECH_START
    assert abs(first.at_s - onset) <= 0.2
    assert reported_at - onset <= 0.2  # soon enough to stop a prompt (barge-in)
    last, _ = events[-1]
    assert last.kind is VadEventKind.SPEECH_END
    assert abs(last.at_s - offset) <= 0.25
    assert not detector.in_speech


@pytest.mark.parametrize(
    ("name", "pcm"),
    [
        ("digital silence", bytes(RATE * 2 * 3)),
        ("quiet hiss", _noise(3.0, 30.0)),
        ("loud hiss", _noise(3.0, 3000.0)),
        (
            "mains hum with hiss",
            bytes(
                (
                    np.sin(2 * np.pi * 50 * np.arange(3 * RATE) / RATE) * 2000
                    + np.random.default_rng(3).normal(0, 100, 3 * RATE)
                )
                .astype("<i2")
                .tobytes()
            ),
        ),
    ],
)
def test_silence_and_steady_noise_never_start(name: str, pcm: bytes) -> None:
    detector = SpeechDetector()
    events = [e for f in _frames(pcm) if (e := detector.feed(f)) is not None]
    assert events == [], name


def test_endpointer_ends_after_trailing_silence(speech_dir: Path) -> None:
    speech, _ = read_wav(speech_dir / "call8k_1.wav", RATE)
    endpointer = Endpointer(SpeechDetector(), no_input_timeout_s=5.0, max_utterance_s=10.0)
    outputs = [
        o for f in _frames(_noise(0.4, 30) + speech + _noise(2.0, 30)) if (o := endpointer.feed(f))
    ]
    assert isinstance(outputs[0], VadEvent) and outputs[0].kind is VadEventKind.SPEECH_START
    end = outputs[-1]
    assert isinstance(end, Endpoint) and end.reason is EndReason.SPEECH_END
    assert end.speech_start_s == outputs[0].at_s
    assert len(outputs) == 2
    assert endpointer.feed(bytes(FRAME)) is None  # the turn is over


def test_endpointer_no_input_timeout() -> None:
    endpointer = Endpointer(SpeechDetector(), no_input_timeout_s=1.0, max_utterance_s=10.0)
    outputs = [o for f in _frames(_noise(2.0, 30)) if (o := endpointer.feed(f))]
    assert len(outputs) == 1
    end = outputs[0]
    assert isinstance(end, Endpoint) and end.reason is EndReason.NO_INPUT
    assert end.at_s == pytest.approx(1.0) and end.speech_start_s is None


def test_endpointer_cuts_a_long_utterance(speech_dir: Path) -> None:
    speech, _ = read_wav(speech_dir / "call8k_4.wav", RATE)
    endpointer = Endpointer(SpeechDetector(), no_input_timeout_s=5.0, max_utterance_s=2.0)
    outputs = [o for f in _frames(_noise(0.3, 30) + speech) if (o := endpointer.feed(f))]
    end = outputs[-1]
    assert isinstance(end, Endpoint) and end.reason is EndReason.MAX_LENGTH
    assert end.speech_start_s is not None
    assert end.at_s - end.speech_start_s == pytest.approx(2.0, abs=0.03)


def test_bad_frames_and_settings_are_refused() -> None:
    detector = SpeechDetector()
    with pytest.raises(InvalidFrame):
        detector.feed(b"\x00\x01\x02")
    with pytest.raises(InvalidFrame):
        detector.feed(b"")
    with pytest.raises(ValueError):
        VadConfig(end_silence_ms=0)
    with pytest.raises(ValueError):
        Endpointer(detector, no_input_timeout_s=0, max_utterance_s=1)


def test_reset_forgets_the_noise_floor() -> None:
    detector = SpeechDetector()
    for frame in _frames(_noise(0.5, 30)):
        detector.feed(frame)
    assert detector.noise_floor_dbfs is not None
    detector.reset()
    assert detector.noise_floor_dbfs is None and detector.position_s == 0.0


def test_pause_s_counts_quiet_within_an_utterance_only(speech_dir: Path) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_1.wav", rate=RATE)
    detector = SpeechDetector()
    for frame in _frames(bytes(RATE // 2 * 2)):  # half a second of silence first
        detector.feed(frame)
        assert detector.pause_s == 0.0  # no utterance yet: nothing to pause
    longest = 0.0
    resumed = False
    for frame in _frames(pcm):
        before = detector.pause_s
        detector.feed(frame)
        longest = max(longest, detector.pause_s)
        resumed = resumed or (before >= 0.3 and detector.pause_s == 0.0)
    # "tám bảy lăm ba ... năm sáu bốn bảy": a pause of about half a second, then speech again
    assert 0.3 <= longest < 0.7
    assert resumed
    for frame in _frames(bytes(RATE * 2)):  # trailing silence ends the utterance
        detector.feed(frame)
    assert not detector.in_speech and detector.pause_s == 0.0
