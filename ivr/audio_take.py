"""Recording a caller's voice on a call: one take, the tone before it, and its WAV file.

Shared by the recording line (an editor records a prompt) and the hotline's voice-message node
(a citizen leaves a message outside working hours). A take ends on ``#``, on silence after
speech, at the maximum length (also by the clock, should the caller's audio stop arriving), or
when the caller hangs up; it keeps the speech with a little silence around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import FRAME_MS, LINE_RATE, Audio
from core.private_wav import write_private_wav
from ivr.channel import CallChannel

SILENCE_KEPT_S = 0.2  # around the speech of a take
TONE_HZ = 1000.0
TONE_S = 0.4


@dataclass(frozen=True)
class TakeLimits:
    """When a take stops: its maximum length, the silence after speech that ends it, how long
    it waits for any speech at all, and the frame level counted as speech."""

    max_s: float
    silence_end_s: float
    no_speech_s: float
    speech_rms: int


@dataclass
class Take:
    """A take's audio and why it stopped (``hash``, ``silence``, ``max``, ``ended``,
    ``nothing``); ``hung_up`` when the caller's hang-up ended it."""

    pcm: bytes
    stopped_by: str
    hung_up: bool = False

    @property
    def duration_s(self) -> float:
        """Length of the kept audio at the line rate."""
        return len(self.pcm) / 2 / LINE_RATE


def tone() -> Audio:
    """The beep before a take: a short sine at the line rate, faded in and out."""
    n = int(TONE_S * LINE_RATE)
    t = np.arange(n) / LINE_RATE
    ramp = np.minimum(1.0, np.minimum(t, TONE_S - t) / 0.02)
    samples = 8000.0 * np.sin(2 * math.pi * TONE_HZ * t) * ramp
    return Audio(samples.astype("<i2").tobytes(), LINE_RATE)


def frame_rms(frame: bytes) -> float:
    """Root mean square of one frame of 16-bit PCM."""
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def write_recording(directory: Path, recording_id: str, pcm: bytes) -> Path:
    """Write 16-bit mono PCM at the line rate as ``<id>.wav``, readable by the owner only;
    refuses to overwrite."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return write_private_wav(directory / f"{recording_id}.wav", pcm)


async def record_take(call: CallChannel, limits: TakeLimits) -> Take:
    """One take of the caller's audio (see the module docstring). A caller who hangs up after
    speaking leaves a take with ``hung_up`` set; one who said nothing leaves ``nothing``."""
    frames = call.audio_frames()
    chunks: list[bytes] = []
    reader = asyncio.ensure_future(_frames_until_quiet(frames, chunks, limits))
    key = asyncio.ensure_future(_hash_key(call))
    try:
        done, _ = await asyncio.wait(
            [reader, key], timeout=limits.max_s + 1.0, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (reader, key):
            task.cancel()
        await asyncio.gather(reader, key, return_exceptions=True)
        closer: Any = getattr(frames, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
    hung_up = call.ended
    stopped = "max"
    if reader in done and not reader.cancelled() and reader.exception() is None:
        stopped = reader.result()
    elif key in done and not hung_up:
        stopped = "hash"
    heard = any(frame_rms(c) >= limits.speech_rms for c in chunks)
    if not heard:
        return Take(b"", "nothing", hung_up)
    return Take(_trimmed(chunks, limits.speech_rms), stopped, hung_up)


async def _frames_until_quiet(frames: Any, chunks: list[bytes], limits: TakeLimits) -> str:
    frame_s = FRAME_MS / 1000
    max_frames = round(limits.max_s / frame_s)
    quiet_frames = round(limits.silence_end_s / frame_s)
    no_speech_frames = round(limits.no_speech_s / frame_s)
    heard, quiet = False, 0
    async for frame in frames:
        chunks.append(frame)
        if frame_rms(frame) >= limits.speech_rms:
            heard, quiet = True, 0
        else:
            quiet += 1
        if len(chunks) >= max_frames:
            return "max"
        if heard and quiet >= quiet_frames:
            return "silence"
        if not heard and len(chunks) >= no_speech_frames:
            return "nothing"
    return "ended"


async def _hash_key(call: CallChannel) -> str:
    while True:
        if await call.next_digit(3600.0) == "#":
            return "#"


def _trimmed(chunks: list[bytes], speech_rms: int) -> bytes:
    """The take without the silence before the first and after the last speech (a little of
    each is kept, so the audio does not start or end abruptly)."""
    loud = [i for i, c in enumerate(chunks) if frame_rms(c) >= speech_rms]
    keep = round(SILENCE_KEPT_S * 1000 / FRAME_MS)
    return b"".join(chunks[max(0, loud[0] - keep) : loud[-1] + 1 + keep])
