"""The streaming resampler equals the one-shot resampler on real recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speech.audio import StreamResampler, read_wav, resample


@pytest.mark.parametrize(
    ("clip", "rate_out"),
    [("call8k_1.wav", 16000), ("clip16k_2.wav", 8000), ("radio8k_1.wav", 22050)],
)
def test_frame_by_frame_matches_whole_signal(speech_dir: Path, clip: str, rate_out: int) -> None:
    pcm, rate = read_wav(speech_dir / clip)
    whole = np.frombuffer(resample(pcm, rate, rate_out), dtype="<i2").astype(int)
    stream = StreamResampler(rate, rate_out)
    frame = rate // 50 * 2  # 20 ms
    pieces = [stream.process(pcm[i : i + frame]) for i in range(0, len(pcm), frame)]
    framed = np.frombuffer(b"".join(pieces) + stream.flush(), dtype="<i2").astype(int)
    assert len(framed) == len(whole)
    assert np.abs(framed - whole).max() <= 1


def test_uneven_chunks_give_the_same_output(speech_dir: Path) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_1.wav")
    sizes = [2, 318, 640, 1000, 6]
    a, b = StreamResampler(8000, 16000), StreamResampler(8000, 16000)
    out_a, pos, k = b"", 0, 0
    while pos < len(pcm):
        out_a += a.process(pcm[pos : pos + sizes[k % len(sizes)]])
        pos += sizes[k % len(sizes)]
        k += 1
    out_b = b.process(pcm)
    assert out_a + a.flush() == out_b + b.flush()


def test_same_rate_passes_through() -> None:
    stream = StreamResampler(8000, 8000)
    assert stream.process(b"\x01\x00\x02\x00") == b"\x01\x00\x02\x00"
    assert stream.flush() == b""


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamResampler(0, 16000)
    with pytest.raises(ValueError, match="even"):
        StreamResampler(8000, 16000).process(b"\x00\x00\x00")
