"""Echo guard (issue 12): our own prompts coming back as echo at 20-250 ms and -10 to -30 dB
never start speech barge-in, while real callers talking over a prompt still do.

The prompts are rendered by espeak-ng; the callers are the real telephone and radio recordings
of the test material, at the nominal speech level of a telephone line (-26 dBFS while active)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from speech.audio import read_wav
from speech.echo_guard import ENERGY_CACHE_SIZE, EchoGuard, EchoReference, running_energy
from speech.espeak_engine import EspeakSynthesizer
from speech.vad import SpeechDetector
from tests.speech_voice.echo_streams import RATE, echo_of, line_noise, mix, run

PROMPTS = (
    "Tổng đài dịch vụ công xin kính chào quý vị. Cuộc gọi này sẽ được ghi âm.",
    "Để tra cứu tình trạng hồ sơ, xin nhấn phím 1 hoặc nói hồ sơ. Để gặp cán bộ, nhấn phím 0.",
    "Hồ sơ số 2 5, 0 3, 0 3, 9 0, 0 4 đang được xử lý, hẹn trả ngày 16 tháng 12 năm 2025.",
)
DELAYS_MS = (20, 80, 150, 250)
LEVELS_DB = (-10, -20, -30)
CALLERS = ("call8k_1.wav", "call8k_2.wav", "call8k_3.wav", "call8k_4.wav", "radio8k_1.wav")
CALLER_START_S = 1.5


@pytest.fixture(scope="module")
def prompts() -> Iterator[list[np.ndarray]]:
    engine = EspeakSynthesizer()

    async def render() -> list[np.ndarray]:
        return [
            np.frombuffer((await engine.synthesize(t)).pcm, dtype="<i2").astype(np.float64)
            for t in PROMPTS
        ]

    yield asyncio.run(render())


def at_line_level(caller: np.ndarray, dbfs: float = -26.0) -> np.ndarray:
    active = caller[np.abs(caller) > 0.05 * np.abs(caller).max()]
    scaled: np.ndarray = caller * (32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(active**2)))
    return scaled


@pytest.mark.parametrize("delay_ms", DELAYS_MS)
@pytest.mark.parametrize("level_db", LEVELS_DB)
def test_echo_of_our_prompt_never_barges_in(
    prompts: list[np.ndarray], delay_ms: int, level_db: int
) -> None:
    for prompt in prompts:
        stream = mix(
            (echo_of(prompt, delay_ms=delay_ms, level_db=level_db), 0),
            (line_noise(prompt.size + RATE), 0),
        )
        guarded = run(stream, prompt)
        assert guarded.onsets_s == [], f"false barge-in at {guarded.onsets_s}"
        assert guarded.echo_frames > 0.5 * prompt.size / 160  # the guard did the work ...
        assert run(stream, prompt, guarded=False).onsets_s  # ... the bare detector fires


def test_callers_over_a_prompt_barge_in(prompts: list[np.ndarray], speech_dir: Path) -> None:
    latencies: list[float] = []
    for name in CALLERS:
        pcm, _ = read_wav(speech_dir / name, RATE)
        caller = at_line_level(np.frombuffer(pcm, dtype="<i2").astype(np.float64))
        start = int(CALLER_START_S * RATE)
        alone = run(mix((line_noise(start + caller.size), 0), (caller, start)), None)
        onset = alone.onsets_s[0]  # where the bare detector hears the caller start
        for delay_ms, level_db in ((20, -10), (150, -10), (250, -10), (150, -20), (250, -30)):
            prompt = prompts[0]
            stream = mix(
                (echo_of(prompt, delay_ms=delay_ms, level_db=level_db), 0),
                (line_noise(prompt.size + RATE), 0),
                (caller, start),
            )
            heard = run(stream, prompt).onsets_s
            assert heard, f"{name} at {delay_ms} ms, {level_db} dB: barge-in missed"
            assert heard[0] >= onset - 0.02, f"{name}: barge-in before the caller spoke"
            latencies.append(heard[0] - onset)
    ordered = sorted(latencies)
    print(f"barge-in latency over echo: median {ordered[len(ordered) // 2] * 1000:.0f} ms, "
          f"max {ordered[-1] * 1000:.0f} ms")  # fmt: skip
    within = sum(lat <= 0.3 for lat in latencies) / len(latencies)
    assert within >= 0.9, f"only {within:.0%} of barge-ins within 300 ms: {latencies}"


def test_the_echo_path_is_learned_and_kept_for_the_call(prompts: list[np.ndarray]) -> None:
    t = [0.0]
    reference = EchoReference(clock=lambda: t[0])
    prompt = prompts[1]
    reference.playing(prompt.astype("<i2").tobytes(), at=0.0)
    stream = mix((echo_of(prompt, delay_ms=150, level_db=-20), 0), (line_noise(prompt.size), 0))
    guard = EchoGuard(SpeechDetector(), reference, clock=lambda: t[0])
    pcm = stream.astype("<i2")
    for i in range(pcm.size // 160):
        t[0] = (i + 1) * 160 / RATE
        guard.feed(pcm[i * 160 : (i + 1) * 160].tobytes())
    assert reference.path is not None
    learned = reference.path.bound_db()
    assert learned is not None
    delay_index, offset_db = learned
    assert abs(delay_index * 5 - 150) <= 10  # the echo's delay, to 10 ms
    assert -20 < offset_db < -10  # the echo's level, with its spread
    # the next question's guard starts from what this one learned
    assert EchoGuard(SpeechDetector(), reference).reference.path is reference.path


def test_calls_playing_the_same_prompt_share_its_energy() -> None:
    rng = np.random.default_rng(7)
    prompt = rng.integers(-20000, 20000, 8000, dtype="<i2").tobytes()
    first, second = EchoReference(), EchoReference()
    first.playing(prompt, at=0.0)
    second.playing(prompt, at=5.0)
    energy = running_energy(prompt)
    samples = np.frombuffer(prompt, dtype="<i2").astype(np.float64)
    assert np.array_equal(energy, np.concatenate(([0.0], np.cumsum(samples * samples))))
    assert running_energy(bytes(prompt)) is energy  # equal audio: the one array
    assert not energy.flags.writeable  # shared: no call may change it
    # both references read the same prompt energy at the same point of their playback
    delays = np.array([0, 160, 800])
    assert np.array_equal(first.energies(delays, now=0.5), second.energies(delays, now=5.5))
    # other prompts in between: the most recently played stays, the oldest goes
    for n in range(ENERGY_CACHE_SIZE):
        running_energy(bytes([n % 256, 1]) * 400)
        running_energy(prompt)
    assert running_energy(prompt) is energy
