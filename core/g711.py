"""G.711 µ-law (PCMU) and A-law (PCMA) codecs for 16-bit little-endian PCM.

Both directions are table lookups: encoding indexes a 65,536-entry table by the raw 16-bit
sample (numpy), decoding translates each code byte through two 256-entry tables (the low and
high byte of the sample), so a 20 ms frame (160 samples) costs a few microseconds.

The tables are built once, at first use, following the reference algorithm of ITU-T G.711 (as
in the classic Sun ``g711.c``), which is kept here as scalar functions so the tables can be
checked against it.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # largest magnitude representable, in 14-bit units
_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)

ULAW_SILENCE = 0xFF  # µ-law code of linear 0 (positive zero)
ALAW_SILENCE = 0xD5  # A-law code of linear 0 (0x80 with the even bits inverted)


class G711Error(ValueError):
    """The PCM given to an encoder is not whole 16-bit samples."""


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def linear_to_ulaw(sample: int) -> int:
    """Reference µ-law encoding of one signed 16-bit sample (slow; used to build the table)."""
    value = sample >> 2  # G.711 µ-law works on 14-bit magnitudes
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(value, _SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def ulaw_to_linear(code: int) -> int:
    """Reference µ-law decoding of one code byte to a signed 16-bit sample."""
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + _ULAW_BIAS
    t <<= (code & 0x70) >> 4
    return _ULAW_BIAS - t if code & 0x80 else t - _ULAW_BIAS


def linear_to_alaw(sample: int) -> int:
    """Reference A-law encoding of one signed 16-bit sample (slow; used to build the table)."""
    value = sample >> 3  # A-law works on 13-bit magnitudes
    if value >= 0:
        mask = 0xD5  # sign bit set, even bits inverted
    else:
        mask = 0x55  # even bits inverted
        value = -value - 1
    seg = _segment(value, _SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    code = seg << 4
    code |= (value >> 1 if seg < 2 else value >> seg) & 0x0F
    return code ^ mask


def alaw_to_linear(code: int) -> int:
    """Reference A-law decoding of one code byte to a signed 16-bit sample."""
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if code & 0x80 else -t


@cache
def _encode_table(law: str) -> npt.NDArray[np.uint8]:
    # Indexed by the sample's raw bit pattern read as uint16, so no sign handling at lookup.
    # Built with whole-array operations (milliseconds), following the reference functions
    # above step by step; a test checks the two agree on every sample.
    x = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    if law == "ulaw":
        value = x >> 2
        mask = np.where(value < 0, 0x7F, 0xFF)
        value = np.minimum(np.abs(value), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
        seg = np.searchsorted(np.array(_SEG_UEND), value, side="left")
        code = (seg << 4) | ((value >> (seg + 1)) & 0x0F)
    else:
        value = x >> 3
        negative = value < 0
        mask = np.where(negative, 0x55, 0xD5)
        value = np.where(negative, -value - 1, value)
        seg = np.searchsorted(np.array(_SEG_AEND), value, side="left")
        step = np.where(seg < 2, value >> 1, value >> np.maximum(seg, 1))
        code = (seg << 4) | (step & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return np.asarray((code ^ mask) & 0xFF, dtype=np.uint8)


@cache
def _decode_table(law: str) -> npt.NDArray[np.int16]:
    fn = ulaw_to_linear if law == "ulaw" else alaw_to_linear
    return np.array([fn(c) for c in range(256)], dtype="<i2")


def _encode(pcm: bytes, law: str) -> bytes:
    if len(pcm) % 2:
        raise G711Error(f"PCM must be whole 16-bit samples, got {len(pcm)} bytes")
    raw = np.frombuffer(pcm, dtype="<u2")
    out: npt.NDArray[np.uint8] = _encode_table(law)[raw]
    return out.tobytes()


@cache
def _decode_planes(law: str) -> tuple[bytes, bytes]:
    # The low and the high byte of each decoded sample, as two bytes.translate tables.
    raw = _decode_table(law).astype("<i2").tobytes()
    return raw[0::2], raw[1::2]


def _decode(data: bytes, law: str) -> bytes:
    # Two translates and two strided copies, all inside CPython's C code: cheaper than numpy
    # for one packet, above all when the caches are cold between packets.
    low, high = _decode_planes(law)
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(low)
    out[1::2] = data.translate(high)
    return bytes(out)


def ulaw_encode(pcm: bytes) -> bytes:
    """Encode 16-bit LE PCM to µ-law (PCMU), one byte per sample. Raises G711Error on odd length."""
    return _encode(pcm, "ulaw")


def ulaw_decode(data: bytes) -> bytes:
    """Decode µ-law (PCMU) bytes to 16-bit LE PCM."""
    return _decode(data, "ulaw")


def alaw_encode(pcm: bytes) -> bytes:
    """Encode 16-bit LE PCM to A-law (PCMA), one byte per sample. Raises G711Error on odd length."""
    return _encode(pcm, "alaw")


def alaw_decode(data: bytes) -> bytes:
    """Decode A-law (PCMA) bytes to 16-bit LE PCM."""
    return _decode(data, "alaw")


def warm_up() -> None:
    """Build all tables now (a few milliseconds) rather than at the first packet."""
    for law in ("ulaw", "alaw"):
        _encode_table(law)
        _decode_planes(law)
