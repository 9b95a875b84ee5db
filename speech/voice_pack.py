"""Voice packs: recorded words and phrases that dynamic answers are joined from.

A pack is a folder of WAV files at the line rate with a ``manifest.json`` mapping each fragment's
text ("không", "tháng", "cần bổ sung giấy tờ") to its file. :class:`PackSpeaker` reads a sentence
the way production IVRs do: the speakable text (:func:`speech.normalize.speakable`) is cut into
the longest runs of words the pack holds, the words it does not hold are synthesised offline,
and the pieces are joined cleanly: each brought to one speech level, faded in and out over a few
milliseconds, a short gap between words and a longer one at each comma or full stop, so the
groups of a code ("hai năm, không ba, …") are heard as groups.

Nothing a :class:`PackSpeaker` renders is written to disk: its sentences carry personal data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import LINE_RATE, Audio
from speech.audio import AudioFormatError, read_wav, resample
from speech.normalize import speakable
from speech.settings import SpeechSettings

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
"""The pack's index: ``{"rate": 8000, "fragments": {"text": "file.wav", ...}}``."""

TARGET_RMS_DBFS = -20.0
"""Every fragment, recorded or synthesised, is brought to this speech level."""

WORD_GAP_S = 0.04
"""Silence between two fragments inside a clause."""

CLAUSE_GAP_S = 0.25
"""Silence at a comma (between the groups of a code, between clauses)."""

SENTENCE_GAP_S = 0.4
"""Silence at a full stop."""

FADE_S = 0.006
"""Raised-cosine fade at each end of a fragment: no click where two recordings meet."""

TRIM_THRESHOLD_DBFS = -45.0
"""Leading and trailing audio quieter than this is silence to trim from a fragment."""

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*|[,.;:!?]")


class VoicePackError(Exception):
    """A pack folder cannot be read (no manifest, a bad entry)."""


def fragment_key(text: str) -> str:
    """The form a fragment is looked up by: NFC, lower case, words separated by one space."""
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    return " ".join(w for w in words if w not in ",.;:!?")


def words_of(spoken: str) -> list[str]:
    """Words and pause marks (``,`` ``.``) of speakable text, lower case."""
    return _WORD.findall(unicodedata.normalize("NFC", spoken).lower())


@dataclass
class VoicePack:
    """Fragments by text, each as line-rate PCM (loaded into memory once)."""

    fragments: dict[str, bytes] = field(default_factory=dict)
    rate: int = LINE_RATE
    name: str = "pack"

    @property
    def longest(self) -> int:
        """Words in the longest fragment (how far ahead the matcher looks)."""
        return max((len(k.split()) for k in self.fragments), default=0)

    def covers(self, word: str) -> bool:
        """Whether the pack holds ``word`` (or phrase) on its own."""
        return fragment_key(word) in self.fragments

    @classmethod
    def load(cls, folder: Path, *, rate: int = LINE_RATE) -> VoicePack:
        """Read a pack folder; :class:`VoicePackError` when its manifest is missing or bad."""
        manifest = folder / MANIFEST
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            entries = dict(data["fragments"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VoicePackError(f"{manifest}: {exc}") from exc
        fragments: dict[str, bytes] = {}
        for text, name in entries.items():
            path = (folder / str(name)).resolve()
            if folder.resolve() not in path.parents:
                raise VoicePackError(f"{manifest}: {name!r} is outside the pack")
            try:
                pcm, _ = read_wav(path, rate)
            except (AudioFormatError, OSError) as exc:
                raise VoicePackError(f"{path.name}: {exc}") from exc
            fragments[fragment_key(text)] = pcm
        return cls(fragments, rate, folder.name)


@dataclass(frozen=True)
class Piece:
    """One part of a rendered sentence: fragment text and whether a recording was used."""

    text: str
    recorded: bool


@dataclass(frozen=True)
class Plan:
    """How a sentence is spoken: fragments and pauses, in order (``,``/``.`` are pauses)."""

    items: tuple[Piece | str, ...]

    @property
    def synthesised(self) -> list[str]:
        """The texts that need synthesis (not in the pack)."""
        return [i.text for i in self.items if isinstance(i, Piece) and not i.recorded]

    @property
    def recorded_words(self) -> int:
        return sum(len(i.text.split()) for i in self.items if isinstance(i, Piece) and i.recorded)

    @property
    def words(self) -> int:
        return sum(len(i.text.split()) for i in self.items if isinstance(i, Piece))


def plan(spoken: str, pack: VoicePack | None) -> Plan:
    """Cut speakable text into the longest pack fragments, runs of missing words and pauses."""
    tokens = words_of(spoken)
    items: list[Piece | str] = []
    missing: list[str] = []
    longest = pack.longest if pack is not None else 0

    def flush() -> None:
        if missing:
            items.append(Piece(" ".join(missing), recorded=False))
            missing.clear()

    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ",.;:!?":
            flush()
            items.append("." if token in ".!?" else ",")
            i += 1
            continue
        match = 0
        if pack is not None:
            for n in range(min(longest, len(tokens) - i), 0, -1):
                run = tokens[i : i + n]
                if any(t in ",.;:!?" for t in run):
                    continue
                if " ".join(run) in pack.fragments:
                    match = n
                    break
        if match:
            flush()
            items.append(Piece(" ".join(tokens[i : i + match]), recorded=True))
            i += match
        else:
            missing.append(token)
            i += 1
    flush()
    while items and isinstance(items[-1], str):
        items.pop()
    return Plan(tuple(items))


# -- joining ----------------------------------------------------------------------------------


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32)


def trim(samples: np.ndarray, rate: int, *, margin_s: float = 0.01) -> np.ndarray:
    """Cut leading and trailing silence (below :data:`TRIM_THRESHOLD_DBFS`), keeping a margin."""
    if samples.size == 0:
        return samples
    threshold = 32768.0 * 10 ** (TRIM_THRESHOLD_DBFS / 20)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    margin = int(margin_s * rate)
    return samples[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def level(samples: np.ndarray, rate: int, target_dbfs: float = TARGET_RMS_DBFS) -> np.ndarray:
    """Scale to ``target_dbfs`` RMS over the voiced 20 ms frames (pauses do not count)."""
    frame = max(1, rate // 50)
    n = samples.size // frame
    if n == 0:
        return samples
    energies = np.sqrt(np.mean(samples[: n * frame].reshape(n, frame) ** 2, axis=1))
    voiced = energies[energies > 0.1 * energies.max()] if energies.max() > 0 else energies
    rms = float(np.sqrt(np.mean(voiced**2))) if voiced.size else 0.0
    if rms <= 0.0:
        return samples
    gain = 32768.0 * 10 ** (target_dbfs / 20) / rms
    out = samples * gain
    peak = float(np.max(np.abs(out)))
    limit = 32767.0 * 10 ** (-1 / 20)
    return out * (limit / peak) if peak > limit else out


def fade(samples: np.ndarray, rate: int, fade_s: float = FADE_S) -> np.ndarray:
    """Raised-cosine fade in and out over ``fade_s`` (no click at a join)."""
    n = min(int(fade_s * rate), samples.size // 2)
    if n <= 0:
        return samples
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))
    out = samples.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def join(pieces: Sequence[np.ndarray | str], rate: int) -> bytes:
    """Fragments (prepared samples) and pauses (``,`` ``.``) as one 16-bit PCM sentence."""
    gaps = {",": CLAUSE_GAP_S, ".": SENTENCE_GAP_S}
    out: list[np.ndarray] = []
    pending = 0.0
    for piece in pieces:
        if isinstance(piece, str):
            pending = max(pending, gaps.get(piece, CLAUSE_GAP_S))
            continue
        if out:
            out.append(np.zeros(int(max(pending, WORD_GAP_S) * rate), dtype=np.float32))
        out.append(piece)
        pending = 0.0
    if not out:
        return b""
    pcm = np.clip(np.rint(np.concatenate(out)), -32768, 32767).astype("<i2")
    return bytes(pcm.tobytes())


def prepare(pcm: bytes, rate: int) -> np.ndarray:
    """A fragment ready to join: trimmed, at the common level, faded at both ends."""
    return fade(level(trim(_samples(pcm), rate), rate), rate)


Synthesise = Callable[[str], Awaitable[Audio]]
"""An offline synthesiser's render: speakable text to line audio."""


class PackSpeaker:
    """Dynamic sentences from a voice pack, with offline synthesis for what it does not hold.

    ``synthesise`` must be offline (espeak-ng): these sentences carry personal data. Rendered
    audio is returned, never stored.
    """

    def __init__(
        self,
        synthesise: Synthesise,
        pack: VoicePack | None = None,
        *,
        rate: int = LINE_RATE,
        normalizer: Callable[[str], str] = speakable,
    ) -> None:
        self._synthesise = synthesise
        self.pack = pack
        self._rate = rate
        self._normalize = normalizer
        self._prepared: dict[str, np.ndarray] = {}

    def plan(self, text: str) -> Plan:
        """How ``text`` would be spoken (which parts recorded, which synthesised)."""
        return plan(self._normalize(text), self.pack)

    async def __call__(self, text: str) -> Audio:
        """Line audio of ``text`` (the :data:`speech.prompt_audio.PromptSource` shape)."""
        items = self.plan(text).items
        pieces_text = [i for i in items if isinstance(i, Piece) and not i.recorded]
        rendered = await asyncio.gather(*(self._synthesise(p.text) for p in pieces_text))
        synthesised = {id(p): a for p, a in zip(pieces_text, rendered, strict=True)}
        pieces: list[np.ndarray | str] = []
        for item in items:
            if isinstance(item, str):
                pieces.append(item)
            elif item.recorded:
                pieces.append(self._fragment(item.text))
            else:
                audio = synthesised[id(item)]
                pcm = audio.pcm
                if audio.rate != self._rate:
                    pcm = await asyncio.to_thread(resample, pcm, audio.rate, self._rate)
                pieces.append(prepare(pcm, self._rate))
        return Audio(join(pieces, self._rate), self._rate)

    def _fragment(self, key: str) -> np.ndarray:
        prepared = self._prepared.get(key)
        if prepared is None:
            assert self.pack is not None
            prepared = prepare(self.pack.fragments[key], self._rate)
            self._prepared[key] = prepared
        return prepared


def missing_words(pack: VoicePack | None, vocabulary: Iterable[str]) -> list[str]:
    """The entries of ``vocabulary`` a pack cannot say, each from recordings alone."""
    out: list[str] = []
    for entry in dict.fromkeys(fragment_key(v) for v in vocabulary):
        if entry and (pack is None or plan(entry, pack).synthesised):
            out.append(entry)
    return out


def build_pack_speaker(settings: SpeechSettings, *, rate: int = LINE_RATE) -> PackSpeaker:
    """The private speaker the settings describe: the pack in ``voice_pack_dir`` when one is
    there (a broken pack is logged and left out), over the offline synthesiser."""
    from speech.espeak_engine import EspeakSynthesizer

    pack: VoicePack | None = None
    if (settings.voice_pack_dir / MANIFEST).is_file():
        try:
            pack = VoicePack.load(settings.voice_pack_dir, rate=rate)
        except VoicePackError as exc:
            log.warning("voice pack unusable (%s): dynamic answers are synthesised", exc)
    offline = EspeakSynthesizer(voice=settings.voice, rate_wpm=settings.rate_wpm, output_rate=rate)
    return PackSpeaker(offline.synthesize, pack, rate=rate)
