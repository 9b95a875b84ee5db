"""G.711 against ITU-T known vectors and an independent implementation."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from core import g711
from tests.support import need


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def samples(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_ulaw_zero_and_sign() -> None:
    # Linear 0 is 0xFF (positive zero); 0x7F is negative zero and decodes to 0 as well.
    assert g711.ulaw_encode(pcm(0)) == b"\xff"
    assert samples(g711.ulaw_decode(b"\xff\x7f")) == [0, 0]
    # Full scale: 0x80 is the largest positive, 0x00 the largest negative code.
    assert g711.ulaw_encode(pcm(32767, -32768)) == b"\x80\x00"
    assert samples(g711.ulaw_decode(b"\x80\x00")) == [32124, -32124]


def test_ulaw_segment_boundaries() -> None:
    # The largest magnitude of each segment (quantisation step 15); the code byte is inverted,
    # so segment s, step 15 is 0xF0 - 16*s.
    codes = bytes(0xF0 - 16 * seg for seg in range(8))
    assert samples(g711.ulaw_decode(codes)) == [120, 372, 876, 1884, 3900, 7932, 15996, 32124]
    # The first decision value: 123 is still segment 0, 124 starts segment 1 (step 0).
    assert g711.ulaw_encode(pcm(123, 124)) == b"\xf0\xef"
    assert g711.ulaw_encode(pcm(-124)) == b"\x6f"


def test_alaw_even_bit_inversion_and_zero() -> None:
    # A-law inverts the even bits (XOR 0x55): linear 0 is 0xD5, -1 is 0x55.
    assert g711.alaw_encode(pcm(0, -1)) == b"\xd5\x55"
    assert samples(g711.alaw_decode(b"\xd5\x55")) == [8, -8]
    assert g711.alaw_encode(pcm(32767, -32768)) == b"\xaa\x2a"
    assert samples(g711.alaw_decode(b"\xaa\x2a")) == [32256, -32256]


def test_alaw_segment_boundaries() -> None:
    # The largest value of each segment: 0x0F, 0x1F, ... before the XOR with 0xD5.
    codes = bytes(((seg << 4) | 0x0F) ^ 0xD5 for seg in range(8))
    assert samples(g711.alaw_decode(codes)) == [248, 504, 1008, 2016, 4032, 8064, 16128, 32256]
    # Segments 0 and 1 share the step size: 255 is the top of segment 0, 256 starts segment 1.
    assert g711.alaw_encode(pcm(255, 256)) == bytes([0x0F ^ 0xD5, 0x10 ^ 0xD5])
    assert g711.alaw_encode(pcm(-256, -257)) == bytes([0x0F ^ 0x55, 0x10 ^ 0x55])


def test_pcma_differs_from_pcmu() -> None:
    tone = (np.sin(np.arange(160) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2").tobytes()
    ulaw, alaw = g711.ulaw_encode(tone), g711.alaw_encode(tone)
    assert ulaw != alaw
    # Decoding with the wrong law gives noise, decoding with the right law the tone.
    right = np.frombuffer(g711.alaw_decode(alaw), dtype="<i2").astype(float)
    wrong = np.frombuffer(g711.ulaw_decode(alaw), dtype="<i2").astype(float)
    ref = np.frombuffer(tone, dtype="<i2").astype(float)
    assert np.abs(right - ref).max() < 300
    assert np.abs(wrong - ref).mean() > 3000


@pytest.mark.parametrize(
    ("encode", "decode", "ref_encode", "ref_decode"),
    [
        (g711.ulaw_encode, g711.ulaw_decode, "lin2ulaw", "ulaw2lin"),
        (g711.alaw_encode, g711.alaw_decode, "lin2alaw", "alaw2lin"),
    ],
)
def test_every_sample_matches_reference(encode, decode, ref_encode, ref_decode) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            audioop = None
    need(audioop is not None, "the audioop reference needs Python < 3.13")
    everything = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert encode(everything) == getattr(audioop, ref_encode)(everything, 2)
    codes = bytes(range(256))
    assert decode(codes) == getattr(audioop, ref_decode)(codes, 2)


def test_round_trip_is_idempotent() -> None:
    codes = bytes(range(256))
    # Decoding then re-encoding yields the same code, except µ-law negative zero (0x7F -> 0xFF).
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes
    expected = bytearray(codes)
    expected[0x7F] = 0xFF
    assert g711.ulaw_encode(g711.ulaw_decode(codes)) == bytes(expected)


def test_odd_length_is_a_typed_error() -> None:
    with pytest.raises(g711.G711Error):
        g711.ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(g711.G711Error):
        g711.alaw_encode(b"\x00")
    assert g711.ulaw_encode(b"") == b""


def test_tables_follow_the_scalar_reference() -> None:
    everything = np.arange(-32768, 32768, dtype="<i2")
    ulaw = bytes(g711.linear_to_ulaw(int(x)) for x in everything)
    alaw = bytes(g711.linear_to_alaw(int(x)) for x in everything)
    assert g711.ulaw_encode(everything.tobytes()) == ulaw
    assert g711.alaw_encode(everything.tobytes()) == alaw
    codes = bytes(range(256))
    assert samples(g711.ulaw_decode(codes)) == [g711.ulaw_to_linear(c) for c in codes]
    assert samples(g711.alaw_decode(codes)) == [g711.alaw_to_linear(c) for c in codes]
