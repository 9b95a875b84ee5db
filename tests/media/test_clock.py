"""The media clock on the real event loop: no drift, catch-up bursts, skips, bad streams."""

from __future__ import annotations

import asyncio
import time

from ivr.media.clock import MediaClock


class Counter:
    def __init__(self) -> None:
        self.times: list[float] = []

    def tick(self) -> None:
        self.times.append(asyncio.get_running_loop().time())


class Broken:
    def tick(self) -> None:
        raise RuntimeError("broken stream")


async def test_ticks_follow_absolute_deadlines() -> None:
    clock = MediaClock(period_s=0.01, max_burst=1000)  # never skip: every period is ticked
    a, b = Counter(), Counter()
    clock.register(a)
    clock.register(b)
    loop = asyncio.get_running_loop()
    start = loop.time()
    clock.start()
    await asyncio.sleep(0.5)
    elapsed = loop.time() - start
    await clock.close()
    # Absolute deadlines: the count matches elapsed time, not elapsed time minus overheads.
    assert abs(len(a.times) - elapsed / 0.01) <= 2
    assert len(a.times) == len(b.times)
    assert clock.stats.ticks == len(a.times)
    # Streams read the wake-up time from the clock instead of asking the loop each.
    assert 0 <= a.times[-1] - clock.now < 0.005
    assert not clock.running


async def test_stall_is_caught_up_in_a_burst() -> None:
    clock = MediaClock(period_s=0.01, max_burst=10)
    counter = Counter()
    clock.register(counter)
    loop = asyncio.get_running_loop()
    start = loop.time()
    clock.start()
    await asyncio.sleep(0.05)
    time.sleep(0.06)  # block the loop for six periods
    await asyncio.sleep(0.1)
    elapsed = loop.time() - start
    await clock.close()
    stats = clock.stats
    assert stats.catch_up_ticks >= 4
    assert stats.lateness_max_s >= 0.04
    # Every period of the grid was either ticked or (only under extreme load) skipped.
    assert abs(stats.ticks + stats.skipped - elapsed / 0.01) <= 2
    assert len(counter.times) == stats.ticks


async def test_long_stall_skips_beyond_burst() -> None:
    clock = MediaClock(period_s=0.01, max_burst=2)
    counter = Counter()
    clock.register(counter)
    clock.start()
    await asyncio.sleep(0.03)
    before = len(counter.times)
    time.sleep(0.1)
    await asyncio.sleep(0.005)
    await clock.close()
    assert clock.stats.skipped >= 6
    # Right after the stall at most max_burst ticks ran together.
    burst = [t for t in counter.times[before:] if t - counter.times[before] < 0.001]
    assert len(burst) <= 2


async def test_failing_stream_is_dropped_others_go_on() -> None:
    clock = MediaClock(period_s=0.01)
    good = Counter()
    clock.register(Broken())
    clock.register(good)
    clock.start()
    await asyncio.sleep(0.1)
    await clock.close()
    assert clock.stats.errors == 1
    assert clock.stats.streams == 1
    assert len(good.times) >= 3


async def test_unregister_stops_ticks() -> None:
    clock = MediaClock(period_s=0.01)
    counter = Counter()
    clock.register(counter)
    clock.start()
    await asyncio.sleep(0.05)
    clock.unregister(counter)
    clock.unregister(counter)
    count = len(counter.times)
    await asyncio.sleep(0.05)
    await clock.close()
    assert len(counter.times) == count
