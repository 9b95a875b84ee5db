"""The G.711 codecs a stream sends and receives, and the 20 ms frame of 8 kHz audio they carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core import g711

FRAME_MS = 20
LINE_RATE = 8000
FRAME_SAMPLES = LINE_RATE * FRAME_MS // 1000
FRAME_BYTES = 2 * FRAME_SAMPLES

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "PCMU": g711.ulaw_encode,
    "PCMA": g711.alaw_encode,
}
DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "PCMU": g711.ulaw_decode,
    "PCMA": g711.alaw_decode,
}
STATIC_PT = {0: "PCMU", 8: "PCMA"}  # payload types a peer may send without negotiating them


class MediaError(Exception):
    """Misuse of a media stream or an unsupported media description."""


@dataclass(frozen=True)
class Codec:
    """An audio codec as negotiated in SDP: ``name`` is PCMU or PCMA."""

    name: str
    payload_type: int
    rate: int = LINE_RATE

    def __post_init__(self) -> None:
        if self.name not in ENCODERS:
            raise MediaError(f"unsupported codec {self.name!r}; expected PCMU or PCMA")
        if not 0 <= self.payload_type < 128:
            raise MediaError(f"payload type {self.payload_type} out of range 0-127")
        if self.rate != LINE_RATE:
            raise MediaError(f"{self.name} runs at {LINE_RATE} Hz, not {self.rate}")

    def encode(self, pcm: bytes) -> bytes:
        """16-bit PCM to this codec's bytes."""
        return ENCODERS[self.name](pcm)

    def decode(self, data: bytes) -> bytes:
        """This codec's bytes to 16-bit PCM."""
        return DECODERS[self.name](data)


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)
