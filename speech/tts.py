"""Speech synthesis: the contract every engine implements, and the fallback between engines.

An engine turns already-speakable text (see :func:`speech.normalize.speakable`) into telephone
audio: 16-bit mono PCM at the engine's output rate (8000 Hz for the phone line). Engines:
:mod:`speech.espeak_engine` (offline, always there), :mod:`speech.gtts_engine` (online). Admin
recordings are not synthesis and live in :mod:`speech.recorded`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from core.audio import Audio
from core.errors import ErrorCode
from speech.audio import resample
from speech.settings import SYNTHESIZER_NAMES, SpeechSettings

MAX_TEXT_CHARS = 5000
"""Longest text one synthesis call accepts; a prompt longer than this is an authoring mistake."""


class SynthesisError(Exception):
    """The engine could not turn this text into audio; ``code`` is stable and safe to log."""

    code: str = ErrorCode.SYNTHESIS_FAILED.value


class SynthesisUnavailable(SynthesisError):
    """The engine cannot be used right now (no network, program missing): try another engine."""


@dataclass(frozen=True)
class VoiceId:
    """What makes two renderings of the same text sound the same: engine, voice and speed."""

    engine: str
    voice: str
    rate_wpm: int

    def slug(self) -> str:
        """A file-name-safe form, e.g. ``espeak-ng_vi_150``."""
        safe = "".join(c if c.isalnum() or c in "-." else "-" for c in self.voice)
        return f"{self.engine}_{safe}_{self.rate_wpm}"


@dataclass(frozen=True)
class SynthesisCapabilities:
    """What an engine offers, checked when the hotline starts."""

    offline: bool
    output_rate: int
    languages: tuple[str, ...] = ("vi",)
    max_chars: int = MAX_TEXT_CHARS


class Synthesizer(Protocol):
    """A text-to-speech engine."""

    @property
    def name(self) -> str:
        """Engine name as used in settings: ``espeak-ng``, ``gtts``."""
        ...

    @property
    def voice(self) -> VoiceId:
        """The voice this engine renders with; part of every prompt-cache key."""
        ...

    @property
    def capabilities(self) -> SynthesisCapabilities: ...

    async def synthesize(self, text: str) -> Audio:
        """Render ``text`` as 16-bit mono PCM at ``capabilities.output_rate``.

        Raises :class:`SynthesisUnavailable` when the engine cannot run now and
        :class:`SynthesisError` when it fails on this text."""
        ...


@dataclass(frozen=True)
class Rendering:
    """Audio and the voice that actually produced it (a fallback may have stood in)."""

    audio: Audio
    voice: VoiceId


def check_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The text to synthesise, stripped; :class:`SynthesisError` when empty or too long."""
    stripped = " ".join(text.split())
    if not stripped:
        raise SynthesisError("nothing to say: empty text")
    if len(stripped) > max_chars:
        raise SynthesisError(f"text too long to synthesise: {len(stripped)} > {max_chars} chars")
    return stripped


class FallbackSynthesizer:
    """Use ``primary``; when it is unavailable, log a warning and use ``fallback`` instead.

    Only :class:`SynthesisUnavailable` switches engines: a caller hears the offline voice rather
    than an error. Any other :class:`SynthesisError` is a problem with the text and propagates.
    """

    def __init__(
        self,
        primary: Synthesizer,
        fallback: Synthesizer,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self._log = logger or logging.getLogger(__name__)
        self._degraded = False  # warn once per outage, not once per prompt

    @property
    def name(self) -> str:
        return f"{self.primary.name}+{self.fallback.name}"

    @property
    def voice(self) -> VoiceId:
        return self.primary.voice

    @property
    def voices(self) -> tuple[VoiceId, ...]:
        """Every voice this chain may answer with, preferred first."""
        return (*voices_of(self.primary), *voices_of(self.fallback))

    @property
    def capabilities(self) -> SynthesisCapabilities:
        # Whatever the primary needs, the chain always answers: it is as offline as its fallback.
        fb = self.fallback.capabilities
        return SynthesisCapabilities(
            offline=fb.offline,
            output_rate=self.primary.capabilities.output_rate,
            languages=fb.languages,
            max_chars=min(fb.max_chars, self.primary.capabilities.max_chars),
        )

    async def render(self, text: str) -> Rendering:
        """Synthesise, saying which voice answered."""
        try:
            rendered = await render(self.primary, text)
        except SynthesisUnavailable as exc:
            log = self._log.debug if self._degraded else self._log.warning
            log(
                "synthesiser %s unavailable (%s); using %s",
                self.primary.name,
                exc,
                self.fallback.name,
            )
            self._degraded = True
        else:
            if self._degraded:
                self._log.info("synthesiser %s available again", self.primary.name)
                self._degraded = False
            return rendered
        rendering = await render(self.fallback, text)
        rate = self.primary.capabilities.output_rate
        if rendering.audio.rate != rate:
            audio = Audio(resample(rendering.audio.pcm, rendering.audio.rate, rate), rate)
            rendering = Rendering(audio, rendering.voice)
        return rendering

    async def synthesize(self, text: str) -> Audio:
        return (await self.render(text)).audio


async def render(synthesizer: Synthesizer, text: str) -> Rendering:
    """Synthesise ``text`` and say which voice produced it."""
    if isinstance(synthesizer, FallbackSynthesizer):
        return await synthesizer.render(text)
    return Rendering(await synthesizer.synthesize(text), synthesizer.voice)


def voices_of(synthesizer: Synthesizer) -> tuple[VoiceId, ...]:
    """The voices a synthesiser may answer with, preferred first."""
    if isinstance(synthesizer, FallbackSynthesizer):
        return synthesizer.voices
    return (synthesizer.voice,)


class UnknownEngine(ValueError):
    """The settings name a synthesiser that does not exist."""


def _engine(name: str, *, voice: str, rate_wpm: int, output_rate: int) -> Synthesizer:
    # Imported here: the engines import this module for the contract they implement.
    if name == "espeak-ng":
        from speech.espeak_engine import EspeakSynthesizer

        return EspeakSynthesizer(voice=voice, rate_wpm=rate_wpm, output_rate=output_rate)
    if name == "gtts":
        from speech.gtts_engine import GttsSynthesizer

        lang = voice.split("-")[0] or "vi"
        return GttsSynthesizer(lang=lang, output_rate=output_rate)
    raise UnknownEngine(
        f"unknown synthesiser {name!r}; choose one of {', '.join(SYNTHESIZER_NAMES)}"
    )


def build_synthesizer(
    speech: SpeechSettings, *, engine: str | None = None, output_rate: int = 8000
) -> Synthesizer:
    """The synthesiser the settings ask for, wrapped in a fallback when it needs the network.

    ``engine`` overrides ``speech.synthesizer``. gTTS is always backed by the offline
    ``speech.fallback_synthesizer`` (espeak-ng) so a caller never hears an error.
    """
    name = engine or speech.synthesizer
    primary = _engine(name, voice=speech.voice, rate_wpm=speech.rate_wpm, output_rate=output_rate)
    if primary.capabilities.offline or speech.fallback_synthesizer == name:
        return primary
    fallback = _engine(
        speech.fallback_synthesizer,
        voice=speech.voice,
        rate_wpm=speech.rate_wpm,
        output_rate=output_rate,
    )
    return FallbackSynthesizer(primary, fallback)
