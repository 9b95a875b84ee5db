"""A node SIGKILLed with calls up: behind Kamailio on PostgreSQL, new calls go on through the
other node while that node records the killed node's calls as lost within the stale window and
counts them; a node restarted alone on SQLite records its own; nothing is counted twice; a
node whose first heartbeat meets a database outage records its old calls once it is back."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from db import create_engine_from_url, database_unreachable, migrate, session_factory, unit_of_work
from ivr import events as ev
from ivr.calllog.lost_calls import LOST, beat
from ivr.calllog.moments import utc
from ivr.calllog.node_liveness import NodeLiveness
from ivr.calllog.sink import DbCallLog
from ivr.calllog.tables import CallEventRow, CallRow, NodeHeartbeatRow
from tests.e2e.harness import free_port, run_sipp
from tests.ops.serve_process import ServeProcess, db_init, serve_env
from tests.ops.tcp_relay import url_through
from tests.ops.test_faults import postgres_relay
from tests.ops.test_kamailio_edge import INFO, LATE_180, start_kamailio
from tests.ops.test_metrics import samples, value
from tests.support import ROOT

pytestmark = pytest.mark.e2e
HELD = ROOT / "tests" / "ops" / "scenarios" / "held_routed.xml"  # INVITE, 6 s up, BYE
HEARTBEAT_S = 0.5
LOST_AFTER_S = 3.0
# found by the next look of a live node after the window; the rest is room for a loaded machine
FOUND_WITHIN_S = LOST_AFTER_S + HEARTBEAT_S + 2.5
# a BYE to a killed node is answered by nobody: give up after two retransmissions, not seven
GIVE_UP = ["-max_non_invite_retrans", "2"]


def _env(tmp_path: Path, url: str, node_id: str) -> dict[str, str]:
    return serve_env(
        tmp_path, url,
        TONGDAI_DATA_DIR=str(tmp_path / node_id), TONGDAI_NODE__ID=node_id,
        TONGDAI_NODE__HEARTBEAT_S=str(HEARTBEAT_S), TONGDAI_NODE__LOST_AFTER_S=str(LOST_AFTER_S),
        # Kamailio limits callers itself and stands for every one of them
        TONGDAI_SIP__LIMITS__EXEMPT='["127.0.0.1"]',
    )  # fmt: skip


def _calls(url: str) -> list[CallRow]:
    engine = create_engine_from_url(url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(CallRow).order_by(CallRow.call_id)))
    finally:
        engine.dispose()


def _lost_events(url: str) -> int:
    engine = create_engine_from_url(url)
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(CallEventRow).where(CallEventRow.kind == "call-ended"))
            return sum(1 for row in rows if row.payload.get("reason") == LOST)
    finally:
        engine.dispose()


def _lost_counted(node: ServeProcess, of: str) -> float:
    status, body = node.get("/metrics")
    assert status == 200, body
    return value(samples(body), "tongdai_calls_lost_total", node=of)


def _started(node: ServeProcess) -> int:
    return node.output().count("call-started")


async def _until(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s")


@pytest.mark.postgres
async def test_a_killed_nodes_calls_are_lost_and_counted_new_calls_go_on(
    tmp_path: Path, pg_url: str
) -> None:
    db_init(_env(tmp_path, pg_url, "init"))
    nodes = [ServeProcess.start(tmp_path, _env(tmp_path, pg_url, f"node{k}"), "--app", "digits",
                                name=f"node{k}") for k in range(2)]  # fmt: skip
    port = free_port()
    proxy = None
    try:
        for node in nodes:
            node.wait_for("answering calls", 60)
        proxy = start_kamailio(tmp_path, port, [node.sip_port for node in nodes])
        await asyncio.sleep(3)  # first OPTIONS probes
        kamailio_log = tmp_path / "kamailio.log"
        held = asyncio.create_task(
            run_sipp(
                HELD,
                port,
                calls=10,
                concurrent=10,
                rate=20,
                timeout_s=40,
                extra=[*LATE_180, *GIVE_UP],
            )
        )
        await _until(lambda: sum(_started(node) for node in nodes) == 10, 15, "10 calls up")
        await asyncio.sleep(0.5)  # the call-log writers store what they were handed
        carried = _started(nodes[0])
        assert 0 < carried < 10  # both nodes carry calls
        nodes[0].process.send_signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        nodes[0].process.wait(5)
        killed = time.monotonic()

        # new calls while the killed node is silent: every one answered by the live node
        fresh = asyncio.create_task(
            run_sipp(INFO, port, calls=8, concurrent=4, rate=4, extra=LATE_180)
        )

        def lost() -> bool:
            mine = [c for c in _calls(pg_url) if c.carried_by == "node0"]
            return bool(mine) and all(c.ended_at is not None for c in mine)

        await _until(lost, FOUND_WITHIN_S + 1, "the killed node's calls closed")
        found_after_s = time.monotonic() - killed
        assert found_after_s <= FOUND_WITHIN_S, found_after_s
        print(f"{carried} calls of the killed node closed as lost {found_after_s:.1f} s after "
              f"the kill (heartbeat {HEARTBEAT_S} s, lost after {LOST_AFTER_S} s)")  # fmt: skip
        result = await fresh
        text = kamailio_log.read_text(errors="replace")
        assert result.returncode == 0, result.errors[-3000:] + text[-3000:]
        assert result.count("Successful call") == 8
        mine = [c for c in _calls(pg_url) if c.carried_by == "node0"]
        assert len(mine) == carried, (len(mine), carried)
        assert all(c.end_reason == LOST for c in mine)
        for call in mine:  # ended at the last heartbeat before the kill
            ended = utc(call.ended_at)  # type: ignore[arg-type]
            assert killed_at - timedelta(seconds=HEARTBEAT_S + 0.5) <= ended <= killed_at, ended
        assert _lost_counted(nodes[1], "node0") == carried
        assert _lost_events(pg_url) == carried

        result = await held  # the live node's held calls end as they should
        # exactly the killed node's callers failed: their BYE was answered by nobody
        assert result.count("Failed call") == carried, result.stdout[-2000:]
        assert result.count("Successful call") == 10 - carried

        def live_ones_ended() -> bool:
            others = [c for c in _calls(pg_url) if c.carried_by == "node1"]
            return len(others) == 10 - carried + 8 and all(c.ended_at for c in others)

        await _until(live_ones_ended, 5, "the live node's calls stored ended")
        others = [c for c in _calls(pg_url) if c.carried_by == "node1"]
        assert all(c.end_reason not in ("", LOST) for c in others), [c.end_reason for c in others]

        # the killed node back with the same id: its calls were closed already, none counted
        nodes[0] = ServeProcess.start(tmp_path, _env(tmp_path, pg_url, "node0"), "--app",
                                      "digits", name="node0-again")  # fmt: skip
        nodes[0].wait_for("answering calls", 60)
        await asyncio.sleep(LOST_AFTER_S + 2 * HEARTBEAT_S)  # both nodes look again
        assert _lost_counted(nodes[0], "node0") == 0
        assert _lost_counted(nodes[1], "node0") == carried
        assert sum(c.end_reason == LOST for c in _calls(pg_url)) == carried
        assert _lost_events(pg_url) == carried
        assert "Traceback" not in nodes[1].output() + nodes[0].output()
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(10)
        for node in nodes:
            node.stop()


async def test_a_node_restarted_alone_records_its_own_calls_once(tmp_path: Path) -> None:
    """On SQLite, one node: nobody else is left to look, so the node looks at its own start."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    env = _env(tmp_path, url, "solo")
    db_init(env)
    node = ServeProcess.start(tmp_path, env, "--app", "digits", name="solo")
    try:
        node.wait_for("answering calls", 60)
        held = asyncio.create_task(
            run_sipp(
                HELD, node.sip_port, calls=3, concurrent=3, rate=10, timeout_s=20, extra=GIVE_UP
            )
        )
        await _until(lambda: _started(node) == 3, 15, "3 calls up")
        await asyncio.sleep(HEARTBEAT_S + 0.5)  # stored, and a heartbeat written after them
        node.process.send_signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        node.process.wait(5)
        assert all(c.ended_at is None for c in _calls(url))
        assert len(_calls(url)) == 3

        node = ServeProcess.start(tmp_path, env, "--app", "digits", name="solo-again")
        node.wait_for("answering calls", 60)
        assert "3 calls of its previous run recorded as lost" in node.output()
        calls = _calls(url)
        assert all(c.end_reason == LOST and c.carried_by == "solo" for c in calls)
        for call in calls:
            ended = utc(call.ended_at)  # type: ignore[arg-type]
            assert killed_at - timedelta(seconds=HEARTBEAT_S + 0.5) <= ended <= killed_at, ended
        assert _lost_counted(node, "solo") == 3
        await held
        node.stop()

        node = ServeProcess.start(tmp_path, env, "--app", "digits", name="solo-third")
        node.wait_for("answering calls", 60)
        assert _lost_counted(node, "solo") == 0  # nothing left open: nothing counted again
        assert _lost_events(url) == 3
    finally:
        node.stop()


@pytest.mark.postgres
def test_a_node_started_during_a_database_outage_closes_its_old_calls_once_it_is_back(
    pg_url: str,
) -> None:
    """The first heartbeat fails (the database went away after the start-up check): the
    liveness thread keeps trying, and closes the node's calls of its previous run first."""
    migrate(pg_url)
    direct = create_engine_from_url(pg_url)
    sessions = session_factory(direct)
    last_run = datetime.now(UTC) - timedelta(minutes=5)
    with unit_of_work(sessions) as session:
        beat(session, "n", last_run + timedelta(seconds=30), starting=True)
    log = DbCallLog(sessions, node_id="n")
    log.start()
    log.emit(ev.CallStarted(call_id="old-1", at=last_run, caller="0901", callee="hotline",
                            codec="PCMA", remote_media=""))  # fmt: skip
    assert log.flush(10)
    log.close()
    relay, host, port = postgres_relay()
    engine = create_engine_from_url(url_through(pg_url, relay, host, port))
    counted: list[tuple[str, int]] = []
    liveness = NodeLiveness(session_factory(engine), "n", heartbeat_s=0.1, lost_after_s=3,
                            on_lost=lambda node, n: counted.append((node, n)))  # fmt: skip
    try:
        relay.cut()
        with pytest.raises(Exception) as refused:
            liveness.start_up()
        assert database_unreachable(refused.value)
        liveness.start()
        time.sleep(0.5)  # beats fail meanwhile
        assert counted == []
        relay.open()
        deadline = time.monotonic() + 10
        while not counted and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # further beats: nothing counted again
    finally:
        liveness.stop()
        engine.dispose()
        relay.close()
    assert counted == [("n", 1)]
    (call,) = _calls(pg_url)
    assert call.end_reason == LOST
    assert utc(call.ended_at) == last_run + timedelta(seconds=30)  # type: ignore[arg-type]
    with sessions() as session:
        row = session.get(NodeHeartbeatRow, "n")
        assert row is not None and utc(row.beat_at) > datetime.now(UTC) - timedelta(seconds=2)
    direct.dispose()
