"""Hourly figures of ended calls, kept as calls end so reports need not read every call.

A call counts in the UTC hour it started, once it has ended: its duration, channel, whether it
asked for an officer, its survey score, the menu options chosen and its lookups' outcomes are
added to ``call_hours`` and ``call_hour_counts``. The call-log writer rolls up the calls that
end in each batch (same transaction as their rows); ``tongdai calls rollup`` does the ones
written another way (bulk loads, calls from before the tables existed).

A call is claimed by flipping its ``rolled_up`` flag with a conditional UPDATE in the same
transaction as its counts: two writers rolling up the same call count it once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ivr.calllog.tables import (
    CallEventRow,
    CallHourCountRow,
    CallHourRow,
    CallInputRow,
    CallRow,
    CallTransferRow,
    SurveyAnswerRow,
)

FREE_INPUT = "…"
"""The option recorded for a typed number or free speech (a code, a phone number): the report
counts menu options, not what callers typed."""

_MENU_KEY_LENGTH = 2  # "1", "9", "*0": longer DTMF input is data, not a menu option
_TOTALS = (
    "calls",
    "web_calls",
    "duration_sum",
    "duration_count",
    "transferred",
    "transfers_ok",
    "survey_sum",
    "survey_count",
)


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour holding ``moment`` (a naive value is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def choice_of(matched: str | None, value: str) -> str:
    """The option a valid input stands for: what it matched, a menu key, or ``FREE_INPUT``."""
    if matched is not None:
        return matched[:128]
    return value if len(value) <= _MENU_KEY_LENGTH else FREE_INPUT


def lookup_outcome(payload: dict[str, Any]) -> str:
    """The outcome of a ``lookup-done`` event as the dashboard names it."""
    if payload.get("ok") is False:
        return "lỗi"
    return "tìm thấy" if payload.get("found") else "không có"


@dataclass
class _Figures:
    totals: dict[datetime, defaultdict[str, float]]
    counts: Counter[tuple[datetime, str, str, str]]


def roll_up(session: Session, call_ids: Iterable[str]) -> int:
    """Count the ended, not yet counted calls among ``call_ids``; how many were counted."""
    ids = list(dict.fromkeys(call_ids))
    if not ids:
        return 0
    claimed = list(
        session.scalars(
            update(CallRow)
            .where(
                CallRow.call_id.in_(ids),
                CallRow.ended_at.is_not(None),
                CallRow.rolled_up.is_(False),
            )
            .values(rolled_up=True)
            .returning(CallRow.call_id)
            .execution_options(synchronize_session=False)
        )
    )
    if claimed:
        _add(session, _figures(session, claimed))
    return len(claimed)


def roll_up_pending(session: Session, *, limit: int = 2000) -> int:
    """Count up to ``limit`` ended calls not counted yet (oldest first); how many."""
    pending = session.scalars(
        select(CallRow.call_id)
        .where(CallRow.ended_at.is_not(None), CallRow.rolled_up.is_(False))
        .order_by(CallRow.started_at)
        .limit(limit)
    ).all()
    return roll_up(session, pending)


def _figures(session: Session, ids: Sequence[str]) -> _Figures:
    totals: dict[datetime, defaultdict[str, float]] = {}
    counts: Counter[tuple[datetime, str, str, str]] = Counter()
    hours: dict[str, datetime] = {}
    for call_id, started, codec, duration in session.execute(
        select(CallRow.call_id, CallRow.started_at, CallRow.codec, CallRow.duration_s).where(
            CallRow.call_id.in_(ids)
        )
    ):
        hour = hours[call_id] = hour_of(started)
        t = totals.setdefault(hour, defaultdict(float))
        t["calls"] += 1
        t["web_calls"] += codec == "web"
        if duration is not None:
            t["duration_sum"] += duration
            t["duration_count"] += 1
    asked: set[str] = set()
    for call_id, ok in session.execute(
        select(CallTransferRow.call_id, CallTransferRow.ok).where(CallTransferRow.call_id.in_(ids))
    ):
        if call_id not in asked:
            asked.add(call_id)
            totals[hours[call_id]]["transferred"] += 1
        totals[hours[call_id]]["transfers_ok"] += ok is True
    for call_id, score in session.execute(
        select(SurveyAnswerRow.call_id, SurveyAnswerRow.score).where(
            SurveyAnswerRow.call_id.in_(ids)
        )
    ):
        totals[hours[call_id]]["survey_sum"] += score
        totals[hours[call_id]]["survey_count"] += 1
    for call_id, node, matched, value in session.execute(
        select(
            CallInputRow.call_id, CallInputRow.node_id, CallInputRow.matched, CallInputRow.value
        ).where(CallInputRow.call_id.in_(ids), CallInputRow.valid.is_(True))
    ):
        counts[(hours[call_id], "choice", node[:128], choice_of(matched, value or ""))] += 1
    for call_id, payload in session.execute(
        select(CallEventRow.call_id, CallEventRow.payload).where(
            CallEventRow.call_id.in_(ids), CallEventRow.kind == "lookup-done"
        )
    ):
        fields = dict(payload or {})
        kind = str(fields.get("lookup") or "")[:128]
        counts[(hours[call_id], "lookup", kind, lookup_outcome(fields))] += 1
    return _Figures(totals, counts)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"hourly call figures need PostgreSQL or SQLite, not {dialect}")


def _stored(column: str, value: float) -> float | int:
    return value if column == "duration_sum" else int(value)


def _add(session: Session, figures: _Figures) -> None:
    # Sorted keys: two writers upserting the same hours lock them in the same order.
    if figures.totals:
        stmt = _insert(session, CallHourRow.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["hour"],
            set_={c: getattr(CallHourRow.__table__.c, c) + stmt.excluded[c] for c in _TOTALS},
        )
        session.execute(
            stmt,
            [
                {"hour": hour, **{c: _stored(c, t[c]) for c in _TOTALS}}
                for hour, t in sorted(figures.totals.items())
            ],
        )
    if figures.counts:
        stmt = _insert(session, CallHourCountRow.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["hour", "kind", "a", "b"],
            set_={"n": CallHourCountRow.__table__.c.n + stmt.excluded.n},
        )
        session.execute(
            stmt,
            [
                {"hour": hour, "kind": kind, "a": a, "b": b, "n": n}
                for (hour, kind, a, b), n in sorted(figures.counts.items())
            ],
        )
