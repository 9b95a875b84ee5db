"""The queue stores keep one contract: the memory fake and the database (SQLite, PostgreSQL).

The database runs are the real thing: two stores on two engines stand for two worker processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_officer
from ivr.officer_settings import QueueSettings
from ivr.queue.model import EntryKind, EntryState, OfficerState
from ivr.queue.music import default_music
from ivr.queue.store import MemoryQueueStore, QueueStore
from ivr.queue.store_db import DbQueueStore
from ivr.queue.waiting import QueueDoor
from tests.queue.test_waiting import FakeOfficers
from tests.runtime.fake_channel import FakeChannel, FakePrompts, run_virtual

DEPT = "so-cong-thuong"


@pytest.fixture
def stores(
    database: tuple[str, sessionmaker[Session]],
) -> Iterator[tuple[QueueStore, QueueStore]]:
    """Two database stores on separate engines (two workers) with officers 1001-1003."""
    url, factory = database
    with unit_of_work(factory) as session:
        for ext in ("1002", "1003"):
            save_officer(session, department_id=DEPT, name=f"Cán bộ {ext}", extension=ext)
    engines: list[Engine] = [create_engine_from_url(url) for _ in range(2)]
    yield DbQueueStore(session_factory(engines[0])), DbQueueStore(session_factory(engines[1]))
    for engine in engines:
        engine.dispose()


async def contract(store: QueueStore, other: QueueStore) -> None:
    """The life of two calls and a callback, asserted through the Protocol only."""
    await store.set_state("1001", DEPT, OfficerState.ON_CALL, now=0)
    a = await store.join(DEPT, call_id="a", caller="0911000001", kind=EntryKind.CALL, now=1)
    b = await other.join(DEPT, call_id="b", caller="0911000002", kind=EntryKind.CALL, now=2)
    c = await store.join(DEPT, call_id="c", caller="0911000003", kind=EntryKind.CALL, now=3)
    snap = await other.snapshot(DEPT, now=3, history=5)
    assert [snap.place_of(e.id) for e in (a, b, c)] == [1, 2, 3]
    assert await store.take_turn(a.id, "longest_idle", now=4) == []  # nobody free
    await other.to_callback(a.id, now=5)  # a presses 1: keeps place 1
    await other.set_state("1001", DEPT, OfficerState.AVAILABLE, now=10)
    await store.set_state("1002", DEPT, OfficerState.AVAILABLE, now=11)
    # c is not at the head: nothing for it; the callback at the head takes 1001 (idle longest)
    assert await store.take_turn(c.id, "longest_idle", now=12) == []
    assert await other.take_turn(b.id, "longest_idle", now=12) == ["1002"]
    snap = await store.snapshot(DEPT, now=12, history=5)
    states = {p.extension: p.state for p in snap.officers}
    assert states == {"1001": OfficerState.ON_CALL, "1002": OfficerState.RINGING}
    assert [snap.place_of(e.id) for e in (a, b, c)] == [0, 0, 1]
    await store.ring_failed(b.id, now=27)  # 1002 did not answer: b back at its place
    snap = await other.snapshot(DEPT, now=27, history=5)
    assert [snap.place_of(e.id) for e in (b, c)] == [1, 2]
    assert await store.take_turn(b.id, "longest_idle", now=28) == ["1002"]
    await other.connected(b.id, "1002", now=30)
    await store.finished(b.id, now=150, wrap_up_s=15)
    await store.finished(a.id, now=160, wrap_up_s=15)  # the callback is done
    snap = await other.snapshot(DEPT, now=160, history=5)
    assert snap.handle_times_s == [120.0]
    assert {p.extension: p.current(160) for p in snap.officers} == {
        "1001": OfficerState.WRAP_UP,
        "1002": OfficerState.WRAP_UP,
    }
    assert snap.working(160) == 2
    assert await store.take_turn(c.id, "longest_idle", now=164) == []  # both wrap up
    assert await store.take_turn(c.id, "longest_idle", now=170) == ["1002"]  # free since 165
    await other.leave(c.id, now=177)  # c hangs up while 1002 rings: 1002 is freed
    snap = await store.snapshot(DEPT, now=177, history=5)
    assert snap.entries == []
    assert {p.extension: p.current(177) for p in snap.officers}["1002"] is OfficerState.AVAILABLE


def test_memory_store_contract() -> None:
    store = MemoryQueueStore()
    asyncio.run(contract(store, store))


def test_database_store_contract(stores: tuple[QueueStore, QueueStore]) -> None:
    asyncio.run(contract(*stores))


async def message_contract(store: QueueStore, other: QueueStore) -> None:
    """A voice message waits to be heard but never stands in the call line, never takes a
    turn, and is done once an officer marks it handled (their presence untouched)."""
    await store.set_state("1001", DEPT, OfficerState.AVAILABLE, now=0)
    m = await store.join(DEPT, call_id="m", caller="0911000009", kind=EntryKind.MESSAGE, now=1)
    assert m.state is EntryState.WAITING and not m.in_line
    call = await other.join(DEPT, call_id="x", caller="0911000008", kind=EntryKind.CALL, now=2)
    snap = await other.snapshot(DEPT, now=2, history=5)
    assert [e.id for e in snap.entries] == [call.id]  # the message is not ahead of the call
    assert await store.take_turn(m.id, "longest_idle", now=3) == []
    assert await other.take_turn(call.id, "longest_idle", now=3) == ["1001"]
    assert await store.message_handled(call.id, "1001", now=4) is False  # not a message
    assert await other.message_handled(m.id, "1002", now=5) is True
    assert await store.message_handled(m.id, "1002", now=6) is False  # already handled
    snap = await store.snapshot(DEPT, now=6, history=5)
    assert {p.extension: p.state for p in snap.officers}["1001"] is OfficerState.RINGING


def test_memory_store_keeps_messages_out_of_line() -> None:
    store = MemoryQueueStore()
    asyncio.run(message_contract(store, store))


def test_database_store_keeps_messages_out_of_line(
    stores: tuple[QueueStore, QueueStore],
) -> None:
    asyncio.run(message_contract(*stores))


def test_two_workers_never_reserve_the_same_officer(
    stores: tuple[QueueStore, QueueStore],
) -> None:
    first, second = stores

    async def race() -> list[list[str]]:
        await first.set_state("1001", DEPT, OfficerState.AVAILABLE, now=0)
        entries = [
            await store.join(DEPT, call_id=f"c{n}", caller="0", kind=EntryKind.CALL, now=n)
            for n, store in enumerate((first, second, first, second), start=1)
        ]
        results: list[list[str]] = []
        for _ in range(3):  # every entry tries at once, as polls from several workers do
            turns = await asyncio.gather(
                *(
                    store.take_turn(e.id, "longest_idle", now=10)
                    for e, store in zip(entries, (first, second, first, second), strict=True)
                )
            )
            results.append([ext for turn in turns for ext in turn])
        return results

    results = asyncio.run(race())
    assert results == [["1001"], [], []]


def test_a_waiting_call_on_the_database_store_on_a_virtual_clock(
    stores: tuple[QueueStore, QueueStore], database: tuple[str, sessionmaker[Session]]
) -> None:
    store, console = stores
    prompts = FakePrompts()
    phones = FakeOfficers({"1001"}, talk_s=30)
    door = QueueDoor(
        store=store,
        settings=QueueSettings(announce_every_s=20, wrap_up_s=5, poll_s=1),
        prompts=prompts,
        music=default_music(),
        officers=phones,
        clock=lambda: asyncio.get_running_loop().time(),
    )
    channel = FakeChannel([], prompts=prompts)

    async def scenario() -> object:
        now = asyncio.get_running_loop().time
        await console.set_state("1001", DEPT, OfficerState.ON_BREAK, now=now())

        async def back_from_break() -> None:
            await asyncio.sleep(45)
            await console.set_state("1001", DEPT, OfficerState.AVAILABLE, now=now())

        result, _ = await asyncio.gather(door.wait(channel, DEPT), back_from_break())
        return result

    result = run_virtual(scenario())
    assert getattr(result, "outcome", None) == "served"
    assert 45 <= phones.rung[0][0] <= 46.5
    announcements = [p.text for p in channel.played if p.text.startswith("Quý vị")]
    assert len(announcements) == 3  # at 0, 20 and 40 s
    _, factory = database
    with factory() as session:
        states = session.execute(text("select state from queue_entries")).scalars().all()
    assert states == [EntryState.DONE.value]
