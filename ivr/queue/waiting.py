"""A caller waiting in a department's line: music, position announcements, callback on 1.

:func:`wait_in_queue` runs on a :class:`~ivr.channel.CallChannel` and never imports SIP: the
officers are reached through an :class:`OfficerLine` (the bridge to their phones), the line
itself is a :class:`~ivr.queue.store.QueueStore` shared by every worker, time is an injected
wall clock.

The loop, every ``poll_s``: take a turn (callbacks at the head go to free officers first);
when it is this caller's turn, ring the chosen officers; nobody answering within
``ring_timeout_s`` puts the caller back at their place. Between turns the caller hears music
on hold, and every ``announce_every_s`` their place and the estimated wait. Pressing 1 at any
moment turns the call into a callback that keeps the place; after ``max_wait_s`` that happens
without asking.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ivr.channel import Audio, CallChannel, CallerHungUp, PlayOutcome
from ivr.events import EventSink, OfficerRinging
from ivr.officer_settings import QueueSettings
from ivr.queue.estimate import estimated_wait_s, position_sentence
from ivr.queue.model import EntryKind, OfficerState, QueueEntry
from ivr.queue.music import music_slice
from ivr.queue.store import QueueStore

log = logging.getLogger(__name__)

PromptSource = Callable[[str], Awaitable[Audio]]
CALLBACK_KEY = "1"
PRESS_ONE = "Để được cán bộ gọi lại mà vẫn giữ nguyên vị trí, bấm phím 1."
CALLBACK_KEPT = (
    "Yêu cầu gọi lại của quý vị đã được ghi nhận và giữ nguyên vị trí. "
    "Cán bộ sẽ gọi lại cho quý vị khi đến lượt. Xin cảm ơn."
)
WAIT_TOO_LONG = "Xin lỗi quý vị vì đã phải chờ lâu. "
LINE_FULL = "Hiện tất cả cán bộ đều đang bận và hàng chờ đã đầy. "
CLOSED = "Hiện đã ngoài giờ làm việc của đơn vị. "
OFFER = "Để được cán bộ gọi lại, bấm phím 1."
OFFER_WAIT_S = 6.0  # silence after the callback offer before the call ends


class OfficerLine(Protocol):
    """Reaches officers' phones: rings them and, when one answers, joins them to the caller."""

    async def connect(
        self,
        channel: CallChannel,
        officers: Sequence[str],
        entry: QueueEntry,
        *,
        ring_timeout_s: float,
        on_answer: Callable[[str], Awaitable[None]],
        summary: str = "",
    ) -> bool:
        """Ring `officers`; the first to answer hears `summary` (the whisper), then is connected
        to the caller until either side hangs up (``on_answer`` is awaited when they answer):
        True. False when nobody answered in time."""
        ...


@dataclass(frozen=True)
class QueueResult:
    """How a caller's time in the queue ended."""

    outcome: Literal["served", "callback", "abandoned", "declined"]
    waited_s: float
    officer: str | None = None
    entry_id: int | None = None


@dataclass
class QueueDoor:
    """What a waiting call needs, injected once per worker."""

    store: QueueStore
    settings: QueueSettings
    prompts: PromptSource
    music: Audio
    officers: OfficerLine
    clock: Callable[[], float]
    sink: EventSink | None = None  # told when officers' phones ring (the console's screen-pop)

    async def wait(
        self, channel: CallChannel, department_id: str, summary: str = "", intro: str = ""
    ) -> QueueResult:
        """Put the caller in `department_id`'s line until served, called back or gone;
        `summary` is whispered to the officer who answers; `intro` ("đang chuyển máy…") is
        played to the caller while the first officer's phone already rings."""
        return await wait_in_queue(channel, department_id, self, summary, intro)

    async def serves(self, department_id: str) -> bool:
        """True when an officer of the department is signed in (the queue takes its calls);
        otherwise the department is reached the old way (REFER to its configured target)."""
        now = self.clock()
        snap = await self.store.snapshot(department_id, now=now, history=0)
        return any(p.current(now) is not OfficerState.SIGNED_OUT for p in snap.officers)

    async def offer_callback(self, channel: CallChannel, department_id: str, why: str) -> bool:
        """Outside hours or a full line: offer a callback (1); True when one was recorded."""
        outcome = await self._say(channel, why + OFFER)
        digit = outcome.digit or await channel.next_digit(OFFER_WAIT_S)
        channel.flush_digits()
        if digit != CALLBACK_KEY:
            return False
        info = channel.info
        await self.store.join(
            department_id,
            call_id=info.call_id,
            caller=info.caller,
            kind=EntryKind.CALLBACK,
            now=self.clock(),
        )
        await self._say(channel, CALLBACK_KEPT)
        return True

    async def _say(self, channel: CallChannel, text: str) -> PlayOutcome:
        return await channel.play(await self.prompts(text), barge_in_digits=True)


async def wait_in_queue(
    channel: CallChannel,
    department_id: str,
    door: QueueDoor,
    summary: str = "",
    intro: str = "",
) -> QueueResult:
    """The waiting loop (see the module docstring)."""
    settings, store, clock = door.settings, door.store, door.clock
    started = clock()
    snap = await store.snapshot(department_id, now=started, history=0)
    if len(snap.entries) >= settings.max_length:
        taken = await door.offer_callback(channel, department_id, LINE_FULL)
        return QueueResult("callback" if taken else "declined", 0.0)
    info = channel.info
    entry = await store.join(
        department_id, call_id=info.call_id, caller=info.caller, kind=EntryKind.CALL, now=started
    )
    # The introduction plays while the first turn is taken and the phones ring: the caller's key
    # reaches an officer's phone at once, not after the sentence.
    playing = asyncio.get_running_loop().create_task(_intro(channel, door, intro))
    try:
        return await _loop(channel, door, entry, started, summary, playing)
    except CallerHungUp:
        await store.leave(entry.id, now=clock())
        raise
    finally:
        if not playing.done():
            playing.cancel()
        with contextlib.suppress(asyncio.CancelledError, CallerHungUp):
            await playing


async def _intro(channel: CallChannel, door: QueueDoor, text: str) -> None:
    if text:
        await channel.play(await door.prompts(text), barge_in_digits=False)


async def _loop(
    channel: CallChannel,
    door: QueueDoor,
    entry: QueueEntry,
    started: float,
    summary: str,
    intro: asyncio.Task[None],
) -> QueueResult:
    settings, store, clock = door.settings, door.store, door.clock
    next_announce = started
    music_at = 0.0
    ring = await store.take_turn(entry.id, settings.strategy, now=started)
    while True:
        if ring:
            served = await _ring(channel, door, entry, ring, summary, intro)
            if served is not None:
                return served
            ring = await store.take_turn(entry.id, settings.strategy, now=clock())
            if ring:
                continue  # the next officer at once
        if not intro.done():
            await intro  # nobody free yet: the introduction ends before music or an announcement
        now = clock()
        if now - started >= settings.max_wait_s:
            await store.to_callback(entry.id, now=now)
            await door._say(channel, WAIT_TOO_LONG + CALLBACK_KEPT)
            return QueueResult("callback", clock() - started, entry_id=entry.id)
        if now >= next_announce:
            audio = await door.prompts(await _announcement(door, entry, now))
            outcome, ring = await _play_until_turn(channel, door, entry, audio)
            next_announce = now + settings.announce_every_s  # start to start
        else:
            length = min(next_announce, started + settings.max_wait_s) - now
            audio = music_slice(door.music, music_at, max(0.02, length))
            outcome, ring = await _play_until_turn(channel, door, entry, audio)
            music_at += outcome.played_s
        if outcome.digit is not None:
            channel.flush_digits()
            if outcome.digit == CALLBACK_KEY and not ring:
                await store.to_callback(entry.id, now=clock())
                await door._say(channel, CALLBACK_KEPT)
                return QueueResult("callback", clock() - started, entry_id=entry.id)


async def _play_until_turn(
    channel: CallChannel, door: QueueDoor, entry: QueueEntry, audio: Audio
) -> tuple[PlayOutcome, list[str]]:
    """Play `audio` while taking a turn every ``poll_s``: the play stops when officers are
    reserved for this caller (returned) or a key is pressed."""
    turn = asyncio.Event()
    stop = asyncio.Event()
    reserved: list[str] = []

    async def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), door.settings.poll_s)
            if stop.is_set():
                return
            ring = await door.store.take_turn(entry.id, door.settings.strategy, now=door.clock())
            if ring:
                reserved.extend(ring)
                turn.set()
                return

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        outcome = await channel.play(audio, barge_in_digits=True, barge_in=turn)
    finally:
        stop.set()
        await watcher  # never cancelled mid-turn: a reservation is never lost
    return outcome, reserved


async def _hold_music(
    channel: CallChannel, door: QueueDoor, intro: asyncio.Task[None], stop: asyncio.Event
) -> None:
    """Music while the officer's phone rings (after the introduction), until `stop`."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(intro)
    at = 0.0
    while not stop.is_set() and not channel.ended:
        outcome = await channel.play(
            music_slice(door.music, at, door.settings.poll_s), barge_in_digits=False, barge_in=stop
        )
        at += outcome.played_s


async def _ring(
    channel: CallChannel,
    door: QueueDoor,
    entry: QueueEntry,
    ring: list[str],
    summary: str,
    intro: asyncio.Task[None],
) -> QueueResult | None:
    """Ring the officers reserved for this caller, with music meanwhile; None when nobody
    answered (back in line)."""
    store, clock = door.store, door.clock
    answered: list[str] = []
    stop_music = asyncio.Event()
    music = asyncio.get_running_loop().create_task(_hold_music(channel, door, intro, stop_music))

    async def on_answer(officer: str) -> None:
        answered.append(officer)
        stop_music.set()  # the bridge begins: nothing of ours left in the caller's ear
        with contextlib.suppress(CallerHungUp):
            await music
        await store.connected(entry.id, officer, now=clock())

    if door.sink is not None:
        waited_s = clock() - entry.enqueued_at
        for officer in ring:
            door.sink.emit(
                OfficerRinging(
                    call_id=entry.call_id,
                    officer=officer,
                    department=entry.department_id,
                    waited_s=waited_s,
                )
            )
    try:
        ok = await door.officers.connect(
            channel,
            ring,
            entry,
            ring_timeout_s=door.settings.ring_timeout_s,
            on_answer=on_answer,
            summary=summary,
        )
    except CallerHungUp:
        if answered:
            await store.finished(entry.id, now=clock(), wrap_up_s=door.settings.wrap_up_s)
        raise
    finally:
        stop_music.set()
        with contextlib.suppress(CallerHungUp):
            await music
    if ok and answered:
        await store.finished(entry.id, now=clock(), wrap_up_s=door.settings.wrap_up_s)
        return QueueResult("served", clock() - entry.enqueued_at, answered[0], entry.id)
    log.info("queue: nobody answered for entry %d; back at its place", entry.id)
    await store.ring_failed(entry.id, now=clock())
    return None


async def _announcement(door: QueueDoor, entry: QueueEntry, now: float) -> str:
    snap = await door.store.snapshot(
        entry.department_id, now=now, history=door.settings.handle_window
    )
    place = max(1, snap.place_of(entry.id))
    wait = estimated_wait_s(
        place, snap.handle_times_s, snap.working(now), door.settings.default_handle_s
    )
    return f"{position_sentence(place, wait)} {PRESS_ONE}"
