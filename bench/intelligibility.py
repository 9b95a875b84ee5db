"""Intelligibility of what callers hear: every static prompt of the default tree and a sample of
dynamic answers, rendered as on the line (8 kHz, G.711 A-law encoded and decoded), transcribed by
the project's own recogniser; word error rate per espeak-ng voice variant and speaking rate, and
for a voice pack when one is given.

    .venv/bin/python bench/intelligibility.py --voices vi,vi+f3 --rates 150
    .venv/bin/python bench/intelligibility.py --voices vi+f3 --rates 130,150,175 --answers 5
    .venv/bin/python bench/intelligibility.py --pack var/voice-pack --voices vi+f3

The reference of each prompt is its speakable text (digits and abbreviations already spelled
out); both sides are compared lower case without punctuation. Prints figures, asserts nothing.
A run costs about 0.12 CPU seconds per second of audio per variant: keep the variants few.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.audio import LINE_RATE, Audio
from core.g711 import alaw_decode, alaw_encode
from integrations.privacy import view_for
from integrations.sample_dossiers import demo_dossiers
from ivr.hotline import runtime_fixed_texts
from ivr.runtime import phrases
from ivr.voice_commands import sample_answers
from menus.loader import read_file
from menus.model import MenuTree
from speech.asr import Recognizer, create_recognizer
from speech.espeak_engine import EspeakSynthesizer
from speech.normalize import clean_transcript, speakable
from speech.prompt_audio import static_texts
from speech.settings import SpeechSettings
from speech.voice_pack import PackSpeaker, VoicePack

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "config" / "menus" / "hotline.yaml"


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions (Levenshtein distance over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def line_audio(audio: Audio) -> bytes:
    """What the caller's phone decodes: A-law encoded and decoded at 8 kHz."""
    assert audio.rate == LINE_RATE
    return alaw_decode(alaw_encode(audio.pcm))


@dataclass
class Score:
    words: int = 0
    errors: int = 0
    audio_s: float = 0.0

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0


async def transcribe(recognizer: Recognizer, pcm: bytes) -> str:
    session = recognizer.open_session()
    try:
        await session.feed(pcm, LINE_RATE)
        return (await session.finish()).text
    finally:
        session.close()


async def score(
    recognizer: Recognizer, render: Callable[[str], Awaitable[Audio]], texts: Sequence[str]
) -> Score:
    total = Score()
    for text in texts:
        audio = await render(text)
        heard = await transcribe(recognizer, line_audio(audio))
        reference = clean_transcript(speakable(text)).split()
        total.words += len(reference)
        total.errors += word_errors(reference, clean_transcript(heard).split())
        total.audio_s += audio.duration_s
    return total


def texts_of_tree(answers: int) -> tuple[list[str], list[str]]:
    """(static prompts of the default tree and the runtime's fixed sentences, dynamic answers)."""
    tree = MenuTree.from_dict(read_file(TREE))
    static = sorted(static_texts(tree) | set(runtime_fixed_texts()))
    today = date.today()
    dynamic = sample_answers(today)
    for dossier in demo_dossiers(today):  # one status answer per sample dossier
        dynamic.append(phrases.status_sentence(view_for(dossier, verified=False, today=today)))
    return static, dynamic[:answers]


async def main(args: argparse.Namespace) -> None:
    static, dynamic = texts_of_tree(args.answers)
    if args.prompts:
        static = static[: args.prompts]
    recognizer = create_recognizer(SpeechSettings())
    await recognizer.load()
    pack = VoicePack.load(args.pack) if args.pack else None
    print(f"{len(static)} static prompts, {len(dynamic)} dynamic answers; recogniser "
          f"{recognizer.name}; 8 kHz A-law round trip")  # fmt: skip
    print(f"{'voice':<22}{'rate':>5}{'static WER':>12}{'dynamic WER':>13}{'words':>7}"
          f"{'audio s':>9}{'wall s':>8}")  # fmt: skip
    try:
        for voice in args.voices.split(","):
            for rate in (int(r) for r in args.rates.split(",")):
                engine = EspeakSynthesizer(voice=voice, rate_wpm=rate)
                speaker: Callable[[str], Awaitable[Audio]] = engine.synthesize
                label = voice
                if pack is not None:
                    speaker = PackSpeaker(engine.synthesize, pack)
                    label = f"{voice}+pack:{pack.name}"
                started = time.perf_counter()
                s = await score(recognizer, engine.synthesize, static)
                d = await score(recognizer, speaker, dynamic)
                wall = time.perf_counter() - started
                print(f"{label:<22}{rate:>5}{s.wer:>12.1%}{d.wer:>13.1%}{s.words + d.words:>7}"
                      f"{s.audio_s + d.audio_s:>9.1f}{wall:>8.1f}", flush=True)  # fmt: skip
    finally:
        recognizer.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--voices", default="vi,vi+f3,vi-vn-x-central,vi-vn-x-south")
    p.add_argument("--rates", default="150", help="words per minute, comma separated")
    p.add_argument("--answers", type=int, default=10, help="dynamic answers in the sample")
    p.add_argument("--prompts", type=int, default=0, help="only the first N static prompts")
    p.add_argument("--pack", type=Path, help="a voice pack folder for the dynamic answers")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
