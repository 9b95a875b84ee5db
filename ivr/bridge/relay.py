"""Two calls joined: each one's decoded audio queued on the other, on the one media clock.

Digits pressed on either side are sent to the other as RFC 4733 events. Frames are decoded
from one leg's codec and encoded in the other's by their streams, so a PCMA
caller and a PCMU officer hear each other with no extra step. At most
:data:`MAX_QUEUED_FRAMES` wait on the way: when a leg's packets arrive faster than the clock
sends (a burst after a stall, a clock drifting), the oldest are dropped, so the delay a relay
adds never builds up beyond that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from ivr.call import Call

log = logging.getLogger(__name__)

MAX_QUEUED_FRAMES = 3  # 60 ms: a bounded added delay
DIGIT_POLL_S = 0.5  # how often a digit watcher checks that both calls still live


@dataclass
class RelayStats:
    """Frames relayed and dropped in one direction."""

    relayed: int = 0
    dropped: int = 0
    digits: int = 0


async def relay(source: Call, target: Call, stats: RelayStats) -> None:
    """Queue every frame `source` receives on `target` until either call ends."""
    pending: deque[asyncio.Future[bool]] = deque()
    async for frame in source.stream.frames():
        if target.ended:
            return
        while pending and pending[0].done():
            pending.popleft()
        if len(pending) >= MAX_QUEUED_FRAMES:
            stale = pending.popleft()
            stale.cancel()  # the stream skips a play whose future is done
            stats.dropped += 1
        pending.append(target.stream.play(frame))
        stats.relayed += 1


async def pass_digits(source: Call, target: Call, stats: RelayStats) -> None:
    """Digits `source` presses (RFC 4733, INFO or in-band) sent to `target` as RFC 4733 events."""
    while not (source.ended or target.ended):
        digit = await source.next_digit(DIGIT_POLL_S)
        if digit is not None and target.stream.send_digit(digit):
            stats.digits += 1


async def bridge(caller: Call, officer: Call) -> tuple[RelayStats, RelayStats]:
    """Join the two calls until one ends, then hang up the other. Returns the (caller→officer,
    officer→caller) statistics."""
    up, down = RelayStats(), RelayStats()
    tasks = [
        asyncio.create_task(relay(caller, officer, up)),
        asyncio.create_task(relay(officer, caller, down)),
        asyncio.create_task(pass_digits(caller, officer, up)),
        asyncio.create_task(pass_digits(officer, caller, down)),
    ]
    try:
        while not (caller.ended or officer.ended):
            await asyncio.wait(tasks, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for call in (caller, officer):
            if not call.ended:
                with contextlib.suppress(Exception):
                    await call.hangup()
    log.info(
        "bridge %s ended: %d/%d frames relayed, %d/%d dropped",
        caller.info.call_id[:12],
        up.relayed,
        down.relayed,
        up.dropped,
        down.dropped,
    )
    return up, down
