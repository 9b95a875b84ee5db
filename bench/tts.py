"""First-audio latency of dynamic spoken answers (a dossier status with dates), cold and warm.

Prints p50/p95 in milliseconds of the time from asking for an answer to holding its first audio
(what decides how long the caller hears silence), and of the whole answer, for:

- whole sentence: the full answer synthesised in one piece, no cache;
- cold cache: the answer streamed as fragments with an empty cache;
- warm cache: the static fragments pre-rendered (as at publish), dynamic ones rendered live;

with espeak-ng, and with the default chain (gTTS, falling back to espeak-ng when unreachable).
Goal from the issue: p95 first audio <= 300 ms.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speech.espeak_engine import EspeakSynthesizer
from speech.normalize import speakable
from speech.prompt_cache import PromptCache
from speech.settings import SpeechSettings
from speech.tts import Synthesizer, build_synthesizer

ANSWERS = 20
LEAD_IN = "Thông tin hồ sơ ông bà tra cứu như sau."
STATUSES = [
    "Mới đăng ký",
    "Được tiếp nhận",
    "Không được tiếp nhận",
    "Đang xử lý",
    "Yêu cầu bổ sung giấy tờ",
    "Yêu cầu thực hiện nghĩa vụ tài chính",
    "Công dân yêu cầu rút hồ sơ",
    "Dừng xử lý",
    "Đã xử lý xong",
    "Đã trả kết quả",
]


def answers(rng: random.Random, n: int) -> list[list[str]]:
    """Status answers with random codes and dates, as fragments in speaking order."""
    out = []
    for _ in range(n):
        day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.choice([2021, 2022, 2026])
        received = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        code = f"000.00.{rng.randint(10, 99)}.H56-{received}-{rng.randint(1, 9999):04d}"
        out.append(
            [
                LEAD_IN,
                f"Mã hồ sơ {code}.",
                f"Tình trạng: {rng.choice(STATUSES)}.",
                f"Ngày hẹn trả kết quả: {day}/{month}/{year}.",
            ]
        )
    return out


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(label: str, first: list[float], whole: list[float]) -> None:
    print(
        f"{label:<38} first audio p50 {pct(first, 0.5) * 1000:7.1f} ms"
        f"  p95 {pct(first, 0.95) * 1000:7.1f} ms | whole answer p50 "
        f"{pct(whole, 0.5) * 1000:7.1f} ms  p95 {pct(whole, 0.95) * 1000:7.1f} ms"
    )


async def streamed(cache: PromptCache, parts: list[str]) -> tuple[float, float, float]:
    """Time to the first fragment, to the whole answer, and playback stalls (seconds).

    A stall is silence in the middle of the answer: a fragment not ready when the previous one
    (played in real time from its arrival) has finished.
    """
    started = time.perf_counter()
    first = 0.0
    play_end = 0.0
    stall = 0.0
    async for audio in cache.stream_parts(parts):
        ready = time.perf_counter() - started
        if not first:
            first = play_end = ready
        stall += max(0.0, ready - play_end)
        play_end = max(play_end, ready) + audio.duration_s
    return first, time.perf_counter() - started, stall


async def bench_engine(label: str, make: Callable[[], Synthesizer]) -> None:
    rng = random.Random(2021)
    batch = answers(rng, ANSWERS)

    synth = make()
    first, whole = [], []
    for parts in batch:
        text = speakable(" ".join(parts))
        started = time.perf_counter()
        await synth.synthesize(text)
        elapsed = time.perf_counter() - started
        first.append(elapsed)
        whole.append(elapsed)
    report(f"{label}: whole sentence", first, whole)

    first, whole = [], []
    for parts in batch:
        with tempfile.TemporaryDirectory() as tmp:
            # A fresh cache, but the engine lives on as in a running worker.
            cache = PromptCache(synth, Path(tmp))
            f, w, _ = await streamed(cache, parts)
        first.append(f)
        whole.append(w)
    report(f"{label}: cold cache", first, whole)

    with tempfile.TemporaryDirectory() as tmp:
        cache = PromptCache(make(), Path(tmp))
        statics = [LEAD_IN, *(f"Tình trạng: {s}." for s in STATUSES)]
        started = time.perf_counter()
        await cache.prerender(statics)
        publish_s = time.perf_counter() - started
        first, whole, stalls = [], [], []
        for parts in answers(random.Random(14198), ANSWERS):  # codes and dates not seen yet
            f, w, stall = await streamed(cache, parts)
            first.append(f)
            whole.append(w)
            stalls.append(stall)
        report(f"{label}: warm cache", first, whole)
        print(
            f"{'':<38} mid-answer silence while fragments render, max: {max(stalls) * 1000:.1f} ms"
        )
        print(f"{'':<38} pre-render of {len(statics)} static prompts: {publish_s * 1000:.0f} ms")


async def main() -> None:
    settings = SpeechSettings()
    runs: list[tuple[str, Callable[[], Synthesizer]]] = [
        ("espeak-ng", EspeakSynthesizer),
        ("gtts>espeak-ng", lambda: build_synthesizer(settings)),
    ]
    print(f"first-audio latency of dynamic answers, {ANSWERS} answers per row, 8000 Hz")
    for label, make in runs:
        await bench_engine(label, make)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.ERROR)  # the fallback warns once per engine: not a figure
    asyncio.run(main())
