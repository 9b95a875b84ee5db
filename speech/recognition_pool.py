"""The bounded pool where recognition runs, off the event loop, and :class:`PooledSession`,
the session base that both engines share (resampling, chunking, ordering, slot release).

Two limits, kept apart on purpose:

* ``workers`` threads do the inference (a ThreadPoolExecutor): more would only make the
  sessions of a 2-core machine thrash;
* ``max_streams`` slots bound how many sessions may be open at once. :meth:`try_acquire`
  never waits: when it returns None the dialog offers keypad input instead of delaying the
  caller.

When the model batches chunks across streams (:mod:`speech.chunk_batcher`), the pool gets
``threads`` threads, one per stream it may have open, so that every stream's chunk can be
waiting to join a batch; the batcher still runs at most ``workers`` model calls at once.

Threads, not processes: both engines are native libraries called through cffi, and cffi
releases the GIL for the duration of every foreign call. Measured here (viet-asr, call8k_1,
2.8 s of audio, about 0.3 CPU s per audio second, one core per decode): a pure-Python thread
kept running during a long native decode (longest stall 44 ms over an 8 s call on a loaded
machine; ``bench/asr.py`` prints this check), and two streams in two threads finished in
1.0 s wall against 1.3 s one after the other. Processes would each load their own copy of the
model, pin every session to one process (its decoder state lives there) and send every frame
through a pipe, for no gain in parallelism: two streams of call8k_4 side by side took
6.3-7.3 s wall in two threads and 6.8-7.0 s in two forked processes on the same (busy)
machine; either way each parallel stream costs some 20 % more CPU than a lone one.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from speech.asr import Partial, Result, SessionClosed, check_pcm
from speech.audio import StreamResampler

T = TypeVar("T")


class StreamSlot:
    """One of the pool's ``max_streams`` slots; :meth:`release` it when the session ends."""

    def __init__(self, pool: RecognitionPool) -> None:
        self._pool = pool
        self._released = False

    @property
    def released(self) -> bool:
        """Whether the slot was given back."""
        return self._released

    def release(self) -> None:
        """Give the slot back. Idempotent."""
        if not self._released:
            self._released = True
            self._pool._release()


class RecognitionPool:
    """A fixed set of inference threads plus a non-blocking counter of stream slots."""

    def __init__(
        self, *, workers: int, max_streams: int, name: str = "asr", threads: int | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, got {max_streams}")
        self.workers = workers
        self.max_streams = max_streams
        self.threads = max(workers, threads or workers)
        self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._in_use = 0

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        with self._lock:
            return self._in_use

    def try_acquire(self) -> StreamSlot | None:
        """A free slot, or None at once when all ``max_streams`` are taken."""
        with self._lock:
            if self._in_use >= self.max_streams:
                return None
            self._in_use += 1
        return StreamSlot(self)

    def _release(self) -> None:
        with self._lock:
            self._in_use -= 1

    async def run(self, fn: Callable[[], T]) -> T:
        """Run blocking ``fn`` on a pool thread and return its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def post(self, fn: Callable[[], object]) -> None:
        """Queue ``fn`` without waiting for it (clean-up from synchronous code); runs it inline
        once the pool is shut down."""
        try:
            self._executor.submit(fn)
        except RuntimeError:
            fn()

    def shutdown(self) -> None:
        """Stop the threads once queued work is done."""
        self._executor.shutdown(wait=True)


class PooledSession(ABC):
    """A recognition session whose engine calls run on a :class:`RecognitionPool` thread.

    It resamples incoming PCM to the model rate, gathers it into ``chunk_ms`` pieces (fewer,
    larger native calls cost less than one per 20 ms frame) and serialises the engine calls of
    one session. Engines implement the three blocking hooks, which always run on a pool thread
    under the session's native lock (so a close never frees a decoder that is still running).
    """

    def __init__(
        self,
        *,
        pool: RecognitionPool,
        slot: StreamSlot,
        engine: str,
        model_rate: int,
        chunk_ms: int = 100,
    ) -> None:
        if chunk_ms < 1:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms}")
        self.engine = engine
        self.model_rate = model_rate
        self._pool = pool
        self._slot = slot
        self._chunk_bytes = model_rate * 2 * chunk_ms // 1000
        self._resampler: StreamResampler | None = None
        self._pending = bytearray()
        self._duration_s = 0.0
        self._last_text = ""
        self._order = asyncio.Lock()
        self._native_lock = threading.Lock()
        self._done = False
        self._freed = False

    @abstractmethod
    def _accept(self, chunk: bytes) -> Partial | None:
        """Blocking: decode model-rate PCM; the current partial hypothesis, or None."""

    @abstractmethod
    def _peek(self, chunk: bytes) -> str:
        """Blocking: decode model-rate PCM (possibly empty) and return the current hypothesis
        of everything so far, forcing the engine to decode what it holds back."""

    @abstractmethod
    def _final(self, chunk: bytes) -> tuple[str, float | None]:
        """Blocking: decode the last PCM and return (transcript, confidence or None)."""

    @abstractmethod
    def _free(self) -> None:
        """Blocking: release native resources. Called once."""

    async def feed(self, pcm: bytes, rate: int) -> Partial | None:
        """Add 16-bit mono PCM at ``rate`` Hz; a partial when the hypothesis changed."""
        check_pcm(pcm, rate)
        async with self._order:
            if self._done:
                raise SessionClosed(f"{self.engine}: session already finished or closed")
            self._pending += self._to_model_rate(pcm, rate)
            self._duration_s += len(pcm) / 2 / rate
            if len(self._pending) < self._chunk_bytes:
                return None
            chunk = bytes(self._pending)
            self._pending.clear()
            partial = await self._pool.run(lambda: self._locked(self._accept, chunk))
        if partial is None or (partial.text == self._last_text and not partial.endpoint):
            return None
        self._last_text = partial.text
        return partial

    async def hypothesis(self) -> str:
        """The transcript of everything fed so far; the session goes on. Audio still waiting
        to fill a chunk is decoded first."""
        async with self._order:
            if self._done:
                raise SessionClosed(f"{self.engine}: session already finished or closed")
            chunk = bytes(self._pending)
            self._pending.clear()
            return await self._pool.run(lambda: self._locked(self._peek, chunk))

    async def finish(self) -> Result:
        """The final transcript; the session is closed afterwards."""
        async with self._order:
            if self._done:
                raise SessionClosed(f"{self.engine}: session already finished or closed")
            tail = bytes(self._pending) + (self._resampler.flush() if self._resampler else b"")
            self._pending.clear()
            try:
                text, confidence = await self._pool.run(lambda: self._locked(self._final, tail))
            finally:
                self.close()
        return Result(
            text=text, confidence=confidence, duration_s=self._duration_s, engine=self.engine
        )

    def close(self) -> None:
        """Release the slot now and the native decoder on a pool thread. Idempotent."""
        if self._done:
            return
        self._done = True
        self._slot.release()
        self._pool.post(self._free_once)

    def _free_once(self) -> None:
        with self._native_lock:
            if not self._freed:
                self._freed = True
                self._free()

    def _locked(self, fn: Callable[..., T], *args: bytes) -> T:
        # A call queued before a close may reach a thread after the decoder was freed.
        with self._native_lock:
            if self._freed:
                raise SessionClosed(f"{self.engine}: session closed while audio was queued")
            return fn(*args)

    def _to_model_rate(self, pcm: bytes, rate: int) -> bytes:
        # One resampler per input rate; a rate change mid-stream flushes the old filter.
        out = b""
        if self._resampler is None or self._resampler.rate_in != rate:
            if self._resampler is not None:
                out = self._resampler.flush()
            self._resampler = StreamResampler(rate, self.model_rate)
        return out + self._resampler.process(pcm)
