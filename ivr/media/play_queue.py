"""A stream's playback queue: the audio waiting to be sent, encoded a second at a time."""

from __future__ import annotations

import asyncio
from collections import deque

from ivr.media.codec import FRAME_SAMPLES, LINE_RATE, Codec

ENCODE_AHEAD_SAMPLES = LINE_RATE  # a playing prompt is encoded one second at a time


class _Play:
    """One queued piece of audio. It is encoded a second at a time as it plays, so a long
    prompt never holds the event loop for more than some tens of microseconds at once, and a
    codec change mid-prompt takes effect at the next packet."""

    __slots__ = ("codec", "encoded", "encoded_from", "future", "offset", "pcm", "samples")

    def __init__(self, pcm: bytes, future: asyncio.Future[bool]) -> None:
        self.pcm = pcm
        self.samples = len(pcm) // 2
        self.future = future
        self.offset = 0  # samples sent
        self.codec = ""
        self.encoded = b""  # one byte per sample, from sample ``encoded_from``
        self.encoded_from = 0


class PlayQueue(deque[_Play]):
    """The pieces of audio queued on a stream, first one playing. A deque itself, so that the
    clock's per-tick "anything to play?" stays a C-level truth test."""

    __slots__ = ()

    def add(self, pcm: bytes, future: asyncio.Future[bool]) -> None:
        """Queue 16-bit PCM (non-empty, whole samples); `future` becomes True once it was sent."""
        self.append(_Play(pcm, future))

    def next_frame(self, codec: Codec, silence: bytes) -> bytes | None:
        """The next 20 ms of the first item in `codec` (its tail padded from `silence`, the
        codec's silent frame), or None when nothing is left to play. Items whose future is
        done (cancelled by their owner) are skipped; a finished item's future becomes True."""
        while self:
            item = self[0]
            if item.future.done():  # cancelled by its owner
                self.popleft()
                continue
            start = item.offset
            rel = start - item.encoded_from
            if item.codec != codec.name or rel >= len(item.encoded):
                ahead = item.pcm[2 * start : 2 * (start + ENCODE_AHEAD_SAMPLES)]
                item.encoded = codec.encode(ahead)
                item.encoded_from = start
                item.codec = codec.name
                rel = 0
            chunk = item.encoded[rel : rel + FRAME_SAMPLES]
            item.offset = start + FRAME_SAMPLES
            if len(chunk) < FRAME_SAMPLES:
                chunk += silence[: FRAME_SAMPLES - len(chunk)]
            if item.offset >= item.samples:
                self.popleft()
                item.future.set_result(True)
            return chunk
        return None

    def stop(self) -> None:
        """Drop everything queued or playing; their futures become False."""
        plays = list(self)
        self.clear()
        for item in plays:
            if not item.future.done():
                item.future.set_result(False)
