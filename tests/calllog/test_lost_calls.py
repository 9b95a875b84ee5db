"""Lost calls on SQLite and PostgreSQL: calls written by the real call-log writer for a node,
its heartbeat, another node (or the same node restarted) closing its open calls as lost, once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import database_unreachable
from ivr import events as ev
from ivr.calllog.lost_calls import LOST
from ivr.calllog.moments import utc
from ivr.calllog.node_liveness import NodeLiveness
from ivr.calllog.sink import DbCallLog
from ivr.calllog.tables import CallEventRow, CallRow, NodeHeartbeatRow

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
HEARTBEAT_S = 1.0
LOST_AFTER_S = 15.0


class Clock:
    """The moment every liveness of a test reads."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def set(self, seconds: float) -> None:
        self.at = T0 + timedelta(seconds=seconds)


def _liveness(
    sessions: sessionmaker[Session], node_id: str, clock: Clock, counted: list[tuple[str, int]]
) -> NodeLiveness:
    return NodeLiveness(
        sessions, node_id, heartbeat_s=HEARTBEAT_S, lost_after_s=LOST_AFTER_S,
        on_lost=lambda node, count: counted.append((node, count)), now=clock,
    )  # fmt: skip


def _calls(sessions: sessionmaker[Session], node_id: str, open_ids: list[str],
           ended_ids: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Calls started at T0+1 s on ``node_id`` through the real writer; ``ended_ids`` hang up."""
    log = DbCallLog(sessions, node_id=node_id, flush_interval_s=0.02)
    log.start()
    for call_id in [*open_ids, *ended_ids]:
        at = T0 + timedelta(seconds=1)
        log.emit(ev.CallStarted(call_id=call_id, at=at, caller="sip:a@b", callee="sip:hotline@ivr",
                                codec="PCMA", remote_media="x"))  # fmt: skip
        log.emit(ev.CallAnswered(call_id=call_id, at=T0 + timedelta(seconds=1.1)))
    for call_id in ended_ids:
        log.emit(ev.CallEnded(call_id=call_id, at=T0 + timedelta(seconds=3),
                              reason="caller-bye", duration_s=2.0))  # fmt: skip
    assert log.flush(10)
    log.close()


def _rows(sessions: sessionmaker[Session]) -> dict[str, CallRow]:
    with sessions() as session:
        return {row.call_id: row for row in session.scalars(select(CallRow))}


def _ended_events(sessions: sessionmaker[Session], call_id: str) -> list[CallEventRow]:
    with sessions() as session:
        stmt = select(CallEventRow).where(CallEventRow.call_id == call_id,
                                          CallEventRow.kind == "call-ended")  # fmt: skip
        return list(session.scalars(stmt.order_by(CallEventRow.seq)))


def test_a_silent_nodes_open_calls_are_recorded_lost_once(
    sessions: sessionmaker[Session],
) -> None:
    clock, counted = Clock(), []  # type: ignore[var-annotated]
    a, b = _liveness(sessions, "a", clock, counted), _liveness(sessions, "b", clock, counted)
    assert a.start_up() == 0 and b.start_up() == 0
    _calls(sessions, "a", ["a1", "a2"], ("a3",))
    _calls(sessions, "b", ["b1"])
    clock.set(5)
    assert a.round() == 0 and b.round() == 0  # a beats for the last time at T0+5 s
    clock.set(5 + LOST_AFTER_S - 1)
    assert b.round() == 0  # not silent for long enough yet
    clock.set(5 + LOST_AFTER_S + 1)
    assert b.round() == 2
    assert counted == [("a", 2)]
    rows = _rows(sessions)
    assert {rows[c].carried_by for c in rows} == {"a", "b"}
    for call_id in ("a1", "a2"):
        assert rows[call_id].end_reason == LOST
        assert utc(rows[call_id].ended_at) == T0 + timedelta(seconds=5)  # type: ignore[arg-type]
        assert rows[call_id].duration_s == 4.0
        (ended,) = _ended_events(sessions, call_id)
        assert ended.payload == {"reason": LOST, "duration_s": 4.0, "node": "a"}
        assert ended.seq == 3  # after call-started and call-answered
        assert rows[call_id].rolled_up  # in the dashboard's hourly figures at once
    assert rows["a3"].end_reason == "caller-bye"  # a call that ended is left alone
    assert rows["b1"].ended_at is None  # the live node's call goes on
    # another survivor, then the silent node itself restarted: nothing is counted twice
    c = _liveness(sessions, "c", clock, counted)
    assert c.start_up() == 0 and c.round() == 0
    clock.set(40)
    assert _liveness(sessions, "a", clock, counted).start_up() == 0
    assert counted == [("a", 2)]
    assert len(_ended_events(sessions, "a1")) == 1


def test_a_restarted_node_closes_its_own_calls_at_its_last_heartbeat(
    sessions: sessionmaker[Session],
) -> None:
    clock, counted = Clock(), []  # type: ignore[var-annotated]
    a, b = _liveness(sessions, "a", clock, counted), _liveness(sessions, "b", clock, counted)
    a.start_up()
    b.start_up()
    _calls(sessions, "a", ["a1", "a2"])
    clock.set(5)
    a.round()
    clock.set(8)  # killed after T0+5 s and restarted at once: before anyone finds it silent
    assert _liveness(sessions, "a", clock, counted).start_up() == 2
    assert counted == [("a", 2)]
    rows = _rows(sessions)
    assert all(rows[c].end_reason == LOST for c in ("a1", "a2"))
    assert all(utc(rows[c].ended_at) == T0 + timedelta(seconds=5) for c in ("a1", "a2"))  # type: ignore[arg-type]
    with sessions() as session:
        beat = session.get(NodeHeartbeatRow, "a")
        assert beat is not None and utc(beat.started_at) == clock.at
    clock.set(8 + LOST_AFTER_S + 1)
    assert b.round() == 0  # its calls were closed already
    assert counted == [("a", 2)]


def test_two_nodes_looking_at_once_close_each_call_once(sessions: sessionmaker[Session]) -> None:
    clock, counted = Clock(), []  # type: ignore[var-annotated]
    dead = _liveness(sessions, "dead", clock, counted)
    dead.start_up()
    call_ids = [f"d{k}" for k in range(40)]
    _calls(sessions, "dead", call_ids)
    clock.set(5 + LOST_AFTER_S)
    survivors = [_liveness(sessions, name, clock, counted) for name in ("b", "c", "d")]
    for survivor in survivors:
        survivor.start_up()
    start = threading.Barrier(len(survivors))
    closed: list[int] = []

    def look(survivor: NodeLiveness) -> None:
        start.wait()
        try:
            closed.append(survivor.round())
        except Exception as exc:  # SQLite: a writer that lost the race is refused, not blocked
            assert database_unreachable(exc), exc
            closed.append(0)

    threads = [threading.Thread(target=look, args=(s,)) for s in survivors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for survivor in survivors:  # whoever was refused looks again
        closed.append(survivor.round())
    assert sum(closed) == len(call_ids)
    assert sum(count for _, count in counted) == len(call_ids)
    for call_id in call_ids:
        assert len(_ended_events(sessions, call_id)) == 1
    assert all(row.end_reason == LOST for row in _rows(sessions).values())
