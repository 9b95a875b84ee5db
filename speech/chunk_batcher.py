"""Many callers' chunks decoded together: one batched model call instead of one call each.

A model call on a batch of B chunks costs less per chunk than B calls of one (measured on the
viet-asr model in onnxruntime, one thread: 31 ms of CPU for one chunk alone, about 26 ms each
in batches of 16), and under load the calls that wait for a free core are the ones that can be
joined. :class:`ChunkBatcher` does that without timers: a thread that submits a chunk while
fewer than ``concurrency`` batches are running takes everything queued (up to ``max_batch``)
and runs it as one call; a thread that finds every runner busy waits, and its chunk rides in
the next batch some other thread runs. A lone caller on a quiet machine therefore runs its
chunk at once, alone, with no delay added; a busy machine runs fewer, larger calls.

Urgent chunks (the last chunk of an utterance, whose result the dialog is waiting for) go to
the front of the queue, and when every runner is busy they have a lane of their own: one more
call may run, of urgent chunks only. A decision then waits neither behind a backlog of streaming
chunks nor for a batch of 16 to finish (some 0.4 s on a busy core); the lane's call shares the
cores for a few tens of milliseconds.

The batcher knows nothing of the model: ``run_batch`` receives the queued items and returns
one result per item, in order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Out = TypeVar("Out")


class _Request(Generic[Item, Out]):
    __slots__ = ("done", "error", "item", "result", "urgent")

    def __init__(self, item: Item, urgent: bool) -> None:
        self.item = item
        self.urgent = urgent
        self.done = False
        self.result: Out | None = None
        self.error: BaseException | None = None


class ChunkBatcher(Generic[Item, Out]):
    """Joins concurrent :meth:`submit` calls from many threads into batched ``run_batch`` calls.

    At most ``concurrency`` batches run at once (one per core given to recognition), plus one of
    urgent items when those are all busy; a batch holds at most ``max_batch`` items. Counters:
    ``calls`` (batched runs) and ``items``.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Sequence[Out]],
        *,
        max_batch: int,
        concurrency: int,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.calls = 0
        self.items = 0
        self._run_batch = run_batch
        self._cond = threading.Condition()
        self._queue: list[_Request[Item, Out]] = []
        self._running = 0
        self._lane_busy = False  # the urgent lane's call is running

    @property
    def mean_batch(self) -> float:
        """Items per batched call so far (0 before the first)."""
        with self._cond:
            return self.items / self.calls if self.calls else 0.0

    def submit(self, item: Item, *, urgent: bool = False) -> Out:
        """Blocking: ``item``'s result, computed in some batch (possibly run by this thread)."""
        request: _Request[Item, Out] = _Request(item, urgent)
        with self._cond:
            if urgent:
                # Behind earlier urgent items, ahead of the streaming ones.
                at = next((i for i, r in enumerate(self._queue) if not r.urgent), len(self._queue))
                self._queue.insert(at, request)
            else:
                self._queue.append(request)
        while True:
            with self._cond:
                while not request.done and not self._may_run():
                    self._cond.wait()
                if request.done:
                    break
                lane = self._running >= self.concurrency
                if lane:  # every runner busy: urgent items only, in the lane
                    size = 0
                    while size < min(len(self._queue), self.max_batch) and self._queue[size].urgent:
                        size += 1
                    self._lane_busy = True
                else:
                    size = min(len(self._queue), self.max_batch)
                    self._running += 1
                batch = self._queue[:size]
                del self._queue[:size]
                self.calls += 1
                self.items += len(batch)
            try:
                self._execute(batch)
            finally:
                with self._cond:
                    if lane:
                        self._lane_busy = False
                    else:
                        self._running -= 1
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def _may_run(self) -> bool:
        if not self._queue:
            return False
        if self._running < self.concurrency:
            return True
        return self._queue[0].urgent and not self._lane_busy

    def _execute(self, batch: list[_Request[Item, Out]]) -> None:
        try:
            results = self._run_batch([r.item for r in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch gave {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # every waiter of this batch gets the error
            for r in batch:
                r.error, r.done = exc, True
            return
        for r, out in zip(batch, results, strict=True):
            r.result, r.done = out, True
