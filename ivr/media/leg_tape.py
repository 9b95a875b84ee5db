"""A leg's relayed audio, as it came: G.711 payloads with their arrival time and RTP timestamp.

A bridge records from the pass-through relay's datagram callback, where every microsecond is
the relay's added delay; so nothing is decoded or mixed there. :meth:`LegTape.add` packs a
small header and appends it with the payload to a file opened with a large buffer: a list
append's cost, and a ``write`` system call every few seconds of audio, whatever the call's
length (memory does not grow with it). The WAV is made from the tape when the bridge ends, in
a thread (:mod:`ivr.bridge.recording`).

Each record: arrival (the loop's clock, seconds, float64), RTP timestamp and SSRC (uint32),
law (0 µ-law, 8 A-law: the RTP static payload types), payload length (uint16), then the payload.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_HEAD = struct.Struct("<dIIBH")
TAPE_BUFFER = 64 * 1024  # bytes held before a write: about 7 s of one leg's audio
LAWS = {"PCMU": 0, "PCMA": 8}


@dataclass(frozen=True)
class TapedPacket:
    """One relayed packet as the tape holds it."""

    arrival: float
    timestamp: int
    ssrc: int
    law: int
    payload: bytes


class LegTape:
    """Appends one leg's relayed packets to a file readable by the owner only."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)  # whatever the umask
        self.path = path
        self._file: BinaryIO | None = os.fdopen(fd, "wb", buffering=TAPE_BUFFER)
        self._pack = _HEAD.pack
        self.packets = 0
        self.failed = False

    def add(self, arrival: float, timestamp: int, ssrc: int, codec: str, payload: bytes) -> None:
        """One packet (called from the datagram callback: keep it cheap)."""
        file = self._file
        law = LAWS.get(codec)
        if file is None or law is None:
            return
        try:
            file.write(self._pack(arrival, timestamp, ssrc, law, len(payload)) + payload)
        except OSError:  # disk full: the conversation goes on, the recording stops here
            self.failed = True
            self._file = None
            file.close()
            return
        self.packets += 1

    def close(self) -> None:
        """No more packets; flushes what is buffered (idempotent)."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                self.failed = True


def read_tape(path: Path) -> Iterator[TapedPacket]:
    """The packets of a closed tape in the order they came (a torn last record is ignored)."""
    data = path.read_bytes()
    at, size, head = 0, len(data), _HEAD.size
    while at + head <= size:
        arrival, timestamp, ssrc, law, length = _HEAD.unpack_from(data, at)
        at += head
        if at + length > size:
            return
        yield TapedPacket(arrival, timestamp, ssrc, law, data[at : at + length])
        at += length


__all__ = ["LAWS", "LegTape", "TapedPacket", "read_tape"]
