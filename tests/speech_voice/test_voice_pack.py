"""Dynamic answers joined from a voice pack: a complete pack leaves nothing to synthesis, a
partial pack sends only the missing words to the synthesiser.

The test pack is made here: each word is rendered on its own by espeak-ng and tagged with a quiet
3 kHz pilot tone, so every stretch of the joined sentence can be told apart by construction:
pack audio carries the pilot, synthesised audio does not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.audio import LINE_RATE, Audio
from speech.audio import write_wav
from speech.espeak_engine import EspeakSynthesizer
from speech.normalize import speakable
from speech.pack_import import import_pack
from speech.voice_pack import (
    CLAUSE_GAP_S,
    MANIFEST,
    PackSpeaker,
    VoicePack,
    missing_words,
    words_of,
)

SENTENCE = "Hồ sơ số 2 5, 0 3, 0 3, 9 0, 0 5 cần bổ sung giấy tờ, hẹn trả ngày 16/12/2025."
PILOT_HZ = 3000.0
FRAME = LINE_RATE // 50


def _words(text: str) -> list[str]:
    return [w for w in words_of(speakable(text)) if w not in ",.;:!?"]


class SpySynth:
    """espeak-ng, recording every text it is asked to say."""

    def __init__(self) -> None:
        self.engine = EspeakSynthesizer(rate_wpm=160)
        self.asked: list[str] = []

    async def __call__(self, text: str) -> Audio:
        self.asked.append(text)
        return await self.engine.synthesize(text)


def _tagged(pcm: bytes, gain_db: float = 0.0) -> bytes:
    """A fragment with the pilot tone mixed in at a quarter of its speech level."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(x[np.abs(x) > 200] ** 2)))
    t = np.arange(x.size) / LINE_RATE
    y = (x + 0.25 * rms * np.sqrt(2) * np.sin(2 * np.pi * PILOT_HZ * t)) * 10 ** (gain_db / 20)
    return bytes(np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder of tagged recordings, one per word of the sentence, named by the word; every
    other word recorded 12 dB quieter (the pack must even the levels out)."""
    folder = tmp_path_factory.mktemp("recordings")
    engine = EspeakSynthesizer(voice="vi+f3", rate_wpm=160)

    async def render_all() -> None:
        for i, word in enumerate(dict.fromkeys(_words(SENTENCE))):
            audio = await engine.synthesize(word)
            write_wav(folder / f"{word}.wav", _tagged(audio.pcm, -12.0 * (i % 2)), LINE_RATE)

    asyncio.run(render_all())
    yield folder


def _pilot_share(audio: Audio) -> tuple[int, int]:
    """(voiced frames, voiced frames carrying the pilot tone)."""
    x = np.frombuffer(audio.pcm, dtype="<i2").astype(np.float64)
    n = x.size // FRAME
    frames = x[: n * FRAME].reshape(n, FRAME)
    power = np.mean(frames**2, axis=1)
    t = np.arange(FRAME) / LINE_RATE
    ref = np.exp(-2j * np.pi * PILOT_HZ * t)
    pilot = np.abs(frames @ ref) ** 2 * 2 / FRAME**2  # power of the 3 kHz component
    voiced = power > (10 ** (-40 / 20) * 32768) ** 2
    # the pilot sits near a quarter of the common speech level (-32 dBFS), well above what a
    # voice puts into one 50 Hz band at 3 kHz; a frame half in a pause carries less of it, but
    # then it still is a clear share of that frame's power
    tagged = voiced & ((pilot > 200.0**2 / 2) | (pilot > 0.02 * power))
    return int(voiced.sum()), int(tagged.sum())


def _pack(recordings: Path, tmp_path: Path, leave_out: set[str] = frozenset()) -> VoicePack:  # type: ignore[assignment]
    source = tmp_path / "source"
    source.mkdir()
    for wav in recordings.iterdir():
        if wav.stem not in leave_out:
            (source / wav.name).write_bytes(wav.read_bytes())
    report = import_pack(source, tmp_path / "pack")
    assert not report.refused and len(report.imported) == len(list(source.iterdir()))
    return VoicePack.load(tmp_path / "pack")


def test_complete_pack_says_a_dynamic_answer_without_synthesis(
    recordings: Path, tmp_path: Path
) -> None:
    pack = _pack(recordings, tmp_path)
    synth = SpySynth()
    speaker = PackSpeaker(synth, pack)
    audio = asyncio.run(speaker(SENTENCE))
    assert synth.asked == []
    voiced, tagged = _pilot_share(audio)
    assert voiced > 100  # seconds of speech, not silence
    assert tagged == voiced, f"{voiced - tagged} voiced frames without the pack's pilot tone"
    # digit groups and clauses: a pause at each comma and at the end of the clause
    x = np.abs(np.frombuffer(audio.pcm, dtype="<i2"))
    quiet = np.convolve(x < 30, np.ones(int(0.9 * CLAUSE_GAP_S * LINE_RATE)), "valid")
    pauses = np.flatnonzero(
        np.diff((quiet >= int(0.9 * CLAUSE_GAP_S * LINE_RATE)).astype(int)) == 1
    )
    assert len(pauses) == speakable(SENTENCE).rstrip(".").count(",")


def test_partial_pack_synthesises_only_the_missing_words(recordings: Path, tmp_path: Path) -> None:
    missing = {"bổ", "giấy", "mười"}
    pack = _pack(recordings, tmp_path, leave_out=missing)
    synth = SpySynth()
    speaker = PackSpeaker(synth, pack)
    audio = asyncio.run(speaker(SENTENCE))
    asked_words = [w for text in synth.asked for w in text.split()]
    assert set(asked_words) == missing
    assert sorted(asked_words) == sorted(w for w in _words(SENTENCE) if w in missing)
    voiced, tagged = _pilot_share(audio)
    untagged = voiced - tagged
    # the synthesised words are there, and only they: about four short words of ~30 words
    assert 0.03 * voiced < untagged < 0.35 * voiced, (voiced, tagged)
    assert missing_words(pack, _words(SENTENCE)) == sorted(missing, key=_words(SENTENCE).index)


def _speech_level_db(pcm: bytes) -> float:
    """Level of the loudest third of 20 ms frames: the speech, not its pauses."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = x.size // FRAME
    rms = np.sqrt(np.mean(x[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))
    loud = np.sort(rms)[-max(1, n // 3) :]
    return float(20 * np.log10(np.mean(loud)))


def test_levels_are_matched(recordings: Path, tmp_path: Path) -> None:
    # every other recording was made 12 dB quieter; joined, their levels are close
    pack = _pack(recordings, tmp_path)
    speaker = PackSpeaker(SpySynth(), pack)
    words = ("hồ", "sơ", "số", "hai")
    before = [_speech_level_db((recordings / f"{w}.wav").read_bytes()[44:]) for w in words]
    after = [_speech_level_db(asyncio.run(speaker(w)).pcm) for w in words]
    assert max(before) - min(before) > 9.0, before
    assert max(after) - min(after) < 3.0, after


def test_import_refuses_bad_files_and_keeps_the_good(recordings: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "tháng.wav").write_bytes((recordings / "tháng.wav").read_bytes())
    (source / "hỏng.wav").write_bytes(b"not audio at all")
    write_wav(source / "im_lặng.wav", b"\x00\x00" * 8000, LINE_RATE)
    report = import_pack(source, tmp_path / "pack")
    assert report.imported == ["tháng"]
    assert set(report.refused) == {"hỏng.wav", "im_lặng.wav"}
    manifest = json.loads((tmp_path / "pack" / MANIFEST).read_text(encoding="utf-8"))
    assert list(manifest["fragments"]) == ["tháng"]
    assert VoicePack.load(tmp_path / "pack").covers("Tháng")
