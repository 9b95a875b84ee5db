"""Prompts an admin recorded (WAV or MP3), looked up by id and made telephone-ready.

A recording is decoded with pydub (ffmpeg), mixed down to mono, resampled to the line rate
through :mod:`speech.audio`, and its level brought up so that quiet recordings are heard on a
noisy mobile line. Converted prompts are kept in memory until their file changes.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np

from core.audio import LINE_RATE, Audio
from core.errors import ErrorCode
from speech.audio import AudioFormatError, decode_audio

EXTENSIONS: tuple[str, ...] = (".wav", ".mp3", ".ogg", ".m4a")
"""Recording formats looked for, in this order, for an id."""

MAX_RECORDING_BYTES = 50 * 1024 * 1024
"""A prompt file larger than this is refused (a prompt lasts seconds, not hours)."""

TARGET_PEAK = 0.89
"""Quiet recordings are amplified until their peak reaches this share of full scale (-1 dBFS)."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RecordingError(Exception):
    """A recorded prompt cannot be used; ``code`` is stable and safe to log."""

    code: str = ErrorCode.SYNTHESIS_FAILED.value


class PromptNotFound(RecordingError, LookupError):
    """No recording exists for this prompt id."""


def normalize_peak(pcm: bytes, target: float = TARGET_PEAK) -> bytes:
    """Amplify 16-bit PCM so its peak reaches ``target`` of full scale (never attenuates)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if samples.size == 0:
        return pcm
    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        return pcm
    gain = target * 32767.0 / peak
    if gain <= 1.0:
        return pcm
    return bytes(np.clip(np.rint(samples * gain), -32768, 32767).astype("<i2").tobytes())


class RecordedPrompts:
    """The admin's recordings in ``directory``, named ``<prompt id>.<wav|mp3|...>``."""

    def __init__(self, directory: Path, *, output_rate: int = LINE_RATE) -> None:
        self._dir = directory
        self._rate = output_rate
        self._cache: dict[str, tuple[float, Audio]] = {}

    def ids(self) -> list[str]:
        """Every prompt id that has a recording."""
        if not self._dir.is_dir():
            return []
        return sorted(
            {p.stem for p in self._dir.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()}
        )

    def path_of(self, prompt_id: str) -> Path:
        """The file holding ``prompt_id``; :class:`PromptNotFound` when there is none."""
        if not _ID.match(prompt_id) or ".." in prompt_id:
            raise PromptNotFound(f"not a valid prompt id: {prompt_id!r}")
        for ext in EXTENSIONS:
            for candidate in (
                self._dir / f"{prompt_id}{ext}",
                self._dir / f"{prompt_id}{ext.upper()}",
            ):
                if candidate.is_file():
                    return candidate
        raise PromptNotFound(f"no recording for prompt {prompt_id!r} in {self._dir}")

    async def load(self, prompt_id: str) -> Audio:
        """The recording of ``prompt_id`` as 16-bit mono PCM at the output rate."""
        path = self.path_of(prompt_id)
        mtime = path.stat().st_mtime
        cached = self._cache.get(prompt_id)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        audio = await asyncio.to_thread(self.convert, path)
        self._cache[prompt_id] = (mtime, audio)
        return audio

    def convert(self, path: Path) -> Audio:
        """Decode and convert one recording (blocking: runs ffmpeg)."""
        size = path.stat().st_size
        if size > MAX_RECORDING_BYTES:
            raise RecordingError(f"{path.name}: {size} bytes is too large for a prompt")
        try:
            pcm, rate = decode_audio(path, rate=self._rate)
        except AudioFormatError as exc:
            raise RecordingError(f"{path.name}: {exc}") from exc
        if not pcm:
            raise RecordingError(f"{path.name}: the recording is empty")
        return Audio(normalize_peak(pcm), rate)
