"""Telephone-ready prompt audio, rendered once and kept on disk and in memory.

A prompt is keyed by the voice (engine, voice, speaking rate), the line's sample rate and the
normalised text the synthesiser reads (:func:`speech.normalize.speakable`), so "29/12/2021" and
"ngày 29/12/2021" share one rendering. Every static prompt of a menu tree is rendered when the
tree is published (:meth:`PromptCache.prerender`); a dynamic answer is spoken as a sequence of
fragments (:meth:`PromptCache.stream_parts`): the static lead-in comes from the cache at once,
and the fragments with dates and numbers render while it plays.

Where a fallback engine stood in (gTTS unreachable, espeak-ng used), the audio is stored under
the voice that made it; a later :meth:`PromptCache.prerender` upgrades it when the preferred
engine answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.audio import LINE_RATE, Audio
from speech.audio import AudioFormatError, read_wav, resample, silence, wav_bytes
from speech.normalize import speakable
from speech.personal import is_personal_text
from speech.settings import SpeechSettings
from speech.tts import (
    FallbackSynthesizer,
    SynthesisError,
    Synthesizer,
    VoiceId,
    render,
    voices_of,
)

DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024
"""In-memory budget: about 70 minutes of 8 kHz audio, far more than a tree's prompts."""

DEFAULT_PAUSE_S = 0.15
SPOKEN_MEMO_SIZE = 1024  # normalised texts remembered
"""Silence between the fragments of an assembled sentence, as a speaker's short breath."""

_CLAUSE_END = re.compile(r"(?<=[,;:.!?])\s+")


def split_fragments(text: str) -> list[str]:
    """Cut a sentence at its punctuation into fragments that can be cached separately.

    "Hồ sơ đang được xử lý, hẹn trả ngày 29/12/2021." -> ["Hồ sơ đang được xử lý,",
    "hẹn trả ngày 29/12/2021."]. A dossier code's dots are not clause ends.
    """
    return [part.strip() for part in _CLAUSE_END.split(text) if part.strip()]


@dataclass(frozen=True)
class PromptKey:
    """Cache identity of one rendering."""

    voice: VoiceId
    rate: int
    spoken: str

    @property
    def digest(self) -> str:
        material = "\n".join(
            [self.voice.engine, self.voice.voice, str(self.voice.rate_wpm), str(self.rate)]
        )
        return hashlib.sha256(f"{material}\n{self.spoken}".encode()).hexdigest()

    def relative_path(self) -> Path:
        """Where the WAV lives under the cache directory."""
        d = self.digest
        return Path(self.voice.slug()) / str(self.rate) / d[:2] / f"{d}.wav"


@dataclass
class CacheStats:
    """Counters, for metrics and the benchmark."""

    memory_hits: int = 0
    disk_hits: int = 0
    renders: int = 0
    fallback_renders: int = 0
    personal_renders: int = 0  # rendered for one call, kept neither in memory nor on disk


@dataclass(frozen=True)
class PrerenderReport:
    """What :meth:`PromptCache.prerender` did: texts rendered, already cached, failed."""

    rendered: int
    cached: int
    failed: dict[str, str]


class PromptCache:
    """Rendered prompts by (voice, rate, normalised text): an LRU in memory over WAVs on disk."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        directory: Path,
        *,
        rate: int = LINE_RATE,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        pause_s: float = DEFAULT_PAUSE_S,
        normalizer: Callable[[str], str] = speakable,
        logger: logging.Logger | None = None,
    ) -> None:
        self._synth = synthesizer
        self._dir = directory
        self._rate = rate
        self._memory_budget = memory_bytes
        self._pause = silence(pause_s, rate)
        self._normalize = normalizer
        self._log = logger or logging.getLogger(__name__)
        self._memory: OrderedDict[str, Audio] = OrderedDict()
        self._memory_used = 0
        self._inflight: dict[str, asyncio.Task[Audio]] = {}
        # text -> spoken text: the same prompts are asked for by every call, and normalising
        # one takes longer than finding its audio
        self._spoken: dict[str, str] = {}
        self.stats = CacheStats()

    @property
    def rate(self) -> int:
        """Sample rate of everything this cache returns."""
        return self._rate

    def spoken(self, text: str) -> str:
        """The normalised text the synthesiser reads for ``text``."""
        found = self._spoken.get(text)
        if found is None:
            found = " ".join(self._normalize(text).split())
            if len(self._spoken) >= SPOKEN_MEMO_SIZE:
                self._spoken.clear()  # dynamic sentences (dossier read-backs) do not pile up
            self._spoken[text] = found
        return found

    def key(self, text: str, voice: VoiceId | None = None) -> PromptKey:
        """The cache key of ``text`` in ``voice`` (default: the synthesiser's preferred voice)."""
        return PromptKey(voice or self._synth.voice, self._rate, self.spoken(text))

    # -- lookups --------------------------------------------------------------------------

    async def get(self, text: str) -> Audio:
        """Telephone-ready audio of ``text``: from memory, from disk, or rendered and stored."""
        spoken = self.spoken(text)
        if not spoken:
            raise SynthesisError("nothing to say: empty text")
        found = await self._lookup(spoken, voices_of(self._synth))
        if found is not None:
            return found
        preferred = self.key(text).digest
        task = self._inflight.get(preferred)
        if task is None:
            # One render per prompt however many calls ask for it; a caller hanging up (its
            # request cancelled) does not cancel a render that others wait for.
            task = asyncio.create_task(self._render(spoken))
            self._inflight[preferred] = task
            task.add_done_callback(lambda _t: self._inflight.pop(preferred, None))
        return await asyncio.shield(task)

    def cached_voice(self, text: str) -> VoiceId | None:
        """The voice ``text`` is cached in (memory or disk), preferred voices first, or None."""
        spoken = self.spoken(text)
        for voice in voices_of(self._synth):
            key = PromptKey(voice, self._rate, spoken)
            if key.digest in self._memory or (self._dir / key.relative_path()).is_file():
                return voice
        return None

    async def _lookup(self, spoken: str, voices: Iterable[VoiceId]) -> Audio | None:
        for voice in voices:
            key = PromptKey(voice, self._rate, spoken)
            audio = self._memory.get(key.digest)
            if audio is not None:
                self._memory.move_to_end(key.digest)
                self.stats.memory_hits += 1
                return audio
            path = self._dir / key.relative_path()
            if not path.is_file():
                continue
            try:
                pcm, _ = await asyncio.to_thread(read_wav, path, self._rate)
            except (AudioFormatError, OSError) as exc:
                self._log.warning("prompt cache file %s unreadable (%s); re-rendering", path, exc)
                continue
            audio = Audio(pcm, self._rate)
            self._remember(key.digest, audio)
            self.stats.disk_hits += 1
            with contextlib.suppress(OSError):
                os.utime(path)  # recently used: the last to go when the disk cache is pruned
            return audio
        return None

    async def _render(self, spoken: str) -> Audio:
        synth = self._synth
        online = isinstance(synth, FallbackSynthesizer) and not synth.primary.capabilities.offline
        if is_personal_text() and isinstance(synth, FallbackSynthesizer) and online:
            synth = synth.fallback  # personal text never goes to an online synthesiser
        rendering = await render(synth, spoken)
        audio = rendering.audio
        if audio.rate != self._rate:
            pcm = await asyncio.to_thread(resample, audio.pcm, audio.rate, self._rate)
            audio = Audio(pcm, self._rate)
        self.stats.renders += 1
        if rendering.voice != self._synth.voice:
            self.stats.fallback_renders += 1
        if is_personal_text():  # a name, fees, a number: spoken once, never kept nor written
            self.stats.personal_renders += 1
            return audio
        key = PromptKey(rendering.voice, self._rate, spoken)
        self._remember(key.digest, audio)
        await asyncio.to_thread(self._store, key, audio)
        return audio

    def _store(self, key: PromptKey, audio: Audio) -> None:
        path = self._dir / key.relative_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader (another worker) never sees half a file.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(wav_bytes(audio.pcm, audio.rate))
        os.replace(tmp, path)

    def _remember(self, digest: str, audio: Audio) -> None:
        previous = self._memory.pop(digest, None)
        if previous is not None:
            self._memory_used -= len(previous.pcm)
        self._memory[digest] = audio
        self._memory_used += len(audio.pcm)
        while self._memory_used > self._memory_budget and len(self._memory) > 1:
            _, evicted = self._memory.popitem(last=False)
            self._memory_used -= len(evicted.pcm)

    # -- publishing -----------------------------------------------------------------------

    async def prerender(self, texts: Iterable[str], *, upgrade: bool = True) -> PrerenderReport:
        """Render every text not cached yet (e.g. all static prompts of a tree at publish).

        With ``upgrade``, texts cached only in a fallback voice are tried again with the
        preferred engine. Failures are reported per text, not raised.
        """
        rendered = cached = 0
        failed: dict[str, str] = {}
        for text in dict.fromkeys(texts):  # unique, in order
            spoken = self.spoken(text)
            if not spoken:
                continue
            voice = self.cached_voice(text)
            if voice is not None and (voice == self._synth.voice or not upgrade):
                cached += 1
                continue
            try:
                await self._render(spoken)
            except SynthesisError as exc:
                failed[text] = str(exc)
                continue
            rendered += 1
        return PrerenderReport(rendered=rendered, cached=cached, failed=failed)

    def prune(self, max_bytes: int) -> int:
        """Delete the least recently used renderings until the disk cache holds ``max_bytes``.

        Dynamic fragments (codes, dates) accumulate as calls come in; a periodic prune keeps
        the directory bounded. Returns the number of files deleted.
        """
        if not self._dir.is_dir():
            return 0
        files = []
        for path in self._dir.rglob("*.wav"):
            with contextlib.suppress(OSError):
                st = path.stat()
                files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        deleted = 0
        for _, size, path in sorted(files):
            if total <= max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                deleted += 1
                total -= size
        return deleted

    # -- assembled sentences --------------------------------------------------------------

    async def stream_parts(self, parts: Sequence[str]) -> AsyncIterator[Audio]:
        """Yield the audio of each fragment in order, each but the last followed by a pause.

        Every fragment starts rendering at once; the first is yielded as soon as it is ready,
        so the caller hears the (usually cached) lead-in while the rest is synthesised.
        """
        texts = [p for p in parts if self.spoken(p)]
        tasks = [asyncio.create_task(self.get(p)) for p in texts]
        try:
            for i, task in enumerate(tasks):
                audio = await task
                if i < len(tasks) - 1:
                    audio = Audio(audio.pcm + self._pause, audio.rate)
                yield audio
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: an abandoned fragment's error is not news

    async def render_parts(self, parts: Sequence[str]) -> Audio:
        """One Audio of all fragments joined with short pauses."""
        chunks = [audio.pcm async for audio in self.stream_parts(parts)]
        return Audio(b"".join(chunks), self._rate)

    async def say(self, text: str) -> AsyncIterator[Audio]:
        """Stream a whole sentence, cut into cacheable fragments at its punctuation."""
        parts = split_fragments(text)
        if not any(self.spoken(p) for p in parts):
            raise SynthesisError("nothing to say: empty text")
        async for audio in self.stream_parts(parts):
            yield audio


def build_prompt_cache(
    settings: SpeechSettings, synthesizer: Synthesizer, *, rate: int = LINE_RATE
) -> PromptCache:
    """The prompt cache the settings describe (directory ``prompt_cache_dir``)."""
    return PromptCache(synthesizer, settings.prompt_cache_dir, rate=rate)
