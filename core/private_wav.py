"""A WAV file only its owner may read: recordings of callers' voices (voice messages, bridged
conversations, prompts recorded by phone) hold personal data."""

from __future__ import annotations

import os
import wave
from pathlib import Path

from core.audio import LINE_RATE


def write_private_wav(path: Path, frames: bytes, *, channels: int = 1) -> Path:
    """Write 16-bit PCM ``frames`` at the line rate to ``path`` with mode 0600 whatever the
    umask; refuses to overwrite an existing file (``FileExistsError``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(LINE_RATE)
        out.writeframes(frames)
    return path


__all__ = ["write_private_wav"]
