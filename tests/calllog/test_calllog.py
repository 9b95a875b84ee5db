"""DbCallLog on SQLite and PostgreSQL: every event kind stored, summaries, purge, statistics."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from db import session_factory
from ivr import events as ev
from ivr.calllog.queries import complete_callback, events_after, pending_callbacks, recent_calls
from ivr.calllog.retention import purge_calls, purge_expired
from ivr.calllog.sink import DbCallLog, call_key
from ivr.calllog.stats import (
    DepartmentTransfers,
    average_duration_s,
    calls_per_day,
    survey_summary,
    transfers_per_department,
)
from ivr.calllog.tables import (
    CallbackRow,
    CallEventRow,
    CallInputRow,
    CallRow,
    CallTransferRow,
    SurveyAnswerRow,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam


def _every_kind(call_id: str, at: datetime) -> list[ev.CallEvent]:
    """One event of every kind the runtime emits, in a plausible order."""

    def t(seconds: float) -> datetime:
        return at + timedelta(seconds=seconds)

    return [
        ev.CallStarted(
            call_id=call_id,
            at=t(0),
            caller="sip:0912345678@pbx",
            callee="sip:1022@ivr",
            codec="PCMA",
            remote_media="10.0.0.1:4000",
        ),
        ev.CallAnswered(call_id=call_id, at=t(0.1)),
        ev.NodeEntered(
            call_id=call_id, at=t(0.2), tree_version=3, node_id="main", node_kind="menu"
        ),
        ev.PromptPlayed(
            call_id=call_id, at=t(1), node_id="main", text="Xin chào", interrupted=True
        ),
        ev.DigitReceived(call_id=call_id, at=t(2), digit="2", source="rfc4733"),
        ev.InputReceived(call_id=call_id, at=t(3), node_id="main", mode="dtmf", value="2"),
        ev.SpeechRecognized(
            call_id=call_id,
            at=t(4),
            node_id="ask",
            text="khai sinh",
            confidence=0.8,
            matched="procedure",
        ),
        ev.LookupDone(
            call_id=call_id, at=t(5), node_id="ask", lookup="procedure", key="x", found=True
        ),
        ev.CallerCheck(
            call_id=call_id,
            at=t(5.5),
            node_id="look",
            dossier_code="x",
            result="failed",
            failures=1,
        ),
        ev.HoldChanged(call_id=call_id, at=t(6), on_hold=True),
        ev.TransferRequested(
            call_id=call_id,
            at=t(7),
            node_id="xfer",
            department="so-tn-mt",
            target="sip:2201@pbx",
            reason="caller asked",
        ),
        ev.TransferResult(call_id=call_id, at=t(8), target="sip:2201@pbx", status=486, ok=False),
        ev.CallbackRequested(
            call_id=call_id, at=t(9), node_id="cb", department="so-tn-mt", number="0912345678"
        ),
        ev.BridgeRecorded(
            call_id=call_id,
            at=t(9.2),
            officer="1001",
            department="so-tn-mt",
            recording="bridge-abcdefghijklmnopqrstuvwxyz",
            duration_s=61.5,
        ),
        ev.VoiceMessageLeft(
            call_id=call_id,
            at=t(9.5),
            node_id="msg",
            department="so-tn-mt",
            entry_id=7,
            duration_s=4.2,
        ),
        ev.SurveyAnswered(call_id=call_id, at=t(10), node_id="survey", score=4),
        ev.CallError(call_id=call_id, at=t(11), code=ev.ErrorCode.TRANSFER_FAILED, detail="busy"),
        ev.OfficerRinging(
            call_id=call_id, at=t(11.2), officer="2201", department="so-tn-mt", waited_s=3.0
        ),
        ev.CallbackDone(
            call_id=call_id, at=t(11.5), source="menu", ref=1, outcome="reached", by="phuc.le"
        ),
        ev.VoiceMessageHandled(call_id=call_id, at=t(11.7), entry_id=7, by="phuc.le"),
        ev.CallbackCalled(
            call_id=call_id,
            at=t(11.8),
            source="queue",
            ref=3,
            request_id=1,
            officer="1001",
            stage="reached",
            status=200,
            talk_s=42.0,
            by="phuc.le",
        ),
        ev.CallEnded(call_id=call_id, at=t(12), reason="caller-bye", duration_s=12.0),
    ]


def _all_kinds() -> set[str]:
    kinds = set()
    pending = list(ev.CallEvent.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        kinds.add(_kind_of(cls))
    return kinds


def _kind_of(cls: type[ev.CallEvent]) -> str:
    name = cls.__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


@pytest.fixture
def calllog(sessions: sessionmaker[Session]) -> DbCallLog:
    log = DbCallLog(sessions, batch_size=50, flush_interval_s=0.05)
    log.start()
    yield log
    log.close()


def test_every_event_kind_is_stored(calllog: DbCallLog, sessions: sessionmaker[Session]) -> None:
    events = _every_kind("call-1", T0)
    assert {e.kind for e in events} == _all_kinds()  # the test covers every kind there is
    for event in events:
        calllog.emit(event)
    assert calllog.flush(10.0)
    assert (calllog.written, calllog.dropped, calllog.failed) == (len(events), 0, 0)
    with sessions() as session:
        rows = session.scalars(select(CallEventRow).order_by(CallEventRow.seq)).all()
        assert [r.kind for r in rows] == [e.kind for e in events]
        assert [r.seq for r in rows] == list(range(1, len(events) + 1))
        assert rows[3].payload == {"node_id": "main", "text": "Xin chào", "interrupted": True}
        assert rows[16].payload == {"code": "transfer-failed", "detail": "busy"}
        recorded = next(r for r in rows if r.kind == "bridge-recorded")
        assert recorded.payload == {"officer": "1001", "department": "so-tn-mt",
                                    "recording": "bridge-abcdefghijklmnopqrstuvwxyz",
                                    "duration_s": 61.5}  # fmt: skip

        call = session.get(CallRow, "call-1")
        assert call is not None
        # At rest the caller is masked; only the callback list keeps a full number.
        assert call.caller == "sip:091*****78@pbx" and call.codec == "PCMA"
        assert rows[0].payload["caller"] == "sip:091*****78@pbx"
        assert "0912345678" not in str([r.payload for r in rows])
        assert call.end_reason == "caller-bye" and call.duration_s == 12.0
        assert call.tree_version == 3 and call.last_node == "main"
        assert call.error_code == "transfer-failed"
        assert call.answered_at is not None and call.ended_at is not None

        inputs = session.scalars(select(CallInputRow).order_by(CallInputRow.at)).all()
        assert [(i.mode, i.value, i.matched) for i in inputs] == [
            ("dtmf", "2", None),
            ("speech", "khai sinh", "procedure"),
        ]
        transfer = session.scalars(select(CallTransferRow)).one()
        assert (transfer.department, transfer.status, transfer.ok) == ("so-tn-mt", 486, False)
        callback = session.scalars(select(CallbackRow)).one()
        assert callback.number == "0912345678" and callback.done_at is None
        assert session.scalars(select(SurveyAnswerRow)).one().score == 4


def test_events_of_an_unseen_call_still_get_a_call_row(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    calllog.emit(ev.DigitReceived(call_id="late", at=T0, digit="5", source="info"))
    calllog.emit(ev.TransferResult(call_id="late", at=T0, target="sip:x@y", status=202, ok=True))
    assert calllog.flush(10.0)
    with sessions() as session:
        assert session.get(CallRow, "late") is not None
        assert session.scalars(select(CallTransferRow)).one().ok is True


def test_sequence_continues_after_a_restart(sessions: sessionmaker[Session]) -> None:
    first = DbCallLog(sessions, flush_interval_s=0.05)
    first.start()
    first.emit(
        ev.CallStarted(call_id="c", at=T0, caller="a", callee="b", codec="PCMU", remote_media="")
    )
    first.close()
    second = DbCallLog(sessions, flush_interval_s=0.05)
    second.start()
    second.emit(ev.CallAnswered(call_id="c", at=T0))
    second.close()
    with sessions() as session:
        assert list(session.scalars(select(CallEventRow.seq).order_by(CallEventRow.seq))) == [1, 2]


async def test_emit_does_not_block_the_event_loop(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    # 200 calls of 15 events each, emitted from the loop: emitting must take far less time
    # than writing, and the loop keeps ticking meanwhile.
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    total = 0
    for n in range(200):
        for event in _every_kind(f"load-{n}", T0 + timedelta(minutes=n)):
            calllog.emit(event)
            total += 1
        await asyncio.sleep(0)
    emit_time = time.perf_counter() - started
    assert await asyncio.to_thread(calllog.flush, 120.0)
    write_time = time.perf_counter() - started
    task.cancel()
    assert calllog.written == total and calllog.dropped == 0
    assert emit_time < write_time / 2
    assert ticks > 10
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CallRow)) == 200
        assert session.scalar(select(func.count()).select_from(CallEventRow)) == total


def test_full_queue_drops_instead_of_blocking(sessions: sessionmaker[Session]) -> None:
    log = DbCallLog(sessions, max_queue=5)  # never started: nothing drains the queue
    started = time.perf_counter()
    for i in range(50):
        log.emit(ev.CallAnswered(call_id=f"c{i}", at=T0))
    assert time.perf_counter() - started < 1.0
    assert log.dropped == 45
    log.start()
    assert log.flush(10.0)
    log.close()
    assert log.written == 5
    log.emit(ev.CallAnswered(call_id="after-close", at=T0))
    assert log.dropped == 46


def test_a_failing_database_loses_only_the_bad_events(
    db: Engine, sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    log = DbCallLog(sessions, batch_size=10, flush_interval_s=0.5)
    log.start()
    good = ev.CallStarted(
        call_id="ok", at=T0, caller="0912345678", callee="", codec="", remote_media=""
    )
    # A NUL character: PostgreSQL refuses it in text (SQLite stores it).
    bad = ev.CallAnswered(call_id="bad\x00 0987654321", at=T0)
    with caplog.at_level(logging.WARNING, logger="ivr.calllog"):
        log.emit(good)
        log.emit(bad)
        log.emit(ev.CallAnswered(call_id="ok", at=T0))
        assert log.flush(10.0)
    log.close()
    with sessions() as session:
        assert session.get(CallRow, "ok") is not None
        assert (
            session.scalar(
                select(func.count()).select_from(CallEventRow).where(CallEventRow.call_id == "ok")
            )
            == 2
        )
    if db.dialect.name == "postgresql":
        assert (log.written, log.failed) == (2, 1)
        assert "0987654321" not in caplog.text  # the refused parameters are masked in the log
        assert "could not store" in caplog.text


def test_database_down_counts_failures_and_keeps_running(tmp_path: object) -> None:
    from db import create_engine_from_url

    engine = create_engine_from_url("sqlite://")  # no tables: every write fails
    log = DbCallLog(session_factory(engine), flush_interval_s=0.05)
    log.start()
    for i in range(3):
        log.emit(ev.CallAnswered(call_id=f"c{i}", at=T0))
    assert log.flush(10.0)
    assert (log.written, log.failed) == (0, 3)
    assert any(t.name == "calllog-writer" for t in threading.enumerate())
    log.close()
    engine.dispose()


def _load(calllog: DbCallLog, days_ago: list[int], now: datetime) -> None:
    for n, ago in enumerate(days_ago):
        for event in _every_kind(f"c{n}", now - timedelta(days=ago)):
            calllog.emit(event)
    assert calllog.flush(30.0)


def test_purge_removes_old_calls_and_their_rows(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    now = T0 + timedelta(days=400)
    _load(calllog, [400, 366, 10, 0], now)
    assert purge_expired(sessions, retention_days=365, now=now) == 2
    with sessions() as session:
        assert set(session.scalars(select(CallRow.call_id))) == {"c2", "c3"}
        for table in (CallEventRow, CallInputRow, CallTransferRow, CallbackRow, SurveyAnswerRow):
            ids = set(session.scalars(select(table.call_id)))
            assert ids == {"c2", "c3"}, table.__tablename__
    with sessions() as session, session.begin():
        assert purge_calls(session, before=now - timedelta(days=365)) == 0
    with pytest.raises(ValueError):
        purge_expired(sessions, retention_days=0, now=now)


def test_statistics(calllog: DbCallLog, sessions: sessionmaker[Session]) -> None:
    now = T0
    _load(calllog, [0, 0, 1, 3], now)
    calllog.emit(
        ev.TransferRequested(
            call_id="c0", at=now, node_id="x", department="ubnd-xa", target="sip:a@b"
        )
    )
    calllog.emit(ev.TransferResult(call_id="c0", at=now, target="sip:a@b", status=200, ok=True))
    calllog.emit(
        ev.SurveyAnswered(call_id="c1", at=now + timedelta(seconds=20), node_id="s", score=5)
    )
    assert calllog.flush(10.0)
    local_today = date(2026, 3, 2)
    with sessions() as session:
        per_day = calls_per_day(session, start=local_today - timedelta(days=3), end=local_today)
        assert per_day == [
            (date(2026, 2, 27), 1),
            (date(2026, 2, 28), 0),
            (date(2026, 3, 1), 1),
            (date(2026, 3, 2), 2),
        ]
        since, until = now - timedelta(days=10), now + timedelta(days=1)
        assert average_duration_s(session, since=since, until=until) == pytest.approx(12.0)
        assert average_duration_s(session, since=until, until=until + timedelta(days=1)) is None
        assert transfers_per_department(session, since=since, until=until) == [
            DepartmentTransfers("so-tn-mt", 4, 0),
            DepartmentTransfers("ubnd-xa", 1, 1),
        ]
        survey = survey_summary(session, since=since, until=until)
        assert survey.answers == 5 and survey.average == pytest.approx((4 * 4 + 5) / 5)


def test_day_boundaries_follow_the_local_time_zone(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    # 16:59 UTC is 23:59 in Vietnam; 17:01 UTC is already the next local day.
    for call_id, at in [
        ("a", datetime(2026, 3, 1, 16, 59, tzinfo=UTC)),
        ("b", datetime(2026, 3, 1, 17, 1, tzinfo=UTC)),
    ]:
        calllog.emit(
            ev.CallStarted(call_id=call_id, at=at, caller="", callee="", codec="", remote_media="")
        )
    assert calllog.flush(10.0)
    with sessions() as session:
        assert calls_per_day(session, start=date(2026, 3, 1), end=date(2026, 3, 2)) == [
            (date(2026, 3, 1), 1),
            (date(2026, 3, 2), 1),
        ]
        assert calls_per_day(session, start=date(2026, 3, 2), end=date(2026, 3, 1)) == []


def test_pending_callbacks_and_completion(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    for n, dept in enumerate(["so-tn-mt", "ubnd-xa", "so-tn-mt"]):
        calllog.emit(
            ev.CallbackRequested(
                call_id=f"cb{n}",
                at=T0 + timedelta(minutes=n),
                node_id="cb",
                department=dept,
                number=f"09000000{n:02d}",
            )
        )
    assert calllog.flush(10.0)
    with sessions() as session, session.begin():
        tnmt = pending_callbacks(session, department="so-tn-mt")
        assert [c.call_id for c in tnmt] == ["cb0", "cb2"]
        assert tnmt[0].number == "0900000000" and tnmt[0].requested_at == T0
        assert complete_callback(session, callback_id=tnmt[0].id, by="2201", at=T0)
        assert not complete_callback(session, callback_id=tnmt[0].id, by="2201", at=T0)
        assert not complete_callback(session, callback_id=10_000, by="2201", at=T0)
    with sessions() as session:
        assert [c.call_id for c in pending_callbacks(session)] == ["cb1", "cb2"]
        assert pending_callbacks(session, limit=0) == []


def test_long_call_ids_are_stored_under_a_stable_key(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    first, second = "a" * 200 + "1", "a" * 200 + "2"
    for call_id in (first, second, first):
        calllog.emit(ev.CallAnswered(call_id=call_id, at=T0))
    assert calllog.flush(10.0)
    assert calllog.failed == 0
    assert len(call_key(first)) == 128 and call_key(first) != call_key(second)
    assert call_key("short") == "short"
    with sessions() as session:
        seqs = session.scalars(
            select(CallEventRow.seq).where(CallEventRow.call_id == call_key(first))
        )
        assert sorted(seqs) == [1, 2]
        assert session.scalar(select(func.count()).select_from(CallRow)) == 2


def test_polling_events_and_recent_calls(
    calllog: DbCallLog, sessions: sessionmaker[Session]
) -> None:
    for event in _every_kind("first", T0):
        calllog.emit(event)
    assert calllog.flush(10.0)
    with sessions() as session:
        seen = events_after(session)
        assert len(seen) == len(_every_kind("first", T0)) and seen[0].kind == "call-started"
        assert seen[0].at == T0
        last = seen[-1].id
        assert events_after(session, after_id=last) == []
        assert len(events_after(session, limit=4)) == 4
    calllog.emit(ev.CallStarted(call_id="second", at=T0 + timedelta(hours=1), caller="0900",
                                callee="", codec="PCMU", remote_media=""))  # fmt: skip
    assert calllog.flush(10.0)
    with sessions() as session:
        newer = events_after(session, after_id=last)
        assert [(e.call_id, e.kind, e.seq) for e in newer] == [("second", "call-started", 1)]
        calls = recent_calls(session)
        assert [c.call_id for c in calls] == ["second", "first"]
        assert calls[1].duration_s == 12.0 and calls[1].end_reason == "caller-bye"
        assert calls[0].ended_at is None
