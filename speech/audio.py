"""The one place that converts audio: resampling, WAV reading/writing, format conversion.

Internally audio is 16-bit signed little-endian mono PCM; the phone line runs at 8000 Hz and
recognisers usually want 16000 Hz. Everything that changes a rate calls :func:`resample`.
"""

from __future__ import annotations

import io
import wave
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly


class AudioFormatError(ValueError):
    """The audio file cannot be read as PCM WAV."""


def resample(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    """Resample 16-bit mono PCM from ``rate_in`` to ``rate_out`` (polyphase, anti-aliased)."""
    if rate_in == rate_out or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    g = gcd(rate_in, rate_out)
    out = resample_poly(samples, rate_out // g, rate_in // g)
    return bytes(np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes())


def to_mono16(raw: bytes, channels: int, sample_width: int) -> bytes:
    """Convert interleaved PCM of any width (1, 2, 3, 4 bytes) and channel count to mono 16-bit."""
    if sample_width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif sample_width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif sample_width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        data = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8
        data = (data.astype(np.int32)) >> 16
    elif sample_width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    else:
        raise AudioFormatError(f"unsupported sample width {sample_width}")
    if channels > 1:
        usable = len(data) - len(data) % channels
        data = data[:usable].reshape(-1, channels).mean(axis=1)
    return bytes(np.clip(data, -32768, 32767).astype("<i2").tobytes())


def read_wav(path: str | Path, rate: int | None = None) -> tuple[bytes, int]:
    """Read a PCM WAV file as mono 16-bit PCM; resampled to ``rate`` when given."""
    try:
        with wave.open(str(path), "rb") as w:
            raw = w.readframes(w.getnframes())
            pcm = to_mono16(raw, w.getnchannels(), w.getsampwidth())
            file_rate = w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc})") from exc
    if rate is not None and rate != file_rate:
        return resample(pcm, file_rate, rate), rate
    return pcm, file_rate


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """Wrap 16-bit mono PCM in a WAV container."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: str | Path, pcm: bytes, rate: int) -> None:
    """Write 16-bit mono PCM to a WAV file."""
    Path(path).write_bytes(wav_bytes(pcm, rate))
