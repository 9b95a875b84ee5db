"""A virtual clock for the transaction state machines: no sleeps in tests."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Entry:
    when: float
    seq: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[_Entry] = []
        self._seq = 0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Entry:
        self._seq += 1
        entry = _Entry(self.now + delay, self._seq, callback)
        heapq.heappush(self._queue, entry)
        return entry

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._queue and self._queue[0].when <= end:
            entry = heapq.heappop(self._queue)
            self.now = entry.when
            if not entry.cancelled:
                entry.callback()
        self.now = end
