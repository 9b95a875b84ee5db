"""Virtual time for the media clock: tests advance it by hand, nothing waits on the wall clock.

``advance(s)`` wakes every sleeper whose deadline falls within the next ``s`` seconds, in deadline
order, letting the woken tasks run before the next; ``stall(s)`` moves time on with nobody woken,
as a loop blocked by a long call would.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

_SETTLE_ROUNDS = 5  # loop passes that let a woken task run up to its next sleep
_SAME_MOMENT_S = 1e-9  # deadlines this close to the target are due (float rounding)


class VirtualTimer:
    """A :class:`ivr.media.clock.MediaTimer` whose time moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    async def sleep(self, delay_s: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay_s), next(self._order), future))
        await future

    async def settle(self) -> None:
        """Let tasks that are ready run (a started clock reaches its first sleep)."""
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, waking each sleeper at its own deadline."""
        target = self.now + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target + _SAME_MOMENT_S:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not future.done():
                future.set_result(None)
            await self.settle()
        self.now = target

    def stall(self, seconds: float) -> None:
        """Time passes and nobody wakes: the loop was blocked for ``seconds``."""
        self.now += seconds
