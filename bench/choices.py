"""Spoken-choice accuracy on the real recordings, with and without the bias towards the options
on offer (speech.ctc_bias); transcripts' word error rate alone, batched and in noise.

1. Transcripts: every clip of the speech test material as a caller's line carries it (8 kHz,
   A-law encoded and decoded), decoded alone and all at once with chunks batched across
   streams, and again followed by 1.5 s of line hiss with and without skipping silent chunks;
   word error rate against the manifest's transcript and against the plain decode, chunks run
   and skipped, CPU seconds per audio second.
2. Choices: each clip is a caller's answer; the menu offers a phrase the clip says (two words
   of its manifest transcript, at its start, middle and end) and three phrases of other clips.
   The transcript is matched as the dialog does (speech.understand.match_choice): the right
   option (taken, or offered for confirmation), a wrong one, or none. Negatives: the same clip
   against a menu of four phrases it does not say, where any pick is false. On a clean line,
   and with white noise at 10 dB and 0 dB SNR; greedy transcripts, then rescored towards the
   menu's phrases with each ``--bonus``.

The manifest's transcripts come from one recogniser, not a human: read the error rates as
distances from it, and the clean-line accuracy as an upper figure (its phrases are what a
recogniser heard).

    .venv/bin/python bench/choices.py [--bonus 1 2 3] [--snr 10 0]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.g711 import alaw_decode, alaw_encode  # noqa: E402
from speech.audio import read_wav, resample  # noqa: E402
from speech.understand import match_choice  # noqa: E402
from speech.vietasr_onnx import (  # noqa: E402
    MODEL_RATE,
    SKIP_SILENCE_DB,
    OnnxVietAsrModel,
    OnnxVietAsrStream,
)

LINE_RATE = 8000
NEGATIVE_MENUS = 3  # per clip
CHUNK = MODEL_RATE * 2 // 10  # 100 ms of 16-bit samples, as sessions feed the model
SPEECH_DIR = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata")) / (
    "speech"
)


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions (Levenshtein distance over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def wer(pairs: Sequence[tuple[str, str]]) -> float:
    """Word error rate of (reference, hypothesis) pairs, pooled."""
    words = sum(len(r.split()) for r, _ in pairs)
    errors = sum(word_errors(r.split(), h.split()) for r, h in pairs)
    return errors / words if words else 0.0


def manifest() -> dict[str, str]:
    rows = (SPEECH_DIR / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return {r.split("\t")[0]: r.split("\t")[4] for r in rows if r.strip()}


def line(path: Path) -> np.ndarray:
    """The clip as the line carries it: 8 kHz, A-law encoded and decoded."""
    pcm, _ = read_wav(path, LINE_RATE)
    return np.frombuffer(alaw_decode(alaw_encode(pcm)), dtype="<i2").astype(np.float64)


def with_noise(samples: np.ndarray, snr_db: float | None, seed: int) -> bytes:
    """16 kHz PCM of ``samples`` (8 kHz) with white noise at ``snr_db`` of its mean power."""
    noisy = samples
    if snr_db is not None:
        power = float(np.mean(samples**2))
        noise = np.random.default_rng(seed).standard_normal(len(samples))
        noisy = samples + noise * np.sqrt(power / 10 ** (snr_db / 10))
    pcm = np.clip(np.round(noisy), -32768, 32767).astype("<i2").tobytes()
    return resample(pcm, LINE_RATE, MODEL_RATE)


@dataclass
class Decoded:
    text: str
    scores: np.ndarray  # frames x tokens, log-probabilities


def decode(model: OnnxVietAsrModel, pcm: bytes) -> Decoded:
    """One utterance fed in 100 ms pieces, as a session does; its log-probabilities kept."""
    stream = OnnxVietAsrStream(model, keep_scores=True)
    for i in range(0, len(pcm), CHUNK):
        stream.accept(np.frombuffer(pcm[i : i + CHUNK], dtype="<i2"))
    text = stream.final().text
    return Decoded(text, stream.scores())


def with_hiss(samples: np.ndarray, after_s: float, seed: int) -> np.ndarray:
    """``samples`` (8 kHz) followed by ``after_s`` of line hiss at -60 dBFS, all of it under
    that hiss: what a session decodes until the detector's trailing silence ends the turn."""
    rng = np.random.default_rng(seed)
    padded = np.concatenate([samples, np.zeros(int(LINE_RATE * after_s))])
    hissed = padded + rng.standard_normal(len(padded)) * 32768 * 10 ** (-60 / 20)
    pcm = np.clip(np.round(hissed), -32768, 32767).astype("<i2").tobytes()
    return np.frombuffer(alaw_decode(alaw_encode(pcm)), dtype="<i2").astype(np.float64)


@dataclass
class Variant:
    texts: dict[str, str]
    cpu_s: float
    decoded: int
    skipped: int


def run_variant(
    model: OnnxVietAsrModel, audio: dict[str, bytes], *, batched: bool, skip_db: float | None
) -> Variant:
    """Every clip decoded: one after another, or all at once with chunks batched."""
    model.skip_below = None if skip_db is None else skip_db * np.log(10) / 10
    if batched:
        model.configure(max_batch=16, concurrency=2, bias_bonus=model.bias_bonus)
    streams: list[OnnxVietAsrStream] = []

    def one(pcm: bytes) -> str:
        stream = OnnxVietAsrStream(model)
        streams.append(stream)
        for i in range(0, len(pcm), CHUNK):
            stream.accept(np.frombuffer(pcm[i : i + CHUNK], dtype="<i2"))
        return str(stream.final().text)

    started = time.process_time()
    if batched:
        with ThreadPoolExecutor(len(audio)) as pool:
            texts = list(pool.map(one, audio.values()))
    else:
        texts = [one(pcm) for pcm in audio.values()]
    cpu = time.process_time() - started
    model.configure(max_batch=1, concurrency=1, bias_bonus=model.bias_bonus)
    model.skip_below = SKIP_SILENCE_DB * np.log(10) / 10
    return Variant(
        dict(zip(audio, texts, strict=True)),
        cpu,
        sum(s.decoded for s in streams),
        sum(s.skipped for s in streams),
    )


def transcripts(model: OnnxVietAsrModel, clips: list[Path], reference: dict[str, str]) -> None:
    plain = {p.name: with_noise(line(p), None, 0) for p in clips}
    hissed = {p.name: with_noise(with_hiss(line(p), 1.5, i), None, 0) for i, p in enumerate(clips)}
    base = run_variant(model, plain, batched=False, skip_db=None)
    rows = [
        ("clips, alone", plain, base),
        (
            "clips, all at once, batched",
            plain,
            run_variant(model, plain, batched=True, skip_db=None),
        ),
    ]
    hiss_base = run_variant(model, hissed, batched=False, skip_db=None)
    rows += [
        ("+1.5 s hiss, alone", hissed, hiss_base),
        (
            f"+1.5 s hiss, skip < -{SKIP_SILENCE_DB:g} dB",
            hissed,
            run_variant(model, hissed, batched=False, skip_db=SKIP_SILENCE_DB),
        ),
        (
            "+1.5 s hiss, skip, batched",
            hissed,
            run_variant(model, hissed, batched=True, skip_db=SKIP_SILENCE_DB),
        ),
    ]
    print(f"\n## Transcripts of {len(clips)} clips on the line (8 kHz, A-law)")
    print(
        f"{'':32} {'audio s':>8} {'WER vs manifest':>16} {'vs first of kind':>17} "
        f"{'differ':>7} {'chunks run':>11} {'skipped':>8} {'cpuRTF':>7}"
    )
    for label, audio, variant in rows:
        first = base if audio is plain else hiss_base
        seconds = sum(len(p) / 2 / MODEL_RATE for p in audio.values())
        texts = variant.texts
        differ = sum(texts[n] != first.texts[n] for n in texts)
        print(
            f"{label:32} {seconds:8.1f} "
            f"{100 * wer([(reference[n], t) for n, t in texts.items()]):15.1f}% "
            f"{100 * wer([(first.texts[n], texts[n]) for n in texts]):16.1f}% "
            f"{differ:3} / {len(texts):<2} {variant.decoded:11} {variant.skipped:8} "
            f"{variant.cpu_s / seconds:7.3f}"
        )
    print(
        "(batched: all clips decoded at once in threads, up to 16 chunks per model call, 2 calls "
        "at once; skip: chunks whose every frame is that far below the utterance's loudest are "
        "not decoded; vs first of kind: word differences from the first row of the same audio)"
    )


@dataclass
class Tally:
    right: int = 0
    confirm: int = 0  # right, but the dialog would ask to confirm
    wrong: int = 0
    none: int = 0
    false_picks: int = 0
    false_taken: int = 0  # of those, taken without a confirmation
    negatives: int = 0
    spliced: int = 0
    ms: list[float] = field(default_factory=list)

    @property
    def trials(self) -> int:
        return self.right + self.wrong + self.none


def phrases_of(text: str) -> list[str]:
    """Two-word phrases at the start, the middle and the end of a transcript."""
    words = text.split()
    if len(words) < 2:
        return [text] if text else []
    picks = sorted({0, (len(words) - 2) // 2, len(words) - 2})
    return [" ".join(words[i : i + 2]) for i in picks]


def choices(
    model: OnnxVietAsrModel, clips: list[Path], reference: dict[str, str], args: argparse.Namespace
) -> None:
    rng = random.Random(7)
    targets = {p.name: phrases_of(reference[p.name]) for p in clips}
    menus: dict[str, list[tuple[str | None, list[str]]]] = {}
    for name, phrases in targets.items():
        said = set(reference[name].split())
        others = [ph for other, phs in targets.items() if other != name for ph in phs]
        # Negatives share no word with the clip: a shared word ("chị ạ") is a fair match.
        unsaid = [ph for ph in others if not said & set(ph.split())]
        menus[name] = [(ph, [ph, *rng.sample(others, 3)]) for ph in phrases]
        menus[name] += [(None, rng.sample(unsaid, 4)) for _ in range(NEGATIVE_MENUS)]
    conditions: list[float | None] = [None, *args.snr]
    bonuses = [0.0, *args.bonus]
    print(
        f"\n## Spoken choices: {sum(len(t) for t in targets.values())} trials (a menu of 4: one "
        f"phrase the clip says, 3 of other clips), {NEGATIVE_MENUS * len(clips)} negatives (4 "
        f"phrases of other clips sharing no word with it)"
    )
    print(
        f"{'line':8} {'bias':>6} {'right':>7} {'(confirm)':>9} {'wrong':>6} {'none':>5} "
        f"{'accuracy':>9} {'false picks (taken)':>19} {'spliced':>4} {'rescore ms':>11} {'WER':>6}"
    )
    for snr in conditions:
        decoded = {
            p.name: decode(model, with_noise(line(p), snr, seed=i)) for i, p in enumerate(clips)
        }
        label = "clean" if snr is None else f"{snr:g} dB"
        for bonus in bonuses:
            tally = Tally()
            texts: dict[str, str] = {}
            for name, heard in decoded.items():
                for target, options in menus[name]:
                    text = heard.text
                    if bonus > 0:
                        started = time.perf_counter()
                        outcome = model.bias(options, bonus).apply(heard.scores)
                        tally.ms.append(1000 * (time.perf_counter() - started))
                        text = model.text(outcome.ids)
                        tally.spliced += outcome.phrase is not None
                    keyed = {str(k): (o,) for k, o in enumerate(options)}
                    match = match_choice(text, keyed)
                    picked = options[int(match.key)] if match else None
                    if target is None:
                        tally.negatives += 1
                        tally.false_picks += picked is not None
                        tally.false_taken += match is not None and not match.confirm
                    elif picked is None:
                        tally.none += 1
                    elif picked == target:
                        tally.right += 1
                        tally.confirm += match is not None and match.confirm
                    else:
                        tally.wrong += 1
                    texts.setdefault(name, heard.text)
            ms = f"{np.median(tally.ms):.1f}/{max(tally.ms):.1f}" if tally.ms else "-"
            err = wer([(reference[n], t) for n, t in texts.items()]) if bonus == 0 else None
            print(
                f"{label:8} {bonus:6.1f} {tally.right:7} {tally.confirm:9} {tally.wrong:6} "
                f"{tally.none:5} {100 * tally.right / tally.trials:8.1f}% "
                f"{tally.false_picks:3} ({tally.false_taken:2}) of {tally.negatives:<3} "
                f"{tally.spliced:4} {ms:>11} "
                f"{'' if err is None else f'{100 * err:5.1f}%':>6}"
            )
    print(
        "(bias: nats per phrase token, 0 = greedy transcript; accuracy: the right option, taken "
        "or asked to confirm; false picks: a negative menu's option picked, (taken) without "
        "asking to confirm; spliced: rescored transcripts that took a phrase in; rescore ms: "
        "median/max per transcript; WER: greedy transcripts against the manifest)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bonus", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--snr", type=float, nargs="+", default=[10.0, 0.0])
    parser.add_argument("--no-transcripts", action="store_true", help="skip part 1")
    args = parser.parse_args()
    clips = sorted(SPEECH_DIR.glob("*.wav"))
    if not clips:
        print(f"skipped: no clips in {SPEECH_DIR}")
        return 0
    reference = manifest()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus: {os.cpu_count()}, load average: {load}; clips: {SPEECH_DIR}")
    model = OnnxVietAsrModel().pipeline()
    if not args.no_transcripts:
        transcripts(model, clips, reference)
    choices(model, clips, reference, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
