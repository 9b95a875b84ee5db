"""Call statistics read by the admin pages: calls per day, durations, transfers, surveys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ivr.calllog.moments import aware as _aware
from ivr.calllog.moments import utc as _utc
from ivr.calllog.tables import (
    CallRow,
    CallTransferRow,
    SurveyAnswerRow,
)

# --- statistics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentTransfers:
    """Transfers to one department in a period."""

    department: str
    requested: int
    succeeded: int


@dataclass(frozen=True)
class SurveySummary:
    """Satisfaction answers in a period."""

    answers: int
    average: float | None


def calls_per_day(
    session: Session, *, start: date, end: date, timezone: str = "Asia/Ho_Chi_Minh"
) -> list[tuple[date, int]]:
    """Calls started on each local day from `start` to `end` inclusive (zeros included)."""
    if end < start:
        return []
    tz = ZoneInfo(timezone)
    lower = _utc(datetime.combine(start, datetime.min.time(), tz))
    upper = _utc(datetime.combine(end + timedelta(days=1), datetime.min.time(), tz))
    counts = {start + timedelta(days=i): 0 for i in range((end - start).days + 1)}
    stmt = select(CallRow.started_at).where(CallRow.started_at >= lower, CallRow.started_at < upper)
    # Bucketed here: SQLite and PostgreSQL have no common way to take a local date in SQL.
    for (started,) in session.execute(stmt):
        local = _aware(started).astimezone(tz).date()
        if local in counts:
            counts[local] += 1
    return sorted(counts.items())


def average_duration_s(session: Session, *, since: datetime, until: datetime) -> float | None:
    """Mean duration of the calls started in [since, until) that have ended; None if none."""
    since, until = _utc(since), _utc(until)
    stmt = select(func.avg(CallRow.duration_s)).where(
        CallRow.started_at >= since, CallRow.started_at < until, CallRow.duration_s.is_not(None)
    )
    value = session.scalar(stmt)
    return float(value) if value is not None else None


def transfers_per_department(
    session: Session, *, since: datetime, until: datetime
) -> list[DepartmentTransfers]:
    """Transfers requested in [since, until) per department, most requested first."""
    since, until = _utc(since), _utc(until)
    ok_count = func.sum(case((CallTransferRow.ok.is_(True), 1), else_=0))
    stmt = (
        select(CallTransferRow.department, func.count(), ok_count)
        .where(CallTransferRow.requested_at >= since, CallTransferRow.requested_at < until)
        .group_by(CallTransferRow.department)
    )
    rows = [DepartmentTransfers(d, int(n), int(ok or 0)) for d, n, ok in session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r.requested, r.department))


def survey_summary(session: Session, *, since: datetime, until: datetime) -> SurveySummary:
    """Number and mean score of survey answers given in [since, until)."""
    since, until = _utc(since), _utc(until)
    stmt = select(func.count(), func.avg(SurveyAnswerRow.score)).where(
        SurveyAnswerRow.at >= since, SurveyAnswerRow.at < until
    )
    count, average = session.execute(stmt).one()
    return SurveySummary(int(count), float(average) if average is not None else None)
