"""calls.csv on SQLite and PostgreSQL: the database's own COPY gives the same bytes as the rows
written in Python (time zone, masked numbers, formula guard, quoting, empty values), filtered
and ordered the same."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from ivr.calllog.tables import CallRow
from tests.integrations_catalogue.conftest import bare_engine, db, sessions
from web.call_reports import CallFilter
from web.calls_csv import _written, calls_csv

__all__ = ["bare_engine", "db", "sessions"]
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2026, 11, 30, 17, 0, 0, 250_000, tzinfo=UTC)  # 00:00:00.25 on 1 Dec in Hanoi


def _calls(sessions: sessionmaker[Session]) -> None:
    rows = [
        ('=HYPERLINK("x")@trunk', "0912345678", "PCMA", 12.5, "caller-bye", "main", 1),
        ("plain-1", "090*****78", "web", None, "transferred", "-lookup", None),
        ("plain-2", "+84 912 345 678", "PCMU", 3.0, "transferred", 'say "hi", then', 2),
        ("short", "1234", "PCMA", 0.0625, "@error", "", 3),
        ("outside", "0912000000", "PCMA", 1.0, "transferred", "main", 1),
    ]
    with sessions() as session, session.begin():
        for i, (call_id, caller, codec, duration, reason, node, version) in enumerate(rows):
            started = (
                START
                + timedelta(hours=i)
                + (timedelta(days=5) if call_id == "outside" else timedelta())
            )
            session.add(CallRow(call_id=call_id, caller=caller, codec=codec, started_at=started,
                                duration_s=duration, end_reason=reason, last_node=node,
                                tree_version=version))  # fmt: skip


def test_calls_csv_the_same_from_the_database_and_from_python(
    sessions: sessionmaker[Session],
) -> None:
    _calls(sessions)
    every = CallFilter(date(2026, 12, 1), date(2026, 12, 2))
    text = b"".join(calls_csv(sessions, every, HCM, limit=100)).decode()
    assert text.startswith("\ufeffcall_id,started_at,caller,channel,")
    table = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [r[0] for r in table[1:]] == [
        "'-short"[2:],
        "plain-2",
        "plain-1",
        '\'=HYPERLINK("x")@trunk',
    ]
    short, plain2, plain1, formula = table[1:]
    assert short == [
        "short",
        "2026-12-01T03:00:00+07:00",
        "****",
        "phone",
        "0.063",
        "'@error",
        "",
        "3",
        "",
    ]
    assert plain2[2:] == ["849******78", "phone", "3.000", "transferred", 'say "hi", then', "2", ""]
    assert plain1[2:] == ["090*****78", "web", "", "transferred", "'-lookup", "", ""]
    assert formula[1:3] == ["2026-12-01T00:00:00+07:00", "091*****78"]
    # the Python writer, on the same database and filter, gives the same bytes
    written = b"".join(_written(sessions, every, HCM, 100)).decode()
    assert text == "\ufeff" + ",".join(table[0]) + "\n" + written
    transferred = CallFilter(date(2026, 12, 1), date(2026, 12, 6), outcome="transferred")
    rows = list(
        csv.reader(io.StringIO(b"".join(calls_csv(sessions, transferred, HCM, limit=2)).decode()))
    )
    assert [r[0] for r in rows[1:]] == ["outside", "plain-2"]  # newest first, limited
