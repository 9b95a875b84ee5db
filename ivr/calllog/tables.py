"""Call-record tables: calls, their events, inputs, transfers, callbacks and survey answers.

Created by migration ``0002_catalogue_calls`` (the carrying node and the heartbeats by
``0010_node_heartbeats``); keep both in step. Every child row belongs to one
call and goes with it (ON DELETE CASCADE) when the retention purge removes the call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from db import Base

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key for events.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _call_fk() -> Any:
    return ForeignKey("calls.call_id", ondelete="CASCADE")


class CallRow(Base):
    """One call, summarised; updated as its events arrive."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        # The calls still open on each node: what a node looks through for lost calls.
        Index(
            "ix_calls_open_carried_by",
            "carried_by",
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
        Index("ix_calls_end_reason_started_at", "end_reason", "started_at"),  # outcome filter
    )

    call_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    caller: Mapped[str] = mapped_column(String(128), default="")
    callee: Mapped[str] = mapped_column(String(128), default="")
    codec: Mapped[str] = mapped_column(String(16), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str] = mapped_column(String(32), default="")
    duration_s: Mapped[float | None] = mapped_column(Float)
    tree_version: Mapped[int | None] = mapped_column(Integer)
    last_node: Mapped[str] = mapped_column(String(128), default="")
    error_code: Mapped[str] = mapped_column(String(64), default="")
    carried_by: Mapped[str] = mapped_column(String(128), default="", server_default="")
    """The node (``node.id``) whose process carried the call; empty for web calls."""
    # Counted into the hourly figures (ivr.calllog.rollup) once ended; set in the same
    # transaction as the counts, so a call is counted once whoever rolls it up.
    rolled_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class NodeHeartbeatRow(Base):
    """A node's last sign of life: written every ``node.heartbeat_s`` while it runs."""

    __tablename__ = "node_heartbeats"

    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallEventRow(Base):
    """Every event of a call, in order, with its own fields as JSON."""

    __tablename__ = "call_events"
    __table_args__ = (
        Index("ix_call_events_call_id", "call_id", "seq"),
        Index("ix_call_events_kind_at", "kind", "at"),  # the dashboard's lookups
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(_call_fk())
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CallInputRow(Base):
    """What the caller typed or said at a node."""

    __tablename__ = "call_inputs"
    __table_args__ = (
        Index("ix_call_inputs_call_id", "call_id"),
        Index("ix_call_inputs_at", "at"),  # the dashboard's top choices
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(_call_fk())
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node_id: Mapped[str] = mapped_column(String(128), default="")
    mode: Mapped[str] = mapped_column(String(16))  # dtmf | speech
    value: Mapped[str] = mapped_column(Text, default="")
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    matched: Mapped[str | None] = mapped_column(String(128))


class CallTransferRow(Base):
    """A transfer to a department, and how it went."""

    __tablename__ = "call_transfers"
    __table_args__ = (
        Index("ix_call_transfers_call_id", "call_id"),
        Index("ix_call_transfers_requested_at", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(_call_fk())
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node_id: Mapped[str] = mapped_column(String(128), default="")
    department: Mapped[str] = mapped_column(String(64), default="")
    target: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    result_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[int | None] = mapped_column(SmallInteger)
    ok: Mapped[bool | None] = mapped_column(Boolean)


class CallbackRow(Base):
    """A caller's request to be called back by a department."""

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_call_id", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(_call_fk())
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node_id: Mapped[str] = mapped_column(String(128), default="")
    department: Mapped[str] = mapped_column(String(64), default="")
    number: Mapped[str] = mapped_column(String(64), default="")
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str] = mapped_column(String(64), default="")


class SurveyAnswerRow(Base):
    """A satisfaction score given at the end of a call."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        Index("ix_survey_answers_call_id", "call_id"),
        Index("ix_survey_answers_at", "at"),  # the dashboard's survey average
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(_call_fk())
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node_id: Mapped[str] = mapped_column(String(128), default="")
    score: Mapped[int] = mapped_column(SmallInteger)


class CallHourRow(Base):
    """The figures of the calls that started in one UTC hour (ended calls only).

    Kept by ``ivr.calllog.rollup`` as calls end, so the dashboard reads at most 24 rows a day
    instead of every call. Not removed by the retention purge: counts hold no personal data.
    """

    __tablename__ = "call_hours"

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    web_calls: Mapped[int] = mapped_column(Integer, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    duration_count: Mapped[int] = mapped_column(Integer, default=0)
    transferred: Mapped[int] = mapped_column(Integer, default=0)
    transfers_ok: Mapped[int] = mapped_column(Integer, default=0)
    survey_sum: Mapped[int] = mapped_column(Integer, default=0)
    survey_count: Mapped[int] = mapped_column(Integer, default=0)


class CallHourCountRow(Base):
    """How often something happened in the calls of one UTC hour.

    ``kind`` is ``choice`` (``a`` the node, ``b`` the option chosen) or ``lookup`` (``a`` the
    lookup, ``b`` its outcome).
    """

    __tablename__ = "call_hour_counts"

    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    a: Mapped[str] = mapped_column(String(128), primary_key=True)
    b: Mapped[str] = mapped_column(String(128), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


CHILD_TABLES = (CallEventRow, CallInputRow, CallTransferRow, CallbackRow, SurveyAnswerRow)
"""Tables whose rows belong to one call (deleted with it)."""
