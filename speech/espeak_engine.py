"""The offline synthesiser: espeak-ng's Vietnamese voice, run as a subprocess.

The text goes in on stdin (never on the command line, so no text can be taken for an option) and
a WAV comes out on stdout; it is resampled to the line rate through :mod:`speech.audio`.
"""

from __future__ import annotations

import asyncio
import shutil

from core.audio import LINE_RATE, Audio
from speech.audio import AudioFormatError, decode_wav_bytes, limit_peak, resample
from speech.tts import (
    SynthesisCapabilities,
    SynthesisError,
    SynthesisUnavailable,
    VoiceId,
    check_text,
)

DEFAULT_TIMEOUT_S = 10.0
"""Longest an espeak-ng run may take before it is killed (a long prompt takes well under 1 s)."""


class EspeakSynthesizer:
    """espeak-ng (``-v vi`` by default) rendering to ``output_rate`` Hz."""

    name = "espeak-ng"

    def __init__(
        self,
        *,
        voice: str = "vi",
        rate_wpm: int = 150,
        output_rate: int = LINE_RATE,
        executable: str = "espeak-ng",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_processes: int = 2,
    ) -> None:
        if not 80 <= rate_wpm <= 450:
            raise ValueError(f"espeak-ng speed must be 80-450 words per minute, got {rate_wpm}")
        if output_rate <= 0:
            raise ValueError(f"output rate must be positive, got {output_rate}")
        self._voice = VoiceId(self.name, voice, rate_wpm)
        self._output_rate = output_rate
        self._executable = executable
        self._timeout_s = timeout_s
        # Each run is a process on a 2-core machine: bound them so prompts queue, not thrash.
        self._slots = asyncio.Semaphore(max_processes)

    @property
    def voice(self) -> VoiceId:
        return self._voice

    @property
    def capabilities(self) -> SynthesisCapabilities:
        return SynthesisCapabilities(offline=True, output_rate=self._output_rate)

    def available(self) -> bool:
        """Whether the espeak-ng program can be found."""
        return shutil.which(self._executable) is not None

    async def synthesize(self, text: str) -> Audio:
        spoken = check_text(text)
        args = ["-v", self._voice.voice, "-s", str(self._voice.rate_wpm), "--stdout"]
        async with self._slots:
            try:
                proc = await asyncio.create_subprocess_exec(
                    self._executable,
                    *args,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            except OSError as exc:
                raise SynthesisUnavailable(f"cannot run {self._executable}: {exc}") from exc
            try:
                out, err = await asyncio.wait_for(
                    proc.communicate(spoken.encode("utf-8")), self._timeout_s
                )
            except TimeoutError as exc:
                proc.kill()
                await proc.wait()
                raise SynthesisError(f"espeak-ng took longer than {self._timeout_s} s") from exc
        if proc.returncode != 0:
            message = err.decode("utf-8", "replace").strip()
            if "voice" in message.lower():
                raise SynthesisUnavailable(f"espeak-ng voice {self._voice.voice!r}: {message}")
            raise SynthesisError(f"espeak-ng exited with {proc.returncode}: {message}")
        try:
            pcm, rate = decode_wav_bytes(out)
        except AudioFormatError as exc:
            raise SynthesisError(f"espeak-ng wrote no usable audio: {exc}") from exc
        if not pcm:
            raise SynthesisError("espeak-ng produced no audio")
        if rate != self._output_rate:
            pcm = await asyncio.to_thread(resample, pcm, rate, self._output_rate)
        return Audio(limit_peak(pcm), self._output_rate)  # espeak-ng peaks at full scale
