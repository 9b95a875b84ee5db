"""The console's feed on SQLite and PostgreSQL: a ring stored by the call log becomes this
officer's screen-pop (another officer's does not), the line follows the queue, numbers are
masked for a role without personal data."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import migrate, session_factory, unit_of_work
from integrations.officers import save_department, save_officer
from ivr.queue.model import EntryKind, OfficerState
from ivr.queue.store_db import DbQueueStore
from tests.support import fresh_database
from tests.web.console_support import (
    CALLER,
    DOSSIER,
    SAID,
    STORED_CALLER,
    ringing_call,
    write_events,
)
from web.console_data import ConsoleOfficer
from web.console_events import Feed, latest_event_id
from web.console_pop import build_pop

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ME = ConsoleOfficer("2201", "Lê Hoàng Phúc", "so-tn-mt")


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[tuple[str, sessionmaker[Session]]]:
    for url, engine in fresh_database(request.param, tmp_path, pg_available):
        migrate(engine)
        factory = session_factory(engine)
        with unit_of_work(factory) as session:
            save_department(session, dept_id=ME.department_id, name="Sở Tài nguyên và Môi trường")
            session.flush()
            save_officer(session, department_id=ME.department_id, name=ME.name,
                         extension=ME.extension)  # fmt: skip
        yield url, factory


def _parse(chunk: str) -> tuple[str, Any]:
    fields = dict(
        line.split(": ", 1) for line in chunk.strip().splitlines() if not line.startswith(":")
    )
    return fields.get("event", ""), json.loads(fields["data"]) if "data" in fields else None


async def _until(stream: Any, kind: str, timeout_s: float = 10.0) -> Any:
    async def read() -> Any:
        async for chunk in stream:
            name, data = _parse(chunk)
            if name == kind:
                return data
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(read(), timeout_s)


def test_a_stored_ring_becomes_this_officers_screen_pop(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, sessions = database
    # An event from before the console opened is not popped.
    write_events(url, ringing_call("before", ME.extension, ME.department_id))
    with sessions() as session:
        after = latest_event_id(session)
    feed = Feed(sessions, ME, personal=True, after=after)

    async def gone() -> bool:
        return False

    async def scenario() -> tuple[Any, Any, Any, float]:
        stream = feed.stream(gone)
        hello = await _until(stream, "hello")
        first_line = await _until(stream, "queue")
        store = DbQueueStore(sessions)
        now = time.time()
        await store.set_state(ME.extension, ME.department_id, OfficerState.AVAILABLE, now=now)
        await store.join(ME.department_id, call_id="w", caller="0903111222",
                         kind=EntryKind.CALL, now=now - 30)  # fmt: skip
        line = await _until(stream, "queue")
        started = time.monotonic()
        await asyncio.to_thread(write_events, url, ringing_call("other", "2202", ME.department_id))
        await asyncio.to_thread(
            write_events, url, ringing_call("mine", ME.extension, ME.department_id)
        )
        pop = await _until(stream, "screen-pop")
        return hello, (first_line, line), pop, time.monotonic() - started

    hello, (first_line, line), pop, delay_s = asyncio.run(scenario())
    assert hello["officer"] == ME.extension
    assert first_line["state"] == "signed_out" and first_line["line"] == []
    assert line["state"] == "available"
    assert [(r["place"], r["caller"]) for r in line["line"]] == [(1, "0903111222")]
    assert 29 <= line["line"][0]["waited_s"] <= 40
    assert pop["call_id"] == "mine" and pop["caller"] == STORED_CALLER
    assert pop["dossier_code"] == DOSSIER and pop["said"] == [SAID]
    assert delay_s < 3.0


def test_the_pop_is_masked_without_personal_data() -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("node-entered", {"node_id": "greeting"}),
        ("speech-recognized", {"text": "số của tôi là 0912345678"}),
        ("lookup-done", {"lookup": "dossier", "key": DOSSIER, "found": True, "detail": "xong"}),
    ]
    ringing = {"officer": "2201", "department": "so-tn-mt", "waited_s": 7.5}
    open_pop = build_pop(9, ringing, CALLER, events, personal=True)
    masked = build_pop(9, ringing, CALLER, events, personal=False)
    assert open_pop.caller == CALLER and "0912345678" in open_pop.said[0]
    assert masked.caller == "091*****78"
    assert "0912345678" not in masked.said[0] and "091*****78" in masked.said[0]
    assert masked.dossier_code == DOSSIER  # a dossier code is not personal data
    assert masked.waited_s == 7.5 and masked.menu_path == ["greeting"]


@pytest.mark.postgres
def test_on_postgresql_a_queue_change_wakes_the_feed_before_the_poll(
    tmp_path: Path, pg_available: bool
) -> None:
    for _url, engine in fresh_database("postgres", tmp_path, pg_available):
        migrate(engine)
        sessions = session_factory(engine)
        with unit_of_work(sessions) as session:
            save_department(session, dept_id=ME.department_id, name="Sở TN-MT")
            save_department(session, dept_id="khac", name="Khác")
            session.flush()
            save_officer(session, department_id=ME.department_id, name=ME.name,
                         extension=ME.extension)  # fmt: skip
            save_officer(session, department_id="khac", name="Người khác", extension="9001")
        feed = Feed(sessions, ME, personal=True, after=0, poll_s=30.0)  # the poll alone: too late

        async def gone() -> bool:
            return False

        async def scenario(feed: Feed, sessions: sessionmaker[Session]) -> tuple[Any, float]:
            stream = feed.stream(gone)
            await _until(stream, "hello")
            assert (await _until(stream, "queue"))["state"] == "signed_out"
            store = DbQueueStore(sessions)
            await asyncio.sleep(0.3)  # the feed is waiting now
            # Another department's notification first (the feed keeps waiting), then its own.
            await store.set_state("9001", "khac", OfficerState.AVAILABLE, now=time.time())
            started = time.monotonic()
            await store.set_state(ME.extension, ME.department_id, OfficerState.ON_BREAK,
                                  now=time.time())  # fmt: skip
            line = await _until(stream, "queue", timeout_s=5.0)
            return line, time.monotonic() - started

        line, delay_s = asyncio.run(scenario(feed, sessions))
        assert line["state"] == "on_break"
        assert delay_s < 2.0


def test_each_step_of_a_call_back_now_reaches_the_officers_feed(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    """SQLite within a poll; PostgreSQL woken by the step's notification (the poll set to 30 s
    here, so only the wake can deliver in time)."""
    from ivr.outbound.requests import DbOutboundCalls

    _, sessions = database
    pg = sessions.kw["bind"].dialect.name == "postgresql"
    feed = Feed(sessions, ME, personal=True, after=0, poll_s=30.0 if pg else 0.2)
    calls = DbOutboundCalls(sessions)

    async def gone() -> bool:
        return False

    async def scenario() -> list[tuple[str, float]]:
        stream = feed.stream(gone)
        await _until(stream, "hello")
        await _until(stream, "queue")
        made = await calls.request(
            source="menu", ref=7, call_id="c-7", department_id=ME.department_id,
            officer=ME.extension, requested_by="phuc.le", now=time.time(), stale_after_s=600,
        )  # fmt: skip
        seen: list[tuple[str, float]] = [((await _until(stream, "callback-call"))["state"], 0.0)]
        for state in ("ringing-officer", "calling-citizen", "connected", "done"):
            await asyncio.sleep(0.3)  # the feed is waiting again
            started = time.monotonic()
            outcome = "reached" if state == "done" else ""
            await calls.report(made.id, state, now=time.time(), outcome=outcome, status=200)
            data = await _until(stream, "callback-call", timeout_s=5.0)
            seen.append((f"{data['state']}:{data['label']}", time.monotonic() - started))
        return seen

    seen = asyncio.run(scenario())
    assert [s for s, _ in seen] == [
        "requested",
        "ringing-officer:Đang đổ chuông máy của bạn",
        "calling-citizen:Đang gọi người dân",
        "connected:Đã kết nối với người dân",
        "done:Đã liên lạc được",
    ]
    assert max(delay for _, delay in seen) < 2.0, seen
