"""CallLogProcess: events cross to a real writer process and land in SQLite and PostgreSQL;
the media side never blocks, whatever the writer does."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, migrate, session_factory
from ivr.calllog.tables import CallEventRow, CallRow
from ivr.calllog.writer_process import CallLogProcess
from tests.calllog.test_calllog import _every_kind
from tests.support import fresh_database

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A migrated database reachable by URL from another process, with sessions on it."""
    for url, engine in fresh_database(request.param, tmp_path, pg_available):
        migrate(engine)
        yield url, session_factory(engine)


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        calls = session.scalar(select(func.count()).select_from(CallRow)) or 0
        events = session.scalar(select(func.count()).select_from(CallEventRow)) or 0
    return calls, events


async def test_events_emitted_on_the_loop_are_stored_by_the_writer_process(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, sessions = database
    sink = CallLogProcess(url, send_delay_s=0.01)
    sink.start()
    try:
        emitted = 0
        for n in range(30):
            for event in _every_kind(f"call-{n}", T0):
                sink.emit(event)
                emitted += 1
        await asyncio.sleep(0.05)  # the delayed send runs on the loop
        assert await asyncio.to_thread(sink.flush, 30.0)
        assert sink.sent == emitted and sink.dropped == 0
        assert _counts(sessions) == (30, emitted)
        with sessions() as session:
            row = session.scalars(select(CallRow).where(CallRow.call_id == "call-7")).one()
            assert row.end_reason == "caller-bye"
    finally:
        sink.close()
    assert sink.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(sink.pid, 0)  # the writer has exited (and was reaped)


def test_without_a_loop_events_are_sent_at_once(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, sessions = database
    sink = CallLogProcess(url)
    sink.start()
    try:
        events = _every_kind("no-loop", T0)
        for event in events:
            sink.emit(event)
        assert sink.sent == len(events)  # nothing waited for a timer that would never run
        assert sink.flush(30.0)
        assert _counts(sessions) == (1, len(events))
    finally:
        sink.close()


def test_a_stalled_writer_never_blocks_emit_and_drops_are_counted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stalled.db'}"
    engine = create_engine_from_url(url)
    migrate(engine)
    sink = CallLogProcess(url, max_pending=1000)
    sink.start()
    assert sink.pid is not None
    os.kill(sink.pid, signal.SIGSTOP)  # the writer stops reading: the socket fills up
    try:
        started = time.perf_counter()
        emitted = 0
        while emitted < 60_000:
            for event in _every_kind(f"flood-{emitted}", T0):
                sink.emit(event)
                emitted += 1
        elapsed = time.perf_counter() - started
        assert sink.dropped > 0, "a full socket and a full buffer must drop, not block"
        assert sink.sent + sink.dropped + 1000 >= emitted
        # 60,000 emits in well under the time one blocked send would have hung
        assert elapsed < 20.0
    finally:
        os.kill(sink.pid, signal.SIGCONT)
    assert sink.flush(60.0)
    _, events = _counts(session_factory(engine))
    assert events == sink.sent  # everything that was sent is stored, nothing twice
    sink.close()
    engine.dispose()


def test_the_writer_stores_what_it_has_and_exits_when_the_media_process_vanishes(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'orphan.db'}"
    engine = create_engine_from_url(url)
    migrate(engine)
    sink = CallLogProcess(url)
    sink.start()
    events = _every_kind("orphan", T0)
    for event in events:
        sink.emit(event)
    process = sink._process
    assert process is not None
    assert sink._sock is not None
    sink._sock.close()  # what the kernel does when the media process dies
    sink._sock = None
    assert process.wait(30) == 0
    assert _counts(session_factory(engine)) == (1, len(events))
    engine.dispose()


def test_events_after_close_are_dropped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'closed.db'}"
    migrate(create_engine_from_url(url))
    sink = CallLogProcess(url)
    sink.start()
    sink.close()
    sink.emit(_every_kind("late", T0)[0])
    assert sink.dropped == 1
