"""The bounded pool: slots never wait, work runs on at most ``workers`` threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from speech.recognition_pool import RecognitionPool


def test_slots_are_counted_and_never_wait() -> None:
    pool = RecognitionPool(workers=1, max_streams=2)
    try:
        first, second = pool.try_acquire(), pool.try_acquire()
        assert first is not None and second is not None
        started = time.monotonic()
        assert pool.try_acquire() is None
        assert time.monotonic() - started < 0.05
        assert pool.in_use == 2
        first.release()
        first.release()  # idempotent: releasing twice frees one slot only
        assert pool.in_use == 1
        third = pool.try_acquire()
        assert third is not None and pool.try_acquire() is None
    finally:
        pool.shutdown()


def test_slot_counter_is_thread_safe() -> None:
    pool = RecognitionPool(workers=1, max_streams=50)
    won: list[object] = []

    def grab() -> None:
        for _ in range(20):
            slot = pool.try_acquire()
            if slot is not None:
                won.append(slot)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.shutdown()
    assert len(won) == 50
    assert pool.in_use == 50


async def test_work_runs_off_the_loop_on_bounded_threads() -> None:
    pool = RecognitionPool(workers=2, max_streams=8, name="asr-test")
    lock = threading.Lock()
    running, peak, names = 0, 0, set()
    loop_thread = threading.get_ident()

    def job() -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            names.add(threading.current_thread().name)
        time.sleep(0.05)
        with lock:
            running -= 1
        return threading.get_ident()

    try:
        idents = await asyncio.gather(*(pool.run(job) for _ in range(6)))
    finally:
        pool.shutdown()
    assert loop_thread not in idents
    assert peak == 2
    assert all(name.startswith("asr-test") for name in names)


async def test_errors_come_back_to_the_caller() -> None:
    pool = RecognitionPool(workers=1, max_streams=1)

    def boom() -> None:
        raise KeyError("native failure")

    try:
        with pytest.raises(KeyError, match="native failure"):
            await pool.run(boom)
    finally:
        pool.shutdown()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        RecognitionPool(workers=0, max_streams=1)
    with pytest.raises(ValueError, match="max_streams"):
        RecognitionPool(workers=1, max_streams=0)
