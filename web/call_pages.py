"""The call log (officers, admins) with filters, CSV and per-call timelines; the dashboard
(every role) with server-side SVG charts and CSV export of each table."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from db import unit_of_work
from integrations.privacy import mask_numbers_in, mask_phone
from web.auth import Principal, require
from web.call_recordings import may_listen, recordings_of
from web.call_recordings import router as recordings_router
from web.call_reports import CallFilter, calls, dashboard, timeline
from web.calls_csv import calls_csv
from web.context import sessions_of, web_context
from web.csv_export import csv_response
from web.pages import render, render_error
from web.roles import Permission
from web.svg_charts import bar_chart

router = APIRouter(include_in_schema=False)
router.include_router(recordings_router)
CallsReader = Annotated[Principal, Depends(require(Permission.CALLS_READ))]
Viewer = Annotated[Principal, Depends(require(Permission.DASHBOARD))]
PAGE_SIZE = 50
MAX_RANGE_DAYS = 366
CSV_LIMIT = 50_000
OUTCOMES = ["caller-bye", "ivr-bye", "cancel", "media-timeout", "transferred", "error", "lost"]
"""End reasons; ``lost``: the node carrying the call stopped (killed, power lost) during it."""


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(web_context(request).settings.timezone)


def _range(
    request: Request, since: date | None, until: date | None, days: int
) -> tuple[date, date]:
    today = datetime.now(_tz(request)).date()
    end = until or today
    start = since or end - timedelta(days=days - 1)
    if start > end:
        start, end = end, start
    return max(start, end - timedelta(days=MAX_RANGE_DAYS)), end


def _filter(
    request: Request,
    since: date | None,
    until: date | None,
    outcome: str,
    node: str,
    caller: str,
    channel: str,
) -> CallFilter:
    start, end = _range(request, since, until, 7)
    digits = "".join(ch for ch in caller if ch.isdigit())[:20]
    return CallFilter(start, end, outcome[:32], node[:128], digits, channel[:8])


Since = Annotated[date | None, Query()]
Until = Annotated[date | None, Query()]
Text = Annotated[str, Query(max_length=128)]


@router.get("/calls", response_class=HTMLResponse)
def calls_page(
    request: Request,
    user: CallsReader,
    since: Since = None,
    until: Until = None,
    outcome: Text = "",
    node: Text = "",
    caller: Text = "",
    channel: Text = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    """Calls with filters (caller masked)."""
    f = _filter(request, since, until, outcome, node, caller, channel)
    with unit_of_work(sessions_of(request)) as session:
        lines, total = calls(
            session, f, _tz(request), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "calls.html",
        lines=lines,
        total=total,
        f=f,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        outcomes=OUTCOMES,
        query=request.url.query,
    )


@router.get("/calls.csv")
def calls_csv_page(
    request: Request,
    user: CallsReader,
    since: Since = None,
    until: Until = None,
    outcome: Text = "",
    node: Text = "",
    caller: Text = "",
    channel: Text = "",
) -> Response:
    """The filtered calls as CSV (at most 50,000, caller masked)."""
    f = _filter(request, since, until, outcome, node, caller, channel)
    # Streamed: the first rows leave while the rest are read, nothing held whole in memory.
    return StreamingResponse(
        calls_csv(sessions_of(request), f, _tz(request), limit=CSV_LIMIT),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="calls.csv"'},
    )


@router.get("/calls/{call_id}", response_class=HTMLResponse)
def call_page(request: Request, user: CallsReader, call_id: str) -> Response:
    """One call's timeline: events, keys and transcripts, prompts, lookups, transfers."""
    with unit_of_work(sessions_of(request)) as session:
        call, entries = timeline(session, call_id[:128], _tz(request))
        if call is None:
            return render_error(request, 404, "Không tìm thấy cuộc gọi.")
        caller = call.caller if user.can(Permission.PERSONAL_DATA) else mask_phone(call.caller)
        summary = {
            "caller": caller,
            "channel": "web" if call.codec == "web" else "phone",
            "started_at": call.started_at,
            "duration_s": call.duration_s,
            "end_reason": call.end_reason,
            "tree_version": call.tree_version,
            "error_code": call.error_code,
            "carried_by": call.carried_by,
        }
        # a player beside each recorded conversation the user may hear (the others show
        # only as timeline events)
        audible = {
            r.name
            for r in recordings_of(session, call_id[:128])
            if may_listen(session, user, r.department)
        }
    personal = user.can(Permission.PERSONAL_DATA)
    shown = [
        (e.at, e.kind, _describe(e.payload, personal), _player(e.payload, audible)) for e in entries
    ]
    return render(request, "call.html", call_id=call_id, summary=summary, entries=shown)


def _player(payload: dict[str, object], audible: set[str]) -> str:
    """The recording a timeline entry may play (its file stem), or ""."""
    name = payload.get("recording")
    return name if isinstance(name, str) and name in audible else ""


def _describe(payload: dict[str, object], personal: bool) -> str:
    parts = [f"{k}: {v}" for k, v in payload.items() if v not in (None, "", False)]
    text = " · ".join(parts)
    return text if personal else mask_numbers_in(text)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, user: Viewer, since: Since = None, until: Until = None
) -> Response:
    """The leadership's figures for a period (default: the last 7 days)."""
    start, end = _range(request, since, until, 7)
    with unit_of_work(sessions_of(request)) as session:
        d = dashboard(session, start, end, _tz(request))
    hourly = bar_chart(
        "Cuộc gọi theo giờ trong ngày",
        [(f"{h}h", n) for h, n in enumerate(d.per_hour)],
        label_every=3,
    )
    daily = bar_chart(
        "Cuộc gọi theo ngày",
        [(day.strftime("%d/%m"), n) for day, n in d.per_day],
        label_every=max(1, len(d.per_day) // 10),
    )
    return render(
        request, "dashboard.html", d=d, since=start, until=end, hourly=hourly, daily=daily
    )


@router.get("/dashboard.csv")
def dashboard_csv(
    request: Request,
    user: Viewer,
    table: Annotated[str, Query(max_length=16)] = "daily",
    since: Since = None,
    until: Until = None,
) -> Response:
    """One dashboard table as CSV: daily, hourly, choices or lookups."""
    start, end = _range(request, since, until, 7)
    with unit_of_work(sessions_of(request)) as session:
        d = dashboard(session, start, end, _tz(request))
    if table == "hourly":
        return csv_response("calls-per-hour.csv", ["hour", "calls"], enumerate(d.per_hour))
    if table == "choices":
        return csv_response("top-choices.csv", ["node", "choice", "count"], d.top_choices)
    if table == "lookups":
        return csv_response("lookups.csv", ["lookup", "outcome", "count"], d.lookups)
    return csv_response(
        "calls-per-day.csv", ["day", "calls"], ((day.isoformat(), n) for day, n in d.per_day)
    )
