"""Retention: delete call records older than the configured number of days."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.calllog.moments import utc as _utc
from ivr.calllog.tables import (
    CHILD_TABLES,
    CallRow,
)

# --- retention ----------------------------------------------------------------------------------


def purge_calls(session: Session, *, before: datetime) -> int:
    """Delete the calls started before `before` with everything recorded about them."""
    before = _utc(before)
    old = select(CallRow.call_id).where(CallRow.started_at < before)
    for table in CHILD_TABLES:
        # Explicit, not only ON DELETE CASCADE: a SQLite connection may have foreign keys off.
        session.execute(delete(table).where(table.call_id.in_(old)))
    result = session.execute(delete(CallRow).where(CallRow.started_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(factory: sessionmaker[Session], *, retention_days: int, now: datetime) -> int:
    """Apply the retention setting: delete calls older than `retention_days` days."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    with factory() as session, session.begin():
        return purge_calls(session, before=now - timedelta(days=retention_days))
