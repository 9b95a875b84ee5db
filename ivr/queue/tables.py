"""Queue tables: officers' presence and the entries in each department's line.

Created by migration ``0007_queues``; keep both in step. Times are Unix seconds (floats).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class PresenceRow(Base):
    """One officer's state in their department's queue (no row: signed out)."""

    __tablename__ = "officer_presence"
    __table_args__ = (Index("ix_officer_presence_department_id", "department_id"),)

    extension: Mapped[str] = mapped_column(
        String(32), ForeignKey("officers.extension", ondelete="CASCADE"), primary_key=True
    )
    department_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[float] = mapped_column(Float)
    idle_since: Mapped[float] = mapped_column(Float)
    last_offered_at: Mapped[float] = mapped_column(Float, default=0.0)
    wrap_until: Mapped[float] = mapped_column(Float, default=0.0)
    entry_id: Mapped[int | None] = mapped_column(Integer)


class QueueEntryRow(Base):
    """A caller, callback or voice message in a department's line."""

    __tablename__ = "queue_entries"
    __table_args__ = (Index("ix_queue_entries_line", "department_id", "state", "ticket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(255))
    caller: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    ticket: Mapped[float] = mapped_column(Float)
    enqueued_at: Mapped[float] = mapped_column(Float)
    assigned_to: Mapped[str | None] = mapped_column(String(32))
    connected_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
