""" "Call back now" without SIP: the stored number as the trunk's Request-URI, the citizen
leg's final status as the callback's outcome, and the requests table on SQLite and
PostgreSQL (one call in flight per callback, each request claimed by exactly one worker)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.calllog.callback_outcomes import CallbackOutcome
from ivr.calllog.sink import DbCallLog
from ivr.calllog.tables import CallbackRow, CallEventRow
from ivr.events import CallbackRequested, CallStarted
from ivr.outbound.numbers import NotDiallable, trunk_target
from ivr.outbound.outcomes import outcome_of
from ivr.outbound.requests import CLAIM_WITHIN_S, AlreadyCalling, DbOutboundCalls
from ivr.settings import TrunkSettings

DEPT = "so-cong-thuong"


def test_the_stored_number_becomes_the_trunks_request_uri() -> None:
    trunk = TrunkSettings(uri="sip:10.0.0.5:5080;transport=tcp")
    assert trunk_target("0912 345.678", trunk) == "sip:0912345678@10.0.0.5:5080;transport=tcp"
    e164 = TrunkSettings(uri="sip:trunk.example", number_format="e164", prefix="9")
    assert trunk_target("0912345678", e164) == "sip:9+84912345678@trunk.example"
    assert trunk_target("+84912345678", TrunkSettings(uri="sip:t")) == "sip:0912345678@t"
    for bad in ("", "12", "0912;x=1", "0912@evil.example", "sip:1@x", "0" * 16):
        with pytest.raises(NotDiallable):
            trunk_target(bad, trunk)


def test_the_citizen_legs_final_status_decides_the_outcome() -> None:
    assert outcome_of(200) is CallbackOutcome.REACHED
    for status in (408, 480, 486, 603):
        assert outcome_of(status) is CallbackOutcome.NO_ANSWER
    for status in (404, 484, 604):
        assert outcome_of(status) is CallbackOutcome.WRONG_NUMBER
    for status in (403, 488, 500, 503):  # the trunk's trouble, not the citizen's answer
        assert outcome_of(status) is None


def logged_callback(url: str, call_id: str, number: str = "0912345678") -> None:
    """A call that asked for a callback, stored by the real call log."""
    from db import create_engine_from_url, session_factory

    engine = create_engine_from_url(url)
    log = DbCallLog(session_factory(engine))
    log.start()
    try:
        log.emit(CallStarted(call_id=call_id, caller=number, callee="1900", codec="PCMA",
                             remote_media="127.0.0.1:4000"))  # fmt: skip
        log.emit(CallbackRequested(call_id=call_id, node_id="callback", department=DEPT,
                                   number=number))  # fmt: skip
        assert log.flush(10.0) and log.failed == 0
    finally:
        log.close()
        engine.dispose()


def callback_id_of(factory: sessionmaker[Session], call_id: str) -> int:
    with factory() as session:
        return session.scalars(select(CallbackRow.id).where(CallbackRow.call_id == call_id)).one()


async def test_one_call_in_flight_per_callback_and_one_worker_claims_it(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = database
    logged_callback(url, "call-cb-1")
    ref = callback_id_of(factory, "call-cb-1")
    calls = DbOutboundCalls(factory)
    now = time.time()
    ask = dict(source="menu", ref=ref, call_id="call-cb-1", department_id=DEPT, officer="1001",
               requested_by="an.nguyen", stale_after_s=120.0)  # fmt: skip
    made = await calls.request(**ask, now=now)  # type: ignore[arg-type]
    with pytest.raises(AlreadyCalling):  # the double click
        await calls.request(**ask, now=now + 0.2)  # type: ignore[arg-type]
    # five workers race for it: exactly one gets it
    claims = await asyncio.gather(
        *(calls.claim(node_id=f"node-{i}", now=now + 0.5) for i in range(5))
    )
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].id == made.id
    assert winners[0].state == "ringing-officer"
    assert await calls.claim(node_id="node-9", now=now + 0.6) is None
    assert await calls.number_of(winners[0]) == "0912345678"
    # the call ends: the callback is closed with its outcome and may be called again later
    assert await calls.close_callback(winners[0], CallbackOutcome.NO_ANSWER,
                                      at=datetime.now(UTC), now=now + 5, wrap_up_s=0)  # fmt: skip
    await calls.report(made.id, "done", now=now + 5, outcome="no-answer", status=486)
    assert await calls.number_of(winners[0]) is None  # closed: nothing more is dialled
    # the officer corrects what the call recorded
    assert await calls.correct(made.id, CallbackOutcome.REACHED, by="an.nguyen",
                               at=datetime.now(UTC))  # fmt: skip
    with factory() as session:
        outcomes = session.scalars(
            select(CallEventRow.payload)
            .where(CallEventRow.call_id == "call-cb-1", CallEventRow.kind == "callback-done")
            .order_by(CallEventRow.seq)
        ).all()
    assert [p["outcome"] for p in outcomes] == ["no-answer", "reached"]
    row = await calls.get(made.id)
    assert row is not None and row.outcome == "reached" and row.corrected_by == "an.nguyen"


async def test_a_request_nobody_claimed_or_left_open_stops_blocking(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = database
    logged_callback(url, "call-cb-2")
    ref = callback_id_of(factory, "call-cb-2")
    calls = DbOutboundCalls(factory)
    now = time.time()
    ask = dict(source="menu", ref=ref, call_id="call-cb-2", department_id=DEPT, officer="1001",
               requested_by="an.nguyen", stale_after_s=120.0)  # fmt: skip
    first = await calls.request(**ask, now=now - CLAIM_WITHIN_S - 1)  # type: ignore[arg-type]
    assert await calls.claim(node_id="late", now=now) is None  # too old to be placed now
    second = await calls.request(**ask, now=now)  # type: ignore[arg-type]
    old = await calls.get(first.id)
    assert old is not None and old.state == "failed" and old.detail == "no-worker"
    assert (await calls.claim(node_id="n", now=now)) is not None
    # a worker died with the call open: after stale_after_s it no longer blocks
    third = await calls.request(**ask, now=now + 121)  # type: ignore[arg-type]
    assert third.id > second.id


async def test_a_queue_callback_is_dialled_only_while_handed_to_the_officer(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = database
    logged_callback(url, "call-q")  # the call is logged (its timeline gets the outcome)
    from ivr.queue.model import EntryKind, EntryState, OfficerState
    from ivr.queue.store_db import DbQueueStore
    from ivr.queue.tables import QueueEntryRow

    store = DbQueueStore(factory)
    now = time.time()
    await store.set_state("1001", DEPT, OfficerState.AVAILABLE, now=now - 10)
    entry = await store.join(DEPT, call_id="call-q", caller="0977333444",
                             kind=EntryKind.CALLBACK, now=now - 5)  # fmt: skip
    calls = DbOutboundCalls(factory)
    made = await calls.request(source="queue", ref=entry.id, call_id="call-q",
                               department_id=DEPT, officer="1001", requested_by="an.nguyen",
                               now=now, stale_after_s=120)  # fmt: skip
    assert await calls.number_of(made) is None  # still waiting its turn: not this officer's
    await store.take_turn(entry.id, "longest_idle", now=now)  # handed to the free officer
    assert await calls.number_of(made) == "0977333444"
    assert await calls.close_callback(made, CallbackOutcome.REACHED, at=datetime.now(UTC),
                                      now=now + 1, wrap_up_s=30)  # fmt: skip
    with factory() as session:
        row = session.get(QueueEntryRow, entry.id)
        assert row is not None and row.state == EntryState.DONE.value
    snap = await store.snapshot(DEPT, now=now + 2, history=0)
    assert [p.current(now + 2) for p in snap.officers] == [OfficerState.WRAP_UP]
    assert await calls.number_of(made) is None  # done: never dialled again
