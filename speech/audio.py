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
from scipy.signal import firwin, resample_poly


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


class StreamResampler:
    """Resample a stream of 16-bit mono PCM chunks (e.g. 20 ms phone frames).

    Resampling each chunk on its own would put an edge (a click) at every chunk boundary; this
    keeps the filter history across chunks instead. It uses the same filter and alignment as
    :func:`resample`, so the concatenated output of :meth:`process` and :meth:`flush` equals
    ``resample`` of the whole signal (to within one LSB of rounding).
    """

    def __init__(self, rate_in: int, rate_out: int) -> None:
        if rate_in <= 0 or rate_out <= 0:
            raise ValueError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
        g = gcd(rate_in, rate_out)
        self.rate_in, self.rate_out = rate_in, rate_out
        self._up, self._down = rate_out // g, rate_in // g
        max_rate = max(self._up, self._down)
        self._delay = 10 * max_rate  # half the filter length, as in scipy's resample_poly
        if self._up == self._down:
            taps = np.ones(1)  # never used: equal rates pass straight through
        else:
            taps = firwin(2 * self._delay + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self._up
        # Polyphase matrix: row p holds taps p, p+up, p+2up ... (zero padded).
        self._width = -(-len(taps) // self._up)
        padded = np.zeros(self._width * self._up)
        padded[: len(taps)] = taps
        self._phases = padded.reshape(self._width, self._up).T
        self._buf = np.zeros(self._width, dtype=np.float64)  # zeros before the stream start
        self._base = -self._width  # input index of _buf[0]
        self._n_in = 0
        self._n_out = 0

    def process(self, pcm: bytes) -> bytes:
        """Feed a chunk; returns every output sample that the input so far determines."""
        if len(pcm) % 2:
            raise ValueError("16-bit PCM must have an even number of bytes")
        if self._up == self._down:
            return pcm
        # Work in blocks so a whole recording does not build one huge tap-by-sample matrix.
        block = 2 * 8192
        return b"".join(self._process(pcm[i : i + block]) for i in range(0, len(pcm), block))

    def _process(self, pcm: bytes) -> bytes:
        chunk = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        self._buf = np.concatenate([self._buf, chunk])
        self._n_in += len(chunk)
        # Output n needs input up to (n*down + delay) // up.
        last = (self._n_in * self._up - 1 - self._delay) // self._down
        return self._emit(last)

    def flush(self) -> bytes:
        """End of stream: the remaining output, treating the input beyond the end as silence."""
        if self._up == self._down:
            return b""
        pad = self._delay // self._up + 2
        self._buf = np.concatenate([self._buf, np.zeros(pad)])
        total = -(-self._n_in * self._up // self._down)
        return self._emit(total - 1)

    def _emit(self, last: int) -> bytes:
        if last < self._n_out:
            return b""
        n = np.arange(self._n_out, last + 1)
        m = n * self._down + self._delay
        rows = self._phases[m % self._up]
        newest = m // self._up - self._base
        idx = newest[:, None] - np.arange(self._width)[None, :]
        out = np.einsum("ij,ij->i", rows, self._buf[idx])
        self._n_out = last + 1
        keep_from = (self._n_out * self._down + self._delay) // self._up - self._base
        keep_from = max(0, keep_from - self._width)
        self._buf = self._buf[keep_from:]
        self._base += keep_from
        return bytes(np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes())


def decode_wav_bytes(data: bytes, rate: int | None = None) -> tuple[bytes, int]:
    """Decode a PCM WAV held in memory (e.g. a synthesiser's stdout) as mono 16-bit PCM.

    Streaming writers put a placeholder length in the header; the frames actually present are
    read. Resampled to ``rate`` when given.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            raw = w.readframes(w.getnframes())
            pcm = to_mono16(raw, w.getnchannels(), w.getsampwidth())
            file_rate = w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"not a PCM WAV stream ({exc})") from exc
    if rate is not None and rate != file_rate:
        return resample(pcm, file_rate, rate), rate
    return pcm, file_rate


def decode_audio(
    source: bytes | str | Path, *, fmt: str | None = None, rate: int | None = None
) -> tuple[bytes, int]:
    """Decode any file ffmpeg reads (MP3, WAV, OGG ...) as mono 16-bit PCM, via pydub.

    ``source`` is the file's bytes or its path; ``fmt`` names the container when it cannot be
    guessed ("mp3"). Resampled to ``rate`` when given. Raises :class:`AudioFormatError`.
    """
    from pydub import AudioSegment  # imported here: pydub looks for ffmpeg when imported
    from pydub.exceptions import CouldntDecodeError

    try:
        if isinstance(source, bytes):
            segment = AudioSegment.from_file(io.BytesIO(source), format=fmt)
        else:
            segment = AudioSegment.from_file(str(source), format=fmt)
    except (CouldntDecodeError, OSError, IndexError) as exc:
        # ffmpeg's whole log is in the message; its last line says what went wrong.
        last = (str(exc).strip().splitlines() or ["unknown error"])[-1]
        raise AudioFormatError(f"cannot decode audio: {last}") from exc
    pcm = to_mono16(bytes(segment.raw_data), int(segment.channels), int(segment.sample_width))
    file_rate = int(segment.frame_rate)
    if rate is not None and rate != file_rate:
        return resample(pcm, file_rate, rate), rate
    return pcm, file_rate


def silence(duration_s: float, rate: int) -> bytes:
    """``duration_s`` seconds of 16-bit silence at ``rate``."""
    return b"\x00\x00" * max(0, round(duration_s * rate))


def limit_peak(pcm: bytes, peak_dbfs: float = -1.0) -> bytes:
    """Scale 16-bit PCM down so its peak stays at ``peak_dbfs`` (headroom for G.711 and for
    resampling overshoot); quieter audio is returned unchanged."""
    if not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    ceiling = 32767.0 * 10 ** (peak_dbfs / 20)
    peak = float(np.max(np.abs(samples)))
    if peak <= ceiling:
        return pcm
    return bytes(np.rint(samples * (ceiling / peak)).astype("<i2").tobytes())
