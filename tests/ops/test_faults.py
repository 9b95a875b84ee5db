"""Faults under calls: the database restarting (cut and restored through a TCP relay in front of
the real PostgreSQL) and the disk under the call log full (a real file-size limit on the
call-log writer process). Calls go on; the call log holds what it can and counts what it drops."""

from __future__ import annotations

import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from db import create_engine_from_url, migrate, session_factory
from ivr.calllog.sink import DbCallLog
from ivr.calllog.tables import CallRow
from ivr.events import CallAnswered, CallEnded, CallStarted
from tests.e2e.harness import run_sipp
from tests.ops.serve_process import ServeProcess, db_init, serve_env
from tests.ops.tcp_relay import TcpRelay, url_through
from tests.support import POSTGRES_URL, ROOT

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
INFO = ROOT / "tests" / "e2e" / "scenarios" / "info.xml"  # INVITE, INFO digits, BYE


def postgres_relay() -> tuple[TcpRelay, str, int]:
    """A relay open in front of the test PostgreSQL, and the server's host and port."""
    real = make_url(POSTGRES_URL)
    host, port = real.host or "127.0.0.1", real.port or 5432
    relay = TcpRelay((host, port))
    relay.open()
    return relay, host, port


def _call(log: DbCallLog, call_id: str) -> None:
    log.emit(CallStarted(call_id=call_id, at=T0, caller="0901", callee="hotline", codec="PCMA",
                         remote_media=""))  # fmt: skip
    log.emit(CallAnswered(call_id=call_id, at=T0))
    log.emit(CallEnded(call_id=call_id, at=T0, reason="caller-bye", duration_s=3.0))


def _calls(url: str) -> tuple[int, int]:
    engine = create_engine_from_url(url)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(CallRow)).scalar_one()
        ended = connection.execute(
            select(func.count()).select_from(CallRow).where(CallRow.ended_at.is_not(None))
        ).scalar_one()
    engine.dispose()
    return int(total), int(ended)


@pytest.mark.postgres
def test_call_log_holds_its_events_through_a_database_restart(pg_url: str) -> None:
    migrate(pg_url)
    relay, host, port = postgres_relay()
    engine = create_engine_from_url(url_through(pg_url, relay, host, port))
    log = DbCallLog(session_factory(engine), flush_interval_s=0.05)
    log.start()
    try:
        for n in range(5):
            _call(log, f"before-{n}")
        assert log.flush(10)
        relay.cut()  # the server goes away with every connection
        for n in range(5):
            _call(log, f"during-{n}")
        time.sleep(1.5)  # the writer fails, holds the events and retries
        assert not log.flush(0.1)
        assert log.outages == 1
        relay.open()
        assert log.flush(20)
        assert (log.written, log.failed, log.dropped) == (30, 0, 0)
    finally:
        log.close()
        engine.dispose()
        relay.close()
    assert _calls(pg_url) == (10, 10)


@pytest.mark.postgres
def test_call_log_counts_what_outlasts_its_buffer(pg_url: str) -> None:
    migrate(pg_url)
    relay, host, port = postgres_relay()
    engine = create_engine_from_url(url_through(pg_url, relay, host, port))
    log = DbCallLog(session_factory(engine), flush_interval_s=0.05, batch_size=3, max_queue=6)
    log.start()
    try:
        relay.cut()
        for n in range(10):
            _call(log, f"c{n}")  # 30 events: 3 in the writer's hand, 6 queued, the rest dropped
        assert log.dropped == 30 - 3 - 6 or log.dropped == 30 - 6, log.dropped
        relay.open()
        assert log.flush(20)
        assert log.written == 30 - log.dropped and log.failed == 0
    finally:
        log.close()
        engine.dispose()
        relay.close()


@pytest.mark.e2e
@pytest.mark.postgres
async def test_calls_go_on_while_the_database_restarts(tmp_path: Path, pg_url: str) -> None:
    db_init(serve_env(tmp_path, pg_url))
    relay, host, port = postgres_relay()
    env = serve_env(tmp_path, url_through(pg_url, relay, host, port),
                    TONGDAI_NODE__DATABASE_CHECK_S="0.5")  # fmt: skip
    node = ServeProcess.start(tmp_path, env, "--app", "digits")
    try:
        node.wait_for("answering calls", 60)
        first = await run_sipp(INFO, node.sip_port, calls=4, concurrent=4, rate=10)
        assert first.returncode == 0, first.stdout[-1500:] + node.output()[-3000:]
        relay.cut()
        deadline = time.monotonic() + 10
        while node.ready()[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        status, report = node.ready()
        assert status == 503 and report["database"] != "ok", report  # readiness shows it
        during = await run_sipp(INFO, node.sip_port, calls=6, concurrent=6, rate=10)
        assert during.returncode == 0, during.stdout[-1500:] + node.output()[-3000:]
        relay.open()
        deadline = time.monotonic() + 20
        while _calls(pg_url) != (10, 10) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert node.ready()[0] == 200
    finally:
        assert node.stop() == 0
        relay.close()
    assert _calls(pg_url) == (10, 10)  # nothing lost: the writer held the outage's records
    assert "holding events" in node.output() and "held events written" in node.output()


def _writer_pid(node: ServeProcess) -> int:
    for task in Path(f"/proc/{node.process.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"ivr.calllog.writer_process" in cmdline:
                return int(child)
    raise AssertionError("no call-log writer process")


@pytest.mark.e2e
async def test_calls_go_on_while_the_call_log_disk_is_full(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    env = serve_env(tmp_path, f"sqlite:///{db}")
    db_init(env)
    node = ServeProcess.start(tmp_path, env, "--app", "digits")
    try:
        node.wait_for("answering calls", 60)
        first = await run_sipp(INFO, node.sip_port, calls=3, concurrent=3, rate=10)
        assert first.returncode == 0, first.stdout[-1500:] + node.output()[-3000:]
        url = f"sqlite:///{db}"
        deadline = time.monotonic() + 30
        while _calls(url) != (3, 3) and time.monotonic() < deadline:  # the writer is up
            time.sleep(0.3)
        writer = _writer_pid(node)
        # The disk is full for the writer: no write of its lands past the first byte of a file
        # (its log lines included: they go to the same files as the node's).
        _, hard = resource.prlimit(writer, resource.RLIMIT_FSIZE)
        resource.prlimit(writer, resource.RLIMIT_FSIZE, (1, hard))
        during = await run_sipp(INFO, node.sip_port, calls=5, concurrent=5, rate=10)
        assert during.returncode == 0, during.stdout[-1500:] + node.output()[-3000:]
        time.sleep(2)
        assert _calls(url) == (3, 3)  # nothing more could be written (nor logged: same disk)
        resource.prlimit(writer, resource.RLIMIT_FSIZE, (hard, hard))  # space freed
        deadline = time.monotonic() + 20
        while _calls(url) != (8, 8) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        assert node.stop() == 0
    assert _calls(f"sqlite:///{db}") == (8, 8)
    assert "Traceback" not in node.output()
