"""A leg's relayed audio, as it came: G.711 payloads with their arrival time and RTP timestamp.

A bridge records from the pass-through relay's datagram callback, where every microsecond is
the relay's added delay; so nothing is decoded, mixed or written to disk there.
:meth:`LegTape.add` appends a packed fixed-size header and the payload to two in-memory
buffers; when they hold :data:`TAPE_BUFFER` bytes of audio (about 8 s) the tape hands them to
its ``on_full`` callback, which gives them to a thread that appends them to the tape's files
(:meth:`LegTape.append`). So the event loop never waits for a disk (a write under dirty-page
throttling can take tens of milliseconds) and memory does not grow with the call. The WAV is
made from the files when the bridge ends, in that thread (:mod:`ivr.bridge.recording`);
fixed-size headers let it read the whole tape as arrays.

Each header (``<stem>.tape``): arrival (the loop's clock, seconds, float64), RTP timestamp and
SSRC (uint32), law (0 µ-law, 8 A-law: the RTP static payload types), payload length (uint16).
The payloads follow one another in ``<stem>.g711``. Both files are created owner-only (0600).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

_HEAD = struct.Struct("<dIIBH")
HEAD_DTYPE = np.dtype(
    [("arrival", "<f8"), ("timestamp", "<u4"), ("ssrc", "<u4"), ("law", "u1"), ("length", "<u2")]
)
TAPE_BUFFER = 64 * 1024  # bytes of audio held in memory before they go to the file: ~8 s
LAWS = {"PCMU": 0, "PCMA": 8}


@dataclass(frozen=True)
class TapeContents:
    """A closed tape: one header per packet and the payloads end to end."""

    heads: npt.NDArray[np.void]
    audio: bytes


class LegTape:
    """One leg's relayed packets: buffered in memory by the event loop, appended to two
    files (``<stem>.tape`` headers, ``<stem>.g711`` payloads) by a thread."""

    def __init__(self, stem: Path, *, on_full: Callable[[LegTape], None] | None = None) -> None:
        """``on_full`` is called (from :meth:`add`) when the buffers should go to the files:
        it takes them with :meth:`take` and has :meth:`append` run in a thread."""
        self.paths = (stem.with_name(stem.name + ".tape"), stem.with_name(stem.name + ".g711"))
        self._heads = bytearray()
        self._audio = bytearray()
        self._on_full = on_full
        self._pack = _HEAD.pack
        self.closed = False
        self.failed = False
        self.packets = 0

    def add(self, arrival: float, timestamp: int, ssrc: int, codec: str, payload: bytes) -> None:
        """One packet (called from the datagram callback: keep it cheap)."""
        law = LAWS.get(codec)
        if self.closed or law is None:
            return
        self._audio += payload
        self._heads += self._pack(arrival, timestamp, ssrc, law, len(payload))
        self.packets += 1
        if len(self._audio) >= TAPE_BUFFER and self._on_full is not None:
            self._on_full(self)

    def take(self) -> tuple[bytearray, bytearray]:
        """The buffered headers and payloads, which the tape forgets (on the loop's thread,
        or any thread once the tape is closed)."""
        heads, audio = self._heads, self._audio
        self._heads, self._audio = bytearray(), bytearray()
        return heads, audio

    def close(self) -> None:
        """No more packets (idempotent)."""
        self.closed = True

    def append(self, heads: bytes | bytearray, audio: bytes | bytearray) -> None:
        """Append what :meth:`take` gave to the files, creating them owner-only (in a thread:
        this is disk I/O). After a failed write (disk full) nothing more is appended: the
        recording keeps what was whole."""
        if self.failed:
            return
        try:
            for path, data in zip(self.paths, (heads, audio), strict=True):
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                os.fchmod(fd, 0o600)  # whatever the umask
                with os.fdopen(fd, "ab") as file:
                    file.write(data)
        except OSError:
            self.failed = True
            raise

    def remove(self) -> None:
        """Delete the tape's files."""
        self.close()
        for path in self.paths:
            path.unlink(missing_ok=True)


def read_tape(tape: LegTape) -> TapeContents:
    """A tape's packets from its files, in the order they came (a torn end, from a failed
    write, is cut off: only packets whose header and payload are both whole are kept)."""
    try:
        raw = tape.paths[0].read_bytes()
        audio = tape.paths[1].read_bytes()
    except FileNotFoundError:
        raw = audio = b""
    heads = np.frombuffer(raw[: len(raw) - len(raw) % HEAD_DTYPE.itemsize], dtype=HEAD_DTYPE)
    ends = np.cumsum(heads["length"], dtype=np.int64)
    whole = int(np.searchsorted(ends, len(audio), side="right"))
    return TapeContents(heads[:whole], audio[: int(ends[whole - 1]) if whole else 0])


__all__ = ["HEAD_DTYPE", "LAWS", "TAPE_BUFFER", "LegTape", "TapeContents", "read_tape"]
