"""Reading the call log: stored events after an id (the poll behind live screens), recent
calls, pending callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.calllog.moments import aware as _aware
from ivr.calllog.moments import utc as _utc
from ivr.calllog.sink import clip
from ivr.calllog.tables import (
    CallbackRow,
    CallEventRow,
    CallRow,
)

# --- reading the log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """One stored event; ``id`` grows with every write, so readers can poll for newer ones."""

    id: int
    call_id: str
    seq: int
    at: datetime
    kind: str
    payload: dict[str, Any]


def events_after(session: Session, *, after_id: int = 0, limit: int = 500) -> list[StoredEvent]:
    """Events stored after event ``after_id``, oldest first (the poll behind live screens)."""
    stmt = (
        select(CallEventRow)
        .where(CallEventRow.id > after_id)
        .order_by(CallEventRow.id)
        .limit(max(0, limit))
    )
    return [
        StoredEvent(row.id, row.call_id, row.seq, _aware(row.at), row.kind, dict(row.payload))
        for row in session.scalars(stmt)
    ]


@dataclass(frozen=True)
class CallSummary:
    """One call as the admin list shows it."""

    call_id: str
    caller: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    end_reason: str
    last_node: str
    error_code: str


def recent_calls(session: Session, *, limit: int = 50) -> list[CallSummary]:
    """The most recently started calls, newest first."""
    stmt = select(CallRow).order_by(CallRow.started_at.desc(), CallRow.call_id).limit(max(0, limit))
    return [
        CallSummary(
            call_id=row.call_id,
            caller=row.caller,
            started_at=_aware(row.started_at),
            ended_at=_aware(row.ended_at) if row.ended_at is not None else None,
            duration_s=row.duration_s,
            end_reason=row.end_reason,
            last_node=row.last_node,
            error_code=row.error_code,
        )
        for row in session.scalars(stmt)
    ]


# --- callbacks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingCallback:
    """A callback an officer still has to make."""

    id: int
    call_id: str
    department: str
    number: str
    requested_at: datetime


def pending_callbacks(
    session: Session, *, department: str | None = None, limit: int = 100
) -> list[PendingCallback]:
    """Callbacks not yet done, oldest first; one department's when `department` is given."""
    stmt = select(CallbackRow).where(CallbackRow.done_at.is_(None))
    if department is not None:
        stmt = stmt.where(CallbackRow.department == department)
    stmt = stmt.order_by(CallbackRow.requested_at, CallbackRow.id).limit(max(0, limit))
    return [
        PendingCallback(row.id, row.call_id, row.department, row.number, _aware(row.requested_at))
        for row in session.scalars(stmt)
    ]


def complete_callback(session: Session, *, callback_id: int, by: str, at: datetime) -> bool:
    """Mark a callback done by an officer; False when it does not exist or was already done."""
    row = session.get(CallbackRow, callback_id)
    if row is None or row.done_at is not None:
        return False
    row.done_at, row.done_by = _utc(at), clip(by, 64)
    return True
