"""Inbound reorder buffer: puts RTP packets back in sequence order.

Deliberately small (a few packets): an IVR does not play the caller's audio to anyone, so a
few tens of milliseconds of reordering is all that is worth waiting for. Sequence numbers are
extended past the 16-bit wrap internally, so a call can last any length of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from ivr.media.rtp import seq_delta

T = TypeVar("T")

RESET_DISTANCE = 3000  # a jump this far (60 s of packets) is a restarted sender, not loss


@dataclass
class JitterStats:
    """What the buffer saw: packets given up on, arriving too late, arriving twice, restarts."""

    lost: int = 0
    late: int = 0
    duplicate: int = 0
    resets: int = 0


class ReorderBuffer(Generic[T]):
    """Holds up to ``depth`` packets while waiting for a missing one, then gives up on it.

    :meth:`push` returns the items that are now in order (possibly none, possibly several).
    Duplicates and packets older than what was already released are dropped and counted.
    """

    def __init__(self, depth: int = 3, history: int = 64) -> None:
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.depth = depth
        self.stats = JitterStats()
        self._next: int | None = None  # extended sequence number expected next
        self._held: dict[int, T] = {}
        # Ring of recently released sequence numbers, to tell a duplicate from a late packet.
        self._history = history
        self._released: list[int] = [-1] * history

    @property
    def pending(self) -> int:
        """Number of packets held back waiting for a gap to fill."""
        return len(self._held)

    def push(self, sequence: int, item: T) -> list[T]:
        """Offer one packet by its 16-bit sequence number; returns what is ready, in order."""
        if self._next is None:
            self._next = sequence
        nxt = self._next
        if not self._held and sequence == nxt & 0xFFFF:  # the usual case: next in line
            self._released[nxt % self._history] = nxt
            self._next = nxt + 1
            return [item]
        ext = nxt + seq_delta(sequence, nxt & 0xFFFF)
        out: list[T] = []
        if ext < self._next:
            if self._next - ext <= RESET_DISTANCE:
                if self._released[ext % self._history] == ext:
                    self.stats.duplicate += 1
                else:
                    self.stats.late += 1
                return out
            out = self._restart(ext)
        elif ext - self._next > RESET_DISTANCE:
            out = self._restart(ext)
        if ext in self._held:
            self.stats.duplicate += 1
            return out
        self._held[ext] = item
        self._release_run(out)
        while len(self._held) > self.depth:
            oldest = min(self._held)
            self.stats.lost += oldest - self._next
            self._next = oldest
            self._release_run(out)
        return out

    def flush(self) -> list[T]:
        """Release everything held, in order, counting the gaps between them as lost."""
        out: list[T] = []
        while self._held:
            assert self._next is not None
            oldest = min(self._held)
            self.stats.lost += oldest - self._next
            self._next = oldest
            self._release_run(out)
        return out

    def restart(self) -> list[T]:
        """Release what is held and forget the sequence (the sender changed SSRC): the next
        packet starts a new sequence. Counted in ``stats.resets``."""
        out = self.flush()
        self.stats.resets += 1
        self._next = None
        self._released = [-1] * self._history
        return out

    def _restart(self, ext: int) -> list[T]:
        out = self.flush()
        self.stats.resets += 1
        self._next = ext
        self._released = [-1] * self._history
        return out

    def _release_run(self, out: list[T]) -> None:
        assert self._next is not None
        while self._next in self._held:
            out.append(self._held.pop(self._next))
            self._released[self._next % self._history] = self._next
            self._next += 1
