"""Hourly call figures on SQLite and PostgreSQL: kept by the real call-log writer as calls end,
caught up for calls loaded another way, counted once, and read by the dashboard to the same
figures as counting the calls themselves."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ivr.calllog.rollup import FREE_INPUT, roll_up, roll_up_pending
from ivr.calllog.sink import DbCallLog
from ivr.calllog.tables import CallHourCountRow, CallHourRow, CallRow
from ivr.events import (
    CallEnded,
    CallStarted,
    InputReceived,
    TransferRequested,
    TransferResult,
)
from tests.web.test_call_pages import write_calls
from web.call_reports import _dashboard_from_calls, dashboard

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def _extra_calls(sessions: sessionmaker[Session], now: datetime) -> None:
    """A call typing a dossier code and transferred twice, and a call still going on."""
    log = DbCallLog(sessions)
    log.start()
    log.emit(CallStarted(call_id="typed", at=now, caller="0911", callee="h", codec="PCMA",
                         remote_media=""))  # fmt: skip
    log.emit(InputReceived(call_id="typed", at=now, node_id="lookup", mode="dtmf",
                           value="2503039005"))  # fmt: skip
    for status in (486, 200):
        log.emit(TransferRequested(call_id="typed", at=now, node_id="officer",
                                   department="land", target="sip:land@pbx"))  # fmt: skip
        log.emit(TransferResult(call_id="typed", at=now, target="sip:land@pbx", status=status,
                                ok=status == 200))  # fmt: skip
    log.emit(CallEnded(call_id="typed", at=now + timedelta(seconds=30), reason="transferred",
                       duration_s=30.0))  # fmt: skip
    log.emit(CallStarted(call_id="going-on", at=now, caller="0912", callee="h", codec="PCMA",
                         remote_media=""))  # fmt: skip
    assert log.flush(10.0)
    log.close()


def _hours(session: Session) -> dict[str, int]:
    row = session.execute(
        select(
            func.sum(CallHourRow.calls),
            func.sum(CallHourRow.transferred),
            func.sum(CallHourRow.transfers_ok),
            func.sum(CallHourRow.survey_count),
        )
    ).one()
    return dict(
        zip(["calls", "transferred", "transfers_ok", "surveys"], map(int, row), strict=True)
    )


def test_writer_keeps_hourly_figures(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    write_calls(sessions, now)
    _extra_calls(sessions, now)
    with sessions() as session:
        # six calls of write_calls (one transferred, six surveys) and "typed" (two transfers,
        # one answered); the call still going on is not counted yet
        assert _hours(session) == {"calls": 7, "transferred": 2, "transfers_ok": 1, "surveys": 6}
        assert session.get(CallRow, "going-on").rolled_up is False  # type: ignore[union-attr]
        choices = dict(
            ((a, b), n)
            for a, b, n in session.execute(
                select(CallHourCountRow.a, CallHourCountRow.b, func.sum(CallHourCountRow.n))
                .where(CallHourCountRow.kind == "choice")
                .group_by(CallHourCountRow.a, CallHourCountRow.b)
            )
        )
        # the typed dossier code is counted as free input, never kept as a "choice"
        assert choices == {("main", "1"): 3, ("main", "2"): 3, ("lookup", FREE_INPUT): 1}
        lookups = session.execute(
            select(CallHourCountRow.b, func.sum(CallHourCountRow.n))
            .where(CallHourCountRow.kind == "lookup")
            .group_by(CallHourCountRow.b)
            .order_by(CallHourCountRow.b)
        ).all()
        assert [(b, int(n)) for b, n in lookups] == [("không có", 1), ("tìm thấy", 5)]
    # rolling up calls already counted adds nothing
    with sessions() as session, session.begin():
        assert roll_up(session, ["call-0", "typed", "going-on"]) == 0
        assert roll_up_pending(session) == 0
        assert _hours(session)["calls"] == 7


def test_dashboard_reads_the_same_figures_as_the_calls(sessions: sessionmaker[Session]) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    write_calls(sessions, now)
    _extra_calls(sessions, now)
    today = now.astimezone(HCM).date()
    since = today - timedelta(days=2)
    # the hourly figures count the call still going on once it ends
    with sessions() as session, session.begin():
        session.execute(
            update(CallRow)
            .where(CallRow.call_id == "going-on")
            .values(ended_at=now, end_reason="caller-bye", duration_s=12.0)
        )
        assert roll_up_pending(session) == 1
    with sessions() as session:
        rolled = dashboard(session, since, today, HCM)
        counted = _dashboard_from_calls(session, since, today, HCM)
    assert rolled.total == counted.total == 8
    assert rolled.per_hour == counted.per_hour and sum(rolled.per_hour) == 8
    assert rolled.per_day == counted.per_day
    assert (rolled.transferred, rolled.transfers_ok) == (counted.transferred, counted.transfers_ok)
    assert rolled.web_calls == counted.web_calls == 1
    assert rolled.average_duration_s == counted.average_duration_s
    assert rolled.survey_average == counted.survey_average == 4.5
    assert sorted(rolled.top_choices) == sorted(counted.top_choices)
    assert sorted(rolled.lookups) == sorted(counted.lookups)


def test_calls_loaded_in_bulk_are_caught_up_once(sessions: sessionmaker[Session]) -> None:
    start = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)  # 06:59 on 1 December in Hanoi
    with sessions() as session, session.begin():
        for i in range(5):
            at = start + timedelta(minutes=i)
            session.add(CallRow(call_id=f"bulk-{i}", caller="09", started_at=at, ended_at=at,
                                end_reason="caller-bye", duration_s=10.0 * i))  # fmt: skip
    with sessions() as session, session.begin():
        assert roll_up_pending(session, limit=3) == 3
    with sessions() as session, session.begin():
        assert roll_up_pending(session, limit=3) == 2
        assert roll_up_pending(session) == 0
    with sessions() as session:
        hours = {
            h.hour.replace(tzinfo=UTC): (h.calls, h.duration_sum)
            for h in session.scalars(select(CallHourRow))
        }
        assert hours == {
            datetime(2026, 11, 30, 23, tzinfo=UTC): (1, 0.0),
            datetime(2026, 12, 1, 0, tzinfo=UTC): (4, 100.0),
        }
        d = dashboard(session, datetime(2026, 12, 1).date(), datetime(2026, 12, 1).date(), HCM)
    assert d.total == 5 and d.per_hour[6] == 1 and d.per_hour[7] == 4
    assert d.average_duration_s == 20.0


def test_two_writers_rolling_up_one_call_count_it_once(sessions: sessionmaker[Session]) -> None:
    at = datetime(2026, 12, 1, 3, tzinfo=UTC)
    with sessions() as session, session.begin():
        session.add(CallRow(call_id="both", caller="09", started_at=at, ended_at=at,
                            end_reason="caller-bye", duration_s=5.0))  # fmt: skip
    first, second = sessions(), sessions()
    try:
        first.begin()
        assert roll_up(first, ["both"]) == 1  # claimed, not committed yet
        result: list[int] = []

        def other_writer() -> None:
            # PostgreSQL: waits on the claimed row, then sees it counted; SQLite: waits on the
            # database lock until the first writer commits, then the same
            with second.begin():
                result.append(roll_up(second, ["both"]))

        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() or result == [0]  # never counted while the first is open
        first.commit()
        thread.join(10)
        assert result == [0]
    finally:
        first.close()
        second.close()
    with sessions() as session:
        assert session.scalar(select(func.sum(CallHourRow.calls))) == 1
