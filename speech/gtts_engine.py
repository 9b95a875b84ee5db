"""The online synthesiser: Google Translate's voice through gTTS, decoded from MP3 with pydub.

Used to pre-render prompts where the internet is reachable. Where it is not, every failure is a
quick :class:`~speech.tts.SynthesisUnavailable` (short connect timeout), and after one failure
the engine reports itself unavailable at once for ``retry_after_s`` so that a dead network does
not cost every prompt another timeout.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable

import requests
from gtts import gTTS
from gtts.tts import gTTSError

from core.audio import LINE_RATE, Audio
from speech.audio import AudioFormatError, decode_audio
from speech.tts import (
    SynthesisCapabilities,
    SynthesisError,
    SynthesisUnavailable,
    VoiceId,
    check_text,
)

DEFAULT_CONNECT_TIMEOUT_S = 1.5
"""Time allowed to open the connection; short because a caller may be waiting behind it."""

DEFAULT_READ_TIMEOUT_S = 10.0
"""Time allowed for the service to answer once connected."""

DEFAULT_RETRY_AFTER_S = 60.0
"""After a failure, how long the engine reports itself unavailable without trying."""

GTTS_WORDS_PER_MINUTE = 160
"""gTTS has one speed (plus "slow"); this nominal figure only keys the prompt cache."""


class GttsSynthesizer:
    """gTTS in Vietnamese, rendering to ``output_rate`` Hz."""

    name = "gtts"

    def __init__(
        self,
        *,
        lang: str = "vi",
        tld: str = "com",
        slow: bool = False,
        output_rate: int = LINE_RATE,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lang = lang
        self._tld = tld
        self._slow = slow
        self._output_rate = output_rate
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._down_until = float("-inf")
        rate = GTTS_WORDS_PER_MINUTE // 2 if slow else GTTS_WORDS_PER_MINUTE
        self._voice = VoiceId(self.name, f"{lang}-{tld}", rate)

    @property
    def voice(self) -> VoiceId:
        return self._voice

    @property
    def capabilities(self) -> SynthesisCapabilities:
        return SynthesisCapabilities(offline=False, output_rate=self._output_rate)

    async def synthesize(self, text: str) -> Audio:
        spoken = check_text(text)
        now = self._clock()
        if now < self._down_until:
            raise SynthesisUnavailable(
                f"gTTS unreachable; next try in {self._down_until - now:.0f} s"
            )
        budget_s = self._connect_timeout_s + self._read_timeout_s
        try:
            mp3 = await asyncio.wait_for(asyncio.to_thread(self._fetch, spoken), budget_s)
        except (gTTSError, requests.RequestException, OSError, TimeoutError) as exc:
            self._down_until = self._clock() + self._retry_after_s
            raise SynthesisUnavailable(f"gTTS unreachable: {exc}") from exc
        self._down_until = float("-inf")
        return await asyncio.to_thread(self.decode, mp3)

    def decode(self, mp3: bytes) -> Audio:
        """Decode gTTS's MP3 answer to telephone audio (blocking: runs ffmpeg)."""
        try:
            pcm, rate = decode_audio(mp3, fmt="mp3", rate=self._output_rate)
        except AudioFormatError as exc:
            raise SynthesisError(f"gTTS answered with undecodable audio: {exc}") from exc
        if not pcm:
            raise SynthesisError("gTTS answered with empty audio")
        return Audio(pcm, rate)

    def _fetch(self, text: str) -> bytes:
        tts = gTTS(
            text,
            lang=self._lang,
            tld=self._tld,
            slow=self._slow,
            lang_check=False,
            timeout=(self._connect_timeout_s, self._read_timeout_s),
        )
        buf = io.BytesIO()
        tts.write_to_fp(buf)
        return buf.getvalue()
