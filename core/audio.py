"""The one internal audio type and the line constants, shared by every ring.

Audio is always 16-bit signed little-endian PCM, mono, at a declared rate (the phone line is
8000 Hz), in 20 ms frames when streamed. G.711 exists only at the edge (``core.g711``);
resampling and format conversion only in ``speech.audio``.
"""

from __future__ import annotations

from dataclasses import dataclass

LINE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = LINE_RATE * FRAME_MS // 1000  # 160 samples, 320 bytes


@dataclass(frozen=True)
class Audio:
    """A piece of audio: 16-bit mono PCM at ``rate`` Hz."""

    pcm: bytes
    rate: int = LINE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.rate
