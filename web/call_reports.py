"""Queries behind the call log and the dashboard: filtered call lists, one call's timeline and
the leadership's figures. Times are shown in the hotline's time zone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVarTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.privacy import mask_phone
from ivr.calllog.rollup import FREE_INPUT, lookup_outcome
from ivr.calllog.tables import (
    CallEventRow,
    CallHourCountRow,
    CallHourRow,
    CallInputRow,
    CallRow,
    CallTransferRow,
    SurveyAnswerRow,
)

_Row = TypeVarTuple("_Row")


@dataclass(frozen=True)
class CallFilter:
    """What the call log is narrowed to."""

    since: date
    until: date
    outcome: str = ""
    node: str = ""
    caller: str = ""
    channel: str = ""  # "web" for the virtual assistant, "phone" for the rest


def day_bounds(since: date, until: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC instants of the start of ``since`` and the end of ``until`` in ``tz``."""
    start = datetime.combine(since, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def filtered(query: Select[*_Row], f: CallFilter, tz: ZoneInfo) -> Select[*_Row]:
    """``query`` narrowed to the calls ``f`` selects."""
    start, end = day_bounds(f.since, f.until, tz)
    query = query.where(CallRow.started_at >= start, CallRow.started_at < end)
    if f.outcome:
        query = query.where(CallRow.end_reason == f.outcome)
    if f.node:
        query = query.where(CallRow.last_node == f.node)
    if f.caller:
        # Numbers are stored masked (first three and last two digits): a whole number typed in
        # the filter is masked the same way to find its calls; a few digits match as they are.
        digits = "".join(c for c in f.caller if c.isdigit())
        needle = mask_phone(digits) if len(digits) > 5 else f.caller
        query = query.where(CallRow.caller.contains(needle))
    if f.channel == "web":
        query = query.where(CallRow.codec == "web")
    elif f.channel == "phone":
        query = query.where(CallRow.codec != "web")
    return query


@dataclass(frozen=True)
class CallLine:
    """One call in the list (caller masked)."""

    call_id: str
    started_at: datetime
    caller: str
    channel: str
    duration_s: float | None
    end_reason: str
    last_node: str
    tree_version: int | None
    carried_by: str = ""
    """The node that carried the call (see ``ivr.calllog.lost_calls``)."""


def calls(
    session: Session, f: CallFilter, tz: ZoneInfo, *, limit: int = 50, offset: int = 0
) -> tuple[list[CallLine], int]:
    """Calls matching ``f``, newest first, and how many match."""
    rows = session.scalars(
        filtered(select(CallRow), f, tz)
        .order_by(CallRow.started_at.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = int(session.scalar(filtered(select(func.count()).select_from(CallRow), f, tz)) or 0)
    return [
        CallLine(
            r.call_id,
            _aware(r.started_at).astimezone(tz),
            mask_phone(r.caller),
            "web" if r.codec == "web" else "phone",
            r.duration_s,
            r.end_reason,
            r.last_node,
            r.tree_version,
            r.carried_by,
        )
        for r in rows
    ], total


def call_rows(
    sessions: sessionmaker[Session], f: CallFilter, tz: ZoneInfo, *, limit: int, chunk: int = 1000
) -> Iterator[tuple[object, ...]]:
    """The calls matching ``f`` as CSV rows, newest first, fetched ``chunk`` at a time.

    Columns, not ORM objects: a quarter's export is tens of thousands of rows. The generator
    owns its session (read only), so a streamed answer can run after the page handler returns.
    """
    query = filtered(
        select(
            CallRow.call_id,
            CallRow.started_at,
            CallRow.caller,
            CallRow.codec,
            CallRow.duration_s,
            CallRow.end_reason,
            CallRow.last_node,
            CallRow.tree_version,
            CallRow.carried_by,
        ),
        f,
        tz,
    )
    query = query.order_by(CallRow.started_at.desc()).limit(limit)
    with sessions() as session:
        result = session.execute(query.execution_options(yield_per=chunk))
        for call_id, started, caller, codec, duration, reason, node, version, carrier in result:
            yield (
                call_id,
                _aware(started).astimezone(tz).isoformat(timespec="seconds"),
                mask_phone(caller),
                "web" if codec == "web" else "phone",
                None if duration is None else seconds_text(duration),
                reason,
                node,
                version,
                carrier,
            )


def seconds_text(seconds: float) -> str:
    """A duration to the millisecond, rounded half up as PostgreSQL rounds a numeric."""
    return str(Decimal(repr(seconds)).quantize(Decimal("0.001"), ROUND_HALF_UP))


@dataclass(frozen=True)
class TimelineEntry:
    """One event of a call."""

    at: datetime
    kind: str
    payload: dict[str, Any]


def timeline(
    session: Session, call_id: str, tz: ZoneInfo
) -> tuple[CallRow | None, list[TimelineEntry]]:
    """A call's summary row and its events in order."""
    call = session.get(CallRow, call_id)
    events = session.scalars(
        select(CallEventRow).where(CallEventRow.call_id == call_id).order_by(CallEventRow.seq)
    ).all()
    return call, [
        TimelineEntry(_aware(e.at).astimezone(tz), e.kind, dict(e.payload or {})) for e in events
    ]


@dataclass
class Dashboard:
    """The figures of one period."""

    total: int = 0
    transferred: int = 0
    transfers_ok: int = 0
    web_calls: int = 0
    average_duration_s: float | None = None
    survey_average: float | None = None
    survey_count: int = 0
    per_hour: list[int] = field(default_factory=lambda: [0] * 24)
    per_day: list[tuple[date, int]] = field(default_factory=list)
    top_choices: list[tuple[str, str, int]] = field(default_factory=list)
    lookups: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def contained(self) -> int:
        """Calls that ended without asking for an officer."""
        return self.total - self.transferred

    @property
    def containment(self) -> float | None:
        return self.contained / self.total if self.total else None


def dashboard(session: Session, since: date, until: date, tz: ZoneInfo) -> Dashboard:
    """Every figure of the dashboard for the days ``since``..``until`` (inclusive).

    Read from the hourly figures of ended calls (``ivr.calllog.rollup``): at most 24 rows a
    day whatever the number of calls. A time zone whose days do not start on a UTC hour
    (an offset in minutes) is counted from the calls themselves.
    """
    if not _on_utc_hours(since, until, tz):
        return _dashboard_from_calls(session, since, until, tz)
    start, end = day_bounds(since, until, tz)
    out = Dashboard()
    days: Counter[date] = Counter()
    duration_sum, duration_count = 0.0, 0
    survey_sum = 0
    h = CallHourRow
    # Columns, not ORM objects: a quarter is about 2,200 rows.
    for hour, calls_, web, d_sum, d_count, transferred, transfers_ok, s_sum, s_count in (
        session.execute(
            select(
                h.hour, h.calls, h.web_calls, h.duration_sum, h.duration_count,
                h.transferred, h.transfers_ok, h.survey_sum, h.survey_count,
            ).where(h.hour >= start, h.hour < end)
        )
    ):  # fmt: skip
        local = _aware(hour).astimezone(tz)
        out.per_hour[local.hour] += calls_
        days[local.date()] += calls_
        out.total += calls_
        out.web_calls += web
        duration_sum += d_sum
        duration_count += d_count
        out.transferred += transferred
        out.transfers_ok += transfers_ok
        survey_sum += s_sum
        out.survey_count += s_count
    out.per_day = _per_day(since, until, days)
    out.average_duration_s = duration_sum / duration_count if duration_count else None
    out.survey_average = survey_sum / out.survey_count if out.survey_count else None
    total = func.sum(CallHourCountRow.n)
    in_range = (CallHourCountRow.hour >= start, CallHourCountRow.hour < end)
    choices = session.execute(
        select(CallHourCountRow.a, CallHourCountRow.b, total)
        .where(*in_range, CallHourCountRow.kind == "choice")
        .group_by(CallHourCountRow.a, CallHourCountRow.b)
        .order_by(total.desc(), CallHourCountRow.a, CallHourCountRow.b)
        .limit(10)
    ).all()
    out.top_choices = [(str(a), str(b), int(n)) for a, b, n in choices]
    lookups = session.execute(
        select(CallHourCountRow.a, CallHourCountRow.b, total)
        .where(*in_range, CallHourCountRow.kind == "lookup")
        .group_by(CallHourCountRow.a, CallHourCountRow.b)
        .order_by(total.desc(), CallHourCountRow.a, CallHourCountRow.b)
    ).all()
    out.lookups = [(str(a), str(b), int(n)) for a, b, n in lookups]
    return out


def _on_utc_hours(since: date, until: date, tz: ZoneInfo) -> bool:
    """Whether every local day of the period starts on a whole UTC hour."""
    for i in range((until - since).days + 2):
        offset = datetime.combine(since + timedelta(days=i), time(0), tzinfo=tz).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
    return True


def _per_day(since: date, until: date, days: Counter[date]) -> list[tuple[date, int]]:
    return [
        (since + timedelta(days=i), days[since + timedelta(days=i)])
        for i in range((until - since).days + 1)
    ]


def _dashboard_from_calls(session: Session, since: date, until: date, tz: ZoneInfo) -> Dashboard:
    start, end = day_bounds(since, until, tz)
    in_range = (CallRow.started_at >= start, CallRow.started_at < end)
    # A call's transfers, inputs and answers come after its start: bounding them by their own
    # (indexed) time too lets the database skip the older ones instead of joining every row.
    out = Dashboard()
    starts = session.execute(
        select(CallRow.started_at, CallRow.codec, CallRow.duration_s).where(*in_range)
    ).all()
    days: Counter[date] = Counter()
    durations = [d for _, _, d in starts if d is not None]
    for started, codec, _ in starts:
        local = _aware(started).astimezone(tz)
        out.per_hour[local.hour] += 1
        days[local.date()] += 1
        out.web_calls += codec == "web"
    out.total = len(starts)
    out.per_day = _per_day(since, until, days)
    out.average_duration_s = sum(durations) / len(durations) if durations else None
    transfers = session.execute(
        select(
            func.count(func.distinct(CallTransferRow.call_id)),
            func.count(case((CallTransferRow.ok.is_(True), 1))),
        )
        .join(CallRow, CallRow.call_id == CallTransferRow.call_id)
        .where(*in_range, CallTransferRow.requested_at >= start)
    ).one()
    out.transferred, out.transfers_ok = int(transfers[0]), int(transfers[1])
    survey = session.execute(
        select(func.avg(SurveyAnswerRow.score), func.count())
        .join(CallRow, CallRow.call_id == SurveyAnswerRow.call_id)
        .where(*in_range, SurveyAnswerRow.at >= start)
    ).one()
    out.survey_average, out.survey_count = survey[0], int(survey[1])
    # The same option as the hourly figures: what the input matched, a menu key, or FREE_INPUT.
    choice = func.coalesce(
        CallInputRow.matched,
        case((func.length(CallInputRow.value) <= 2, CallInputRow.value), else_=FREE_INPUT),
    )
    choices = session.execute(
        select(CallInputRow.node_id, choice, func.count())
        .join(CallRow, CallRow.call_id == CallInputRow.call_id)
        .where(*in_range, CallInputRow.at >= start, CallInputRow.valid.is_(True))
        .group_by(CallInputRow.node_id, choice)
        .order_by(func.count().desc())
        .limit(10)
    ).all()
    out.top_choices = [(n, str(m), int(c)) for n, m, c in choices]
    out.lookups = _lookups(session, start, end)
    return out


def _lookups(session: Session, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    # Counted by the database: reading every payload of a quarter (50,000 rows) took seconds.
    payload = CallEventRow.payload
    lookup, ok, found = (
        payload["lookup"].as_string(),
        payload["ok"].as_boolean(),
        payload["found"].as_boolean(),
    )
    grouped = session.execute(
        select(lookup, ok, found, func.count())
        .where(CallEventRow.kind == "lookup-done", CallEventRow.at >= start, CallEventRow.at < end)
        .group_by(lookup, ok, found)
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    for kind, succeeded, hit, n in grouped:
        outcome = lookup_outcome({"ok": succeeded, "found": hit})
        counts[(str(kind or ""), outcome)] += int(n)
    return [(kind, outcome, n) for (kind, outcome), n in counts.most_common()]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
