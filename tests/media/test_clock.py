"""The media clock on virtual time: no drift, catch-up bursts, skips, bad streams.

Time is injected (:class:`tests.media.virtual_time.VirtualTimer`), so every figure is exact and
no test waits on the wall clock; one test still runs the clock on the real loop's time.
"""

from __future__ import annotations

import asyncio

from ivr.media.clock import MediaClock
from tests.media.virtual_time import VirtualTimer


class Counter:
    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock
        self.times: list[float] = []

    def tick(self) -> None:
        self.times.append(self.clock.now)


class Broken:
    def tick(self) -> None:
        raise RuntimeError("broken stream")


def _clock(timer: VirtualTimer, **kwargs: float) -> MediaClock:
    return MediaClock(period_s=0.01, timer=timer, **kwargs)  # type: ignore[arg-type]


async def test_ticks_follow_absolute_deadlines() -> None:
    timer = VirtualTimer()
    clock = _clock(timer, max_burst=1000)
    a, b = Counter(clock), Counter(clock)
    clock.register(a)
    clock.register(b)
    start = timer.now
    clock.start()
    await timer.advance(0.5)
    await clock.close()
    # Absolute deadlines: exactly one tick per elapsed period, each on its own deadline.
    assert len(a.times) == 50
    assert a.times == b.times
    assert all(abs(t - (start + 0.01 * (n + 1))) < 1e-9 for n, t in enumerate(a.times))
    assert clock.stats.ticks == 50
    assert clock.stats.lateness_max_s < 1e-9
    assert not clock.running


async def test_stall_is_caught_up_in_a_burst() -> None:
    timer = VirtualTimer()
    clock = _clock(timer, max_burst=10)
    counter = Counter(clock)
    clock.register(counter)
    clock.start()
    await timer.advance(0.05)
    timer.stall(0.06)  # the loop is blocked for six periods
    await timer.advance(0.1)
    await clock.close()
    stats = clock.stats
    # The six periods due during the stall are ticked together at the first wake-up after it:
    # the one it was waiting for, five more to catch up; that wake-up was 50 ms late.
    assert stats.catch_up_ticks == 5
    assert abs(stats.lateness_max_s - 0.05) < 1e-6
    assert stats.skipped == 0
    assert stats.ticks == 21 == len(counter.times)


async def test_long_stall_skips_beyond_burst() -> None:
    timer = VirtualTimer()
    clock = _clock(timer, max_burst=2)
    counter = Counter(clock)
    clock.register(counter)
    clock.start()
    await timer.advance(0.03)
    before = len(counter.times)
    timer.stall(0.1)
    await timer.advance(0.005)
    await clock.close()
    # Ten periods were missed: two are ticked in the burst, eight skipped for good.
    assert clock.stats.skipped == 8
    burst = counter.times[before:]
    assert len(burst) == 2 and burst[0] == burst[1]


async def test_failing_stream_is_dropped_others_go_on() -> None:
    timer = VirtualTimer()
    clock = _clock(timer)
    good = Counter(clock)
    clock.register(Broken())
    clock.register(good)
    clock.start()
    await timer.advance(0.1)
    await clock.close()
    assert clock.stats.errors == 1
    assert clock.stats.streams == 1
    assert len(good.times) == 10


async def test_unregister_stops_ticks() -> None:
    timer = VirtualTimer()
    clock = _clock(timer)
    counter = Counter(clock)
    clock.register(counter)
    clock.start()
    await timer.advance(0.05)
    clock.unregister(counter)
    clock.unregister(counter)
    count = len(counter.times)
    await timer.advance(0.05)
    await clock.close()
    assert count == 5
    assert len(counter.times) == count


async def test_real_loop_time_by_default() -> None:
    clock = MediaClock(period_s=0.01, max_burst=1000)
    counter = Counter(clock)
    clock.register(counter)
    loop = asyncio.get_running_loop()
    start = loop.time()
    clock.start()
    await asyncio.sleep(0.2)
    elapsed = loop.time() - start
    await clock.close()
    assert abs(len(counter.times) - elapsed / 0.01) <= 2
    assert 0 <= loop.time() - clock.now < 0.05
