"""The table of outbound call requests: the console asks, one worker claims and reports.

Created by migration ``0011_outbound_calls``; keep both in step. Times are Unix seconds (the
queue's clock, shared by every worker). The number is not copied here: the worker reads it
from the callback itself (``callbacks`` or ``queue_entries``) when it claims the request.
"""

from __future__ import annotations

from sqlalchemy import Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base

OPEN_STATES = ("requested", "ringing-officer", "calling-citizen", "connected")
_OPEN = text("state IN ('requested', 'ringing-officer', 'calling-citizen', 'connected')")


class OutboundCallRow(Base):
    """One "call back now": which callback, for which officer, and how far it got."""

    __tablename__ = "outbound_calls"
    __table_args__ = (
        # one call in flight per callback: a second click fails on this index
        Index(
            "ux_outbound_calls_open",
            "source",
            "ref",
            unique=True,
            postgresql_where=_OPEN,
            sqlite_where=_OPEN,
        ),
        Index("ix_outbound_calls_state", "state"),
        Index("ix_outbound_calls_officer", "officer", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(8))  # "menu" | "queue"
    ref: Mapped[int] = mapped_column(Integer)  # callbacks.id or queue_entries.id
    call_id: Mapped[str] = mapped_column(String(255))  # the call that asked for the callback
    department_id: Mapped[str] = mapped_column(String(64))
    officer: Mapped[str] = mapped_column(String(32))  # extension whose phones ring
    requested_by: Mapped[str] = mapped_column(String(64))  # web user
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[int] = mapped_column(Integer, default=0)  # the citizen leg's final status
    detail: Mapped[str] = mapped_column(String(64), default="")
    node_id: Mapped[str] = mapped_column(String(128), default="")
    requested_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    corrected_by: Mapped[str] = mapped_column(String(64), default="")
