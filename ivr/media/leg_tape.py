"""A leg's relayed audio, as it came: G.711 payloads with their arrival time and RTP timestamp.

A bridge records from the pass-through relay's datagram callback, where every microsecond is
the relay's added delay; so nothing is decoded or mixed there. :meth:`LegTape.add` packs a
fixed-size header into one file and the payload into another, both opened with a large
buffer: a list append's cost, and a ``write`` system call every few seconds of audio, whatever
the call's length (memory does not grow with it). The WAV is made from the tape when the bridge
ends, in a thread (:mod:`ivr.bridge.recording`); fixed-size headers let it read the whole tape
as arrays, without a Python step per packet that would hold the interpreter's lock against the
event loop.

Each header (``<path>.tape``): arrival (the loop's clock, seconds, float64), RTP timestamp and
SSRC (uint32), law (0 µ-law, 8 A-law: the RTP static payload types), payload length (uint16).
The payloads follow one another in ``<path>.g711``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

_HEAD = struct.Struct("<dIIBH")
HEAD_DTYPE = np.dtype(
    [("arrival", "<f8"), ("timestamp", "<u4"), ("ssrc", "<u4"), ("law", "u1"), ("length", "<u2")]
)
TAPE_BUFFER = 64 * 1024  # bytes held before a write: about 7 s of one leg's audio
LAWS = {"PCMU": 0, "PCMA": 8}


def _private(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    return os.fdopen(fd, "wb", buffering=TAPE_BUFFER)


@dataclass(frozen=True)
class TapeContents:
    """A closed tape: one header per packet and the payloads end to end."""

    heads: npt.NDArray[np.void]
    audio: bytes


class LegTape:
    """Appends one leg's relayed packets to two files readable by the owner only:
    ``<stem>.tape`` (headers) and ``<stem>.g711`` (payloads)."""

    def __init__(self, stem: Path) -> None:
        self.paths = (stem.with_name(stem.name + ".tape"), stem.with_name(stem.name + ".g711"))
        self._heads: BinaryIO | None = _private(self.paths[0])
        try:
            self._audio: BinaryIO | None = _private(self.paths[1])
        except OSError:
            self._heads.close()
            self.paths[0].unlink(missing_ok=True)
            raise
        self._pack = _HEAD.pack
        self.packets = 0
        self.failed = False

    def add(self, arrival: float, timestamp: int, ssrc: int, codec: str, payload: bytes) -> None:
        """One packet (called from the datagram callback: keep it cheap)."""
        heads, audio = self._heads, self._audio
        law = LAWS.get(codec)
        if heads is None or audio is None or law is None:
            return
        try:
            audio.write(payload)
            heads.write(self._pack(arrival, timestamp, ssrc, law, len(payload)))
        except OSError:  # disk full: the conversation goes on, the recording stops here
            self.failed = True
            self.close()
            return
        self.packets += 1

    def close(self) -> None:
        """No more packets; flushes what is buffered (idempotent)."""
        for file in (self._heads, self._audio):
            if file is not None:
                try:
                    file.close()
                except OSError:
                    self.failed = True
        self._heads = self._audio = None

    def remove(self) -> None:
        """Delete the tape's files."""
        self.close()
        for path in self.paths:
            path.unlink(missing_ok=True)


def read_tape(tape: LegTape) -> TapeContents:
    """A closed tape's packets in the order they came (a torn end, from a failed write, is cut
    off: only packets whose header and payload are both whole are kept)."""
    raw = tape.paths[0].read_bytes()
    heads = np.frombuffer(raw[: len(raw) - len(raw) % HEAD_DTYPE.itemsize], dtype=HEAD_DTYPE)
    audio = tape.paths[1].read_bytes()
    ends = np.cumsum(heads["length"], dtype=np.int64)
    whole = int(np.searchsorted(ends, len(audio), side="right"))
    return TapeContents(heads[:whole], audio[: int(ends[whole - 1]) if whole else 0])


__all__ = ["HEAD_DTYPE", "LAWS", "LegTape", "TapeContents", "read_tape"]
