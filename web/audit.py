"""The audit log: every change, who made it, when, and the record before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from web.tables import AuditRow

MAX_SNAPSHOT_CHARS = 20000
"""A before/after snapshot longer than this (as JSON text) is cut, marked ``truncated``."""


@dataclass(frozen=True)
class AuditEntry:
    """One change as shown."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    address: str
    detail: str


def _clip(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    import json

    text = json.dumps(snapshot, ensure_ascii=False, default=str)
    if len(text) <= MAX_SNAPSHOT_CHARS:
        return json.loads(text)  # type: ignore[no-any-return]
    return {"truncated": text[:MAX_SNAPSHOT_CHARS]}


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    address: str = "",
    detail: str = "",
) -> None:
    """Add one entry inside the caller's transaction (so the change and its record commit
    together)."""
    session.add(
        AuditRow(
            at=at,
            actor=actor[:128],
            action=action[:64],
            target=target[:200],
            before=_clip(before),
            after=_clip(after),
            address=address[:64],
            detail=detail,
        )
    )


def record_now(sessions: sessionmaker[Session], **fields: Any) -> None:
    """:func:`record` in a transaction of its own."""
    with unit_of_work(sessions) as session:
        record(session, **fields)


def entries(
    sessions: sessionmaker[Session], *, limit: int = 100, offset: int = 0, actor: str = ""
) -> tuple[list[AuditEntry], int]:
    """Entries newest first, and how many there are in all (optionally of one actor)."""
    with unit_of_work(sessions) as session:
        query = select(AuditRow)
        count = select(func.count()).select_from(AuditRow)
        if actor:
            query = query.where(AuditRow.actor == actor)
            count = count.where(AuditRow.actor == actor)
        rows = session.scalars(query.order_by(AuditRow.id.desc()).limit(limit).offset(offset)).all()
        total = int(session.scalar(count) or 0)
        return [
            AuditEntry(
                r.id, r.at, r.actor, r.action, r.target, r.before, r.after, r.address, r.detail
            )
            for r in rows
        ], total
