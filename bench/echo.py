"""Echo guard figures: false barge-ins per minute of echoed prompt, barge-in latency of real
callers talking over a prompt, and the guard's cost per 20 ms frame.

Every static prompt of the default tree is rendered by espeak-ng and fed back as echo (band
limited to 300-3400 Hz, 20-250 ms late, -10 to -30 dB) over line noise; the recordings of the
test material (at -26 dBFS while active) talk over the greeting from several moments on.
Prints figures, asserts nothing.

    .venv/bin/python bench/echo.py [--prompts N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from menus.loader import read_file
from menus.model import MenuTree
from speech.audio import read_wav
from speech.echo_guard import EchoGuard, EchoReference
from speech.espeak_engine import EspeakSynthesizer
from speech.prompt_audio import static_texts
from speech.vad import SpeechDetector
from tests.speech_voice.echo_streams import RATE, echo_of, line_noise, mix, run
from tests.support import testdata_dir

ROOT = Path(__file__).resolve().parent.parent
DELAYS_MS = (20, 80, 150, 250)
LEVELS_DB = (-10, -20, -30)
CALLERS = ("call8k_1.wav", "call8k_2.wav", "call8k_3.wav", "call8k_4.wav", "call8k_5.wav",
           "radio8k_1.wav", "clip16k_3.wav", "clip16k_4.wav")  # fmt: skip
STARTS_S = (0.5, 1.0, 1.5, 3.0)


async def render(texts: list[str]) -> list[np.ndarray]:
    engine = EspeakSynthesizer()
    return [np.frombuffer((await engine.synthesize(t)).pcm, dtype="<i2").astype(float)
            for t in texts]  # fmt: skip


def false_barge_ins(prompts: list[np.ndarray]) -> None:
    print(f"{'delay ms':>9}{'level dB':>9}{'minutes':>9}{'guarded /min':>14}{'bare /min':>11}")
    for delay in DELAYS_MS:
        for level in LEVELS_DB:
            seconds = guarded = bare = 0.0
            for prompt in prompts:
                stream = mix((echo_of(prompt, delay_ms=delay, level_db=level), 0),
                             (line_noise(prompt.size + RATE), 0))  # fmt: skip
                seconds += stream.size / RATE
                guarded += len(run(stream, prompt).onsets_s)
                bare += len(run(stream, prompt, guarded=False).onsets_s)
            minutes = seconds / 60
            print(f"{delay:>9}{level:>9}{minutes:>9.1f}{guarded / minutes:>14.2f}"
                  f"{bare / minutes:>11.2f}")  # fmt: skip


def latencies(prompt: np.ndarray, speech: Path) -> None:
    print(f"{'caller starts s':>16}{'detected':>10}{'median ms':>11}{'p95 ms':>8}{'max ms':>8}")
    for start_s in STARTS_S:
        found: list[float] = []
        total = 0
        for name in CALLERS:
            pcm, _ = read_wav(speech / name, RATE)
            caller = np.frombuffer(pcm, dtype="<i2").astype(float)
            active = caller[np.abs(caller) > 0.05 * np.abs(caller).max()]
            caller *= 32768 * 10 ** (-26 / 20) / np.sqrt(np.mean(active**2))
            start = int(start_s * RATE)
            onset = run(mix((line_noise(start + caller.size), 0), (caller, start)), None)
            for delay in DELAYS_MS:
                for level in LEVELS_DB:
                    total += 1
                    stream = mix((echo_of(prompt, delay_ms=delay, level_db=level), 0),
                                 (line_noise(prompt.size + RATE), 0), (caller, start))  # fmt: skip
                    heard = run(stream, prompt).onsets_s
                    if heard:
                        found.append((heard[0] - onset.onsets_s[0]) * 1000)
        ordered = sorted(found)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0
        median = ordered[len(ordered) // 2] if ordered else 0.0
        print(f"{start_s:>16.1f}{len(found):>5}/{total:<4}{median:>11.0f}{p95:>8.0f}"
              f"{(ordered[-1] if ordered else 0):>8.0f}")  # fmt: skip


def cost(prompt: np.ndarray) -> None:
    t = [0.0]
    reference = EchoReference(clock=lambda: t[0])
    reference.playing(prompt.astype("<i2").tobytes(), at=0.0)
    guard = EchoGuard(SpeechDetector(), reference, clock=lambda: t[0])
    bare = SpeechDetector()
    stream = mix((echo_of(prompt, delay_ms=150, level_db=-20), 0), (line_noise(prompt.size), 0))
    frames = [stream[i : i + 160].astype("<i2").tobytes() for i in range(0, stream.size - 159, 160)]
    started = time.perf_counter()
    for i, frame in enumerate(frames):
        t[0] = (i + 1) * 0.02
        guard.feed(frame)
    guarded_us = (time.perf_counter() - started) / len(frames) * 1e6
    started = time.perf_counter()
    for frame in frames:
        bare.feed(frame)
    bare_us = (time.perf_counter() - started) / len(frames) * 1e6
    print(
        f"cost per 20 ms frame: guard and detector {guarded_us:.0f} us, detector alone "
        f"{bare_us:.0f} us ({(guarded_us - bare_us) / 20000:.2%} of a core per listening call)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prompts", type=int, default=0, help="only the first N static prompts")
    args = parser.parse_args()
    tree = MenuTree.from_dict(read_file(ROOT / "config" / "menus" / "hotline.yaml"))
    texts = sorted(static_texts(tree))
    if args.prompts:
        texts = texts[: args.prompts]
    prompts = asyncio.run(render(texts))
    print(f"{len(prompts)} static prompts, {sum(p.size for p in prompts) / RATE / 60:.1f} min")
    false_barge_ins(prompts)
    latencies(prompts[0], testdata_dir() / "speech")
    cost(prompts[0])


if __name__ == "__main__":
    main()
