"""The caller's audio frames as an async iterator: one per reader, bounded, dropped weakly."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

FRAME_QUEUE_LIMIT = 250  # frames (5 s) buffered per reader before the oldest are dropped


class FrameReader:
    """An async iterator over the caller's audio frames from the moment it was created.

    Ends when the stream closes. Call :meth:`aclose` to stop early, or just drop it: the
    stream holds readers weakly. A reader that is kept but not read holds at most five
    seconds of frames, dropping the oldest.
    """

    def __init__(self, on_close: Callable[[FrameReader], None]) -> None:
        self._on_close = on_close  # the stream forgets the reader
        self._queue: deque[bytes | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._done = False

    def __aiter__(self) -> FrameReader:
        return self

    async def __anext__(self) -> bytes:
        while not self._queue:
            if self._done:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        frame = self._queue.popleft()
        if frame is None:
            self._done = True
            raise StopAsyncIteration
        return frame

    async def aclose(self) -> None:
        """Stop receiving frames; iteration ends."""
        self._on_close(self)
        self.finish()

    def push(self, frame: bytes) -> bool:
        """Queue a frame (the stream's side); True when the oldest had to be dropped."""
        dropped = len(self._queue) >= FRAME_QUEUE_LIMIT
        if dropped:
            self._queue.popleft()
        self._queue.append(frame)
        self._wake()
        return dropped

    def finish(self) -> None:
        """No more frames: iteration ends once the queue is read (the stream's side)."""
        if not self._done:
            self._queue.append(None)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
