"""One 20 ms scheduler for every call's media.

A single asyncio task wakes at absolute deadlines ``start + n * period`` (the injected
:class:`MediaTimer`, the loop's clock by default), so
timing errors never accumulate: a late wake-up delays one period, not all the following ones.
On every period it calls ``tick()`` on each registered stream, which sends one packet.

When the loop was late by more than one period (a blocking call, a busy machine), the missed
periods are caught up at once, in a burst of at most ``max_burst`` ticks: the peer's jitter
buffer absorbs a short burst and the audio keeps its pace. Periods beyond that burst are
skipped (counted in ``stats.skipped``): those ticks never happen, so streams resume where they
stopped; the peer sees this as a delay spike rather than as lost audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

PERIOD_S = 0.020
LATENESS_WINDOW = 3000  # recent wake-ups kept for percentiles (one minute at 20 ms)
_DEADLINE_EPSILON = 1e-6  # of a period


class MediaTimer(Protocol):
    """Where the clock's time comes from: the event loop's monotonic clock in production, a
    virtual clock in tests (``tests/media/virtual_time.py``), so no test waits on the wall."""

    def time(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Return once ``delay_s`` seconds of this clock have passed."""
        ...


class LoopTimer:
    """The running event loop's clock (``loop.time()``, ``asyncio.sleep``)."""

    def time(self) -> float:
        """``loop.time()`` of the running loop."""
        return asyncio.get_running_loop().time()

    async def sleep(self, delay_s: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(delay_s)


class Tickable(Protocol):
    """Anything driven by the clock: called once per period, must not block."""

    def tick(self) -> None: ...


@dataclass(frozen=True)
class ClockStats:
    """A snapshot of the scheduler's health. Lateness is wake-up time minus deadline; tick cost
    is the time one wake-up spent ticking every stream (the share of each period in use)."""

    ticks: int
    skipped: int
    catch_up_ticks: int
    errors: int
    streams: int
    lateness_p50_s: float
    lateness_p99_s: float
    lateness_max_s: float
    tick_cost_p50_s: float
    tick_cost_p99_s: float
    tick_cost_max_s: float


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class MediaClock:
    """Drives every registered stream once per ``period_s`` from one asyncio task."""

    def __init__(
        self, *, period_s: float = PERIOD_S, max_burst: int = 3, timer: MediaTimer | None = None
    ) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, got {period_s}")
        if max_burst < 1:
            raise ValueError(f"max_burst must be at least 1, got {max_burst}")
        self.period_s = period_s
        self.max_burst = max_burst
        self.timer: MediaTimer = timer or LoopTimer()
        self._streams: dict[int, Tickable] = {}
        self._snapshot: tuple[Tickable, ...] = ()
        self._task: asyncio.Task[None] | None = None
        # loop.time() at the current wake-up: streams read it instead of each asking the loop.
        self.now = 0.0
        self._ticks = 0
        self._skipped = 0
        self._catch_up = 0
        self._errors = 0
        self._lateness: deque[float] = deque(maxlen=LATENESS_WINDOW)
        self._lateness_max = 0.0
        self._costs: deque[float] = deque(maxlen=LATENESS_WINDOW)
        self._cost_max = 0.0

    @property
    def running(self) -> bool:
        """True while the scheduling task is alive."""
        return self._task is not None and not self._task.done()

    def register(self, stream: Tickable) -> None:
        """Start ticking ``stream`` from the next period on."""
        self._streams[id(stream)] = stream
        self._snapshot = tuple(self._streams.values())

    def unregister(self, stream: Tickable) -> None:
        """Stop ticking ``stream``. Unknown streams are ignored."""
        if self._streams.pop(id(stream), None) is not None:
            self._snapshot = tuple(self._streams.values())

    def start(self) -> None:
        """Start the scheduling task on the running loop (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="media-clock")

    def stop(self) -> None:
        """Cancel the scheduling task. Registered streams stay registered."""
        if self._task is not None:
            self._task.cancel()

    async def close(self) -> None:
        """Stop and wait until the task has ended."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def stats(self) -> ClockStats:
        """Counters and lateness figures over the last minute of wake-ups."""
        recent = list(self._lateness)
        costs = list(self._costs)
        return ClockStats(
            ticks=self._ticks,
            skipped=self._skipped,
            catch_up_ticks=self._catch_up,
            errors=self._errors,
            streams=len(self._snapshot),
            lateness_p50_s=_percentile(recent, 0.50),
            lateness_p99_s=_percentile(recent, 0.99),
            lateness_max_s=self._lateness_max,
            tick_cost_p50_s=_percentile(costs, 0.50),
            tick_cost_p99_s=_percentile(costs, 0.99),
            tick_cost_max_s=self._cost_max,
        )

    async def _run(self) -> None:
        timer = self.timer
        period = self.period_s
        start = timer.time()
        done = 0  # index of the last period ticked; period n is due at start + n * period
        while True:
            delay = start + (done + 1) * period - timer.time()
            if delay > 0:
                await timer.sleep(delay)
            now = self.now = timer.time()
            # A wake-up exactly on a deadline counts as on it, whatever the float rounding.
            due = int((now - start) / period + _DEADLINE_EPSILON)
            if due <= done:  # woke a hair early: sleep the remainder
                continue
            lateness = now - (start + (done + 1) * period)
            self._lateness.append(lateness)
            self._lateness_max = max(self._lateness_max, lateness)
            if due - done > self.max_burst:
                self._skipped += due - done - self.max_burst
                done = due - self.max_burst
            self._catch_up += due - done - 1
            while done < due:
                done += 1
                self._tick_all()
            cost = timer.time() - now  # all the ticks of this wake-up, catch-up included
            self._costs.append(cost)
            self._cost_max = max(self._cost_max, cost)

    def _tick_all(self) -> None:
        self._ticks += 1
        for stream in self._snapshot:
            try:
                stream.tick()
            except Exception:  # one broken stream must not silence every other call
                self._errors += 1
                log.exception("media tick failed; unregistering the stream")
                self.unregister(stream)
