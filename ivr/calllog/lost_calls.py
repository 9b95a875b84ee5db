"""Calls whose node stopped: each node writes a heartbeat; a node whose heartbeat is older than
the limit is gone, and the calls it still carried are recorded as ended with reason ``lost``,
at its last heartbeat (the last moment it was known to carry them).

Every call is closed by one conditional update (``WHERE ended_at IS NULL``): when two nodes
look at once, or a restarted node looks at its own calls while another node does too, each
call is closed, and counted, by exactly one of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr.calllog.moments import utc
from ivr.calllog.rollup import roll_up
from ivr.calllog.tables import CallEventRow, CallRow, NodeHeartbeatRow

LOST = "lost"
"""The end reason of a call whose node stopped while carrying it."""


def beat(session: Session, node_id: str, at: datetime, *, starting: bool = False) -> None:
    """Record that ``node_id`` is alive at ``at`` (``starting``: it has just started)."""
    at = utc(at)
    values = {"beat_at": at, **({"started_at": at} if starting else {})}
    # A write first, not a read: SQLite then waits for a busy writer (the call log's) instead
    # of failing to turn a read into a write.
    result = session.execute(
        update(NodeHeartbeatRow)
        .where(NodeHeartbeatRow.node_id == node_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(NodeHeartbeatRow(node_id=node_id, started_at=at, beat_at=at))


def last_beat(session: Session, node_id: str) -> datetime | None:
    """When ``node_id`` last said it was alive, or None when it never did."""
    at = session.scalar(select(NodeHeartbeatRow.beat_at).where(NodeHeartbeatRow.node_id == node_id))
    return utc(at) if at is not None else None


def stale_nodes(session: Session, before: datetime, *, besides: str) -> list[tuple[str, datetime]]:
    """Nodes other than ``besides`` whose last heartbeat is older than ``before`` and that
    still have open calls, with that heartbeat."""
    stmt = (
        select(NodeHeartbeatRow.node_id, NodeHeartbeatRow.beat_at)
        .where(
            NodeHeartbeatRow.beat_at < utc(before),
            NodeHeartbeatRow.node_id != besides,
            select(CallRow.call_id)
            .where(CallRow.carried_by == NodeHeartbeatRow.node_id, CallRow.ended_at.is_(None))
            .exists(),
        )
        .order_by(NodeHeartbeatRow.node_id)
    )
    return [(node_id, utc(at)) for node_id, at in session.execute(stmt)]


def record_lost_calls(session: Session, node_id: str, last_seen: datetime) -> int:
    """Close every open call of ``node_id`` as ``lost`` at ``last_seen`` (or at its start, if
    it started later), with a ``call-ended`` event for its timeline. Returns how many calls
    this session closed (calls another node closed meanwhile are not counted again)."""
    open_calls = session.execute(
        select(CallRow.call_id, CallRow.started_at).where(
            CallRow.carried_by == node_id, CallRow.ended_at.is_(None)
        )
    ).all()
    if not open_calls:
        return 0
    seq_stmt = (
        select(CallEventRow.call_id, func.max(CallEventRow.seq))
        .where(CallEventRow.call_id.in_([call_id for call_id, _ in open_calls]))
        .group_by(CallEventRow.call_id)
    )
    last_seq = {call_id: seq for call_id, seq in session.execute(seq_stmt)}
    closed: list[str] = []
    for call_id, started in open_calls:
        ended = max(utc(last_seen), utc(started))
        duration_s = (ended - utc(started)).total_seconds()
        result = session.execute(
            update(CallRow)
            .where(CallRow.call_id == call_id, CallRow.ended_at.is_(None))
            .values(ended_at=ended, end_reason=LOST, duration_s=duration_s)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another node closed it first
        closed.append(call_id)
        session.add(
            CallEventRow(
                call_id=call_id,
                seq=(last_seq.get(call_id) or 0) + 1,
                at=ended,
                kind="call-ended",
                payload={"reason": LOST, "duration_s": duration_s, "node": node_id},
            )
        )
    if closed:
        session.flush()  # the events first: the dashboard's figures read them
        roll_up(session, closed)  # a lost call counts in the dashboard like any ended call
    return len(closed)
