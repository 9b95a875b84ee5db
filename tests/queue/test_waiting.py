"""Callers waiting in line on a virtual clock: music, announcements, turns, callbacks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from ivr.channel import CallChannel, CallerHungUp
from ivr.officer_settings import QueueSettings
from ivr.queue.model import EntryKind, EntryState, OfficerState, QueueEntry
from ivr.queue.music import default_music
from ivr.queue.store import MemoryQueueStore
from ivr.queue.waiting import QueueDoor, QueueResult
from tests.runtime.fake_channel import FakeChannel, FakePrompts, HangUp, Press, run_virtual

DEPT = "so-cong-thuong"


@dataclass
class FakeOfficers:
    """Officers' phones: each rings `ring_s`, answers if listed, talks `talk_s`."""

    answers: set[str]
    ring_s: float = 2.0
    talk_s: float = 60.0
    rung: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)
    whispers: list[str] = field(default_factory=list)

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
        loop = asyncio.get_running_loop()
        self.rung.append((loop.time(), tuple(officers)))
        answering = [o for o in officers if o in self.answers]
        if not answering or self.ring_s >= ring_timeout_s:
            await asyncio.sleep(ring_timeout_s)
            return False
        await asyncio.sleep(self.ring_s)
        self.whispers.append(summary)
        await on_answer(answering[0])
        await asyncio.sleep(self.talk_s)
        return True


def door(
    store: MemoryQueueStore, officers: FakeOfficers, prompts: FakePrompts, **settings: object
) -> QueueDoor:
    base = {"announce_every_s": 30.0, "wrap_up_s": 10.0, "ring_timeout_s": 15.0, "poll_s": 1.0}
    return QueueDoor(
        store=store,
        settings=QueueSettings(**{**base, **settings}),  # type: ignore[arg-type]
        prompts=prompts,
        music=default_music(),
        officers=officers,
        clock=lambda: asyncio.get_running_loop().time(),
    )


async def officer(store: MemoryQueueStore, ext: str, state: OfficerState, at_s: float = 0) -> None:
    await asyncio.sleep(at_s)
    await store.set_state(ext, DEPT, state, now=asyncio.get_running_loop().time())


async def caller(d: QueueDoor, channel: FakeChannel, at_s: float = 0.0) -> QueueResult | str:
    await asyncio.sleep(at_s)
    try:
        return await d.wait(channel, DEPT)
    except CallerHungUp:
        return "hung up"


def heard(channel: FakeChannel) -> list[str]:
    return [p.text for p in channel.played]


def test_second_caller_hears_place_and_music_then_is_served() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    phones = FakeOfficers({"1001"}, talk_s=60)
    d = door(store, phones, prompts)
    first = FakeChannel([], prompts=prompts, call_id="a", caller="0911000001")
    second = FakeChannel([], prompts=prompts, call_id="b", caller="0911000002")

    async def scenario() -> tuple[QueueResult | str | None, ...]:
        await officer(store, "1001", OfficerState.ON_CALL)  # busy with someone else
        return tuple(
            await asyncio.gather(
                caller(d, first),
                caller(d, second, at_s=0.5),
                officer(store, "1001", OfficerState.AVAILABLE, at_s=40),
            )
        )

    a, b, _ = run_virtual(scenario())
    assert isinstance(a, QueueResult) and isinstance(b, QueueResult)
    assert (a.outcome, a.officer) == ("served", "1001")
    assert (b.outcome, b.officer) == ("served", "1001")
    # first rings when the officer frees up at 40 s; the second after 2 s ring + 60 s talk +
    # 10 s wrap-up, within a poll
    (t1, who1), (t2, who2) = phones.rung
    assert (who1, who2) == (("1001",), ("1001",))
    assert 40 <= t1 < 41.5
    assert t1 + 72 <= t2 <= t1 + 74  # a poll (1 s) after the wrap-up, give or take a restart
    texts = heard(second)
    assert texts[0].startswith("Quý vị đang ở vị trí thứ 2, thời gian chờ dự kiến khoảng 6 phút.")
    assert "bấm phím 1" in texts[0]
    assert any(t.startswith("<audio") for t in texts)  # music between announcements
    assert any(t.startswith("Quý vị đang ở vị trí thứ 1") for t in texts)  # after the first left
    announcements = [p.at_s for p in second.played if p.text.startswith("Quý vị")]
    assert all(29 <= later - earlier <= 36 for earlier, later in itertools.pairwise(announcements))
    done = sorted(store.entries.values(), key=lambda e: e.id)
    assert [e.state for e in done] == [EntryState.DONE, EntryState.DONE]
    handle = [(e.ended_at or 0) - (e.connected_at or 0) for e in done]
    assert handle == [pytest.approx(60), pytest.approx(60)]
    assert store.officers["1001"].state is OfficerState.WRAP_UP


def test_press_1_keeps_the_place_and_the_callback_is_offered_in_turn() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    phones = FakeOfficers({"1001"}, talk_s=30)
    d = door(store, phones, prompts)
    first = FakeChannel(
        [Press("1", at_s=10), HangUp(at_s=25)], prompts=prompts, call_id="a", caller="0911000001"
    )
    second = FakeChannel([], prompts=prompts, call_id="b", caller="0911000002")
    seen: list[tuple[EntryState, str | None, int]] = []

    async def officer_calls_back(at_s: float) -> None:
        await asyncio.sleep(at_s)
        callback = store.entries[1]
        snap = await store.snapshot(DEPT, now=at_s, history=0)
        seen.append((callback.state, callback.assigned_to, snap.place_of(2)))
        await store.finished(1, now=at_s, wrap_up_s=10)

    async def scenario() -> tuple[QueueResult | str | None, ...]:
        await officer(store, "1001", OfficerState.ON_CALL)
        return tuple(
            await asyncio.gather(
                caller(d, first),
                caller(d, second, at_s=1),
                officer(store, "1001", OfficerState.AVAILABLE, at_s=60),
                officer_calls_back(at_s=100),
            )
        )

    a, b, _, _ = run_virtual(scenario())
    assert isinstance(a, QueueResult) and a.outcome == "callback"
    assert "giữ nguyên vị trí" in heard(first)[-1]
    callback = store.entries[1]
    assert callback.kind is EntryKind.CALLBACK and callback.ticket == 0.0  # the place it had
    # at 60 s the officer frees up and the callback, first in line, is handed to them; the
    # second caller (now first in line) waits until the callback is done and the wrap-up over
    assert seen == [(EntryState.ASSIGNED, "1001", 1)]
    assert isinstance(b, QueueResult) and (b.outcome, b.officer) == ("served", "1001")
    assert [round(t) for t, _ in phones.rung] in ([110], [111])
    assert any("vị trí thứ 2" in t for t in heard(second))


def test_max_wait_turns_the_call_into_a_callback_without_asking() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    d = door(store, FakeOfficers(set()), prompts, max_wait_s=90)
    channel = FakeChannel([], prompts=prompts)

    async def scenario() -> QueueResult | str:
        await officer(store, "1001", OfficerState.ON_BREAK)
        return await caller(d, channel)

    result = run_virtual(scenario())
    assert isinstance(result, QueueResult) and result.outcome == "callback"
    assert 90 <= result.waited_s < 100
    assert heard(channel)[-1].startswith("Xin lỗi quý vị vì đã phải chờ lâu.")
    assert store.entries[1].kind is EntryKind.CALLBACK


def test_nobody_answers_the_caller_keeps_the_place_and_the_next_officer_rings() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    phones = FakeOfficers({"1002"}, talk_s=20)
    d = door(store, phones, prompts, ring_timeout_s=15)
    channel = FakeChannel([], prompts=prompts)

    async def scenario() -> QueueResult | str:
        await officer(store, "1001", OfficerState.AVAILABLE)  # idle longest, does not answer
        await officer(store, "1002", OfficerState.AVAILABLE, at_s=1)
        return await caller(d, channel)

    result = run_virtual(scenario())
    assert isinstance(result, QueueResult) and result.officer == "1002"
    assert [who for _, who in phones.rung] == [("1001",), ("1002",)]
    assert phones.rung[1][0] - phones.rung[0][0] == pytest.approx(15, abs=0.1)
    assert store.officers["1001"].state is OfficerState.AVAILABLE


def test_ring_all_rings_every_free_officer() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    phones = FakeOfficers({"1002"}, talk_s=5)
    d = door(store, phones, prompts, strategy="ring_all")

    async def scenario() -> QueueResult | str:
        await officer(store, "1001", OfficerState.AVAILABLE)
        await officer(store, "1002", OfficerState.AVAILABLE)
        return await caller(d, FakeChannel([], prompts=prompts))

    result = run_virtual(scenario())
    assert isinstance(result, QueueResult) and result.officer == "1002"
    assert phones.rung[0][1] == ("1001", "1002")
    assert store.officers["1001"].state is OfficerState.AVAILABLE  # released when 1002 answered


def test_full_line_offers_a_callback() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    d = door(store, FakeOfficers(set()), prompts, max_length=1)
    waiting = FakeChannel([HangUp(at_s=30)], prompts=prompts, call_id="a")
    late = FakeChannel([Press("1", hear="hàng chờ đã đầy")], prompts=prompts, call_id="b")

    async def scenario() -> tuple[QueueResult | str | None, ...]:
        await officer(store, "1001", OfficerState.ON_CALL)
        return tuple(await asyncio.gather(caller(d, waiting), caller(d, late, at_s=2)))

    first, second = run_virtual(scenario())
    assert first == "hung up"
    assert store.entries[1].state is EntryState.ABANDONED
    assert isinstance(second, QueueResult) and second.outcome == "callback"
    assert store.entries[2].kind is EntryKind.CALLBACK and store.entries[2].call_id == "b"


def test_hanging_up_while_waiting_leaves_the_line() -> None:
    store, prompts = MemoryQueueStore(), FakePrompts()
    d = door(store, FakeOfficers(set()), prompts)
    channel = FakeChannel([HangUp(at_s=12)], prompts=prompts)

    async def scenario() -> QueueResult | str:
        await officer(store, "1001", OfficerState.ON_CALL)
        return await caller(d, channel)

    assert run_virtual(scenario()) == "hung up"
    assert store.entries[1].state is EntryState.ABANDONED
