"""The holiday calendar (every role reads, admins change): the year's days off as the hotline
computes them (statutory holidays, Tết, compensatory days) and the announced overrides an admin
adds or removes (a Tết span, an extra day off, a make-up working day). Every change is audited."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from db import unit_of_work
from integrations.calendar_vn import CalendarError, HolidayCalendar
from integrations.catalogue_tables import HolidayOverrideRow
from integrations.officers import (
    DirectoryError,
    holiday_config,
    remove_holiday_override,
    set_holiday_override,
)
from web.audit import record
from web.auth import Principal, principal_of, require
from web.context import client_address, sessions_of, web_context
from web.pages import render, render_error
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.DIRECTORY_READ))]
Admin = Annotated[Principal, Depends(require(Permission.DIRECTORY_EDIT))]

KIND_LABELS_VI = {
    "off": "Ngày nghỉ thêm",
    "work": "Ngày làm việc bù",
    "tet": "Ngày nghỉ Tết (theo thông báo)",
}
WEEKDAY_NAMES_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
MIN_YEAR, MAX_YEAR = 2000, 2100


def _page(request: Request, year: int, *, error: str = "", status: int = 200) -> Response:
    with unit_of_work(sessions_of(request)) as session:
        overrides = [
            (row.day, row.kind, row.name)
            for row in session.scalars(
                select(HolidayOverrideRow)
                .where(HolidayOverrideRow.day.between(date(year, 1, 1), date(year, 12, 31)))
                .order_by(HolidayOverrideRow.day)
            )
        ]
        calendar = HolidayCalendar(holiday_config(session))
    days_off = calendar.holidays(year)
    working = sorted(d for d in calendar.config.working_days if d.year == year)
    principal = principal_of(request)
    return render(
        request,
        "holidays.html",
        status_code=status,
        year=year,
        days_off=list(days_off.items()),
        working=working,
        overrides=overrides,
        kinds=KIND_LABELS_VI,
        weekday_names=WEEKDAY_NAMES_VI,
        error=error,
        can_edit=principal is not None and principal.can(Permission.DIRECTORY_EDIT),
    )


@router.get("/holidays", response_class=HTMLResponse)
def holidays_page(
    request: Request,
    user: Reader,
    year: Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR)] = None,
) -> Response:
    """The year's days off and make-up working days, and the stored announcements."""
    return _page(request, year or web_context(request).now().year)


@router.post("/holidays", response_class=HTMLResponse)
def add_override(
    request: Request,
    admin: Admin,
    day: Annotated[str, Form(max_length=10)],
    kind: Annotated[str, Form(max_length=8)],
    name: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Add (or change) an announced day: an extra day off, a make-up working day or a Tết day."""
    this_year = web_context(request).now().year
    try:
        when = date.fromisoformat(day)
    except ValueError:
        error = f"Ngày {day!r} không hợp lệ (dạng NNNN-TT-NN)."
        return _page(request, this_year, error=error, status=422)
    if not MIN_YEAR <= when.year <= MAX_YEAR:
        error = f"Năm {when.year} ngoài khoảng {MIN_YEAR}–{MAX_YEAR}."
        return _page(request, this_year, error=error, status=422)
    try:
        with unit_of_work(sessions_of(request)) as session:
            row = session.get(HolidayOverrideRow, when)
            before = {"day": when.isoformat(), "kind": row.kind, "name": row.name} if row else None
            set_holiday_override(session, day=when, kind=kind, name=name.strip())
            session.flush()
            HolidayCalendar(holiday_config(session)).holidays(when.year)  # the year still computes
            record(
                session,
                at=web_context(request).now(),
                actor=admin.username,
                action="holiday_set",
                target=when.isoformat(),
                address=client_address(request),
                before=before,
                after={"day": when.isoformat(), "kind": kind, "name": name.strip()},
            )
    except (DirectoryError, CalendarError) as exc:
        return _page(request, when.year, error=f"Không lưu được: {exc}", status=422)
    return RedirectResponse(f"/holidays?year={when.year}", status_code=303)


@router.post("/holidays/{day}/remove", response_class=HTMLResponse)
def remove_override(request: Request, admin: Admin, day: date) -> Response:
    """Forget an announced day (the statutory calendar applies again)."""
    with unit_of_work(sessions_of(request)) as session:
        row = session.get(HolidayOverrideRow, day)
        if row is None:
            return render_error(request, 404, f"Không có ngày {day.isoformat()} trong thông báo.")
        before = {"day": day.isoformat(), "kind": row.kind, "name": row.name}
        remove_holiday_override(session, day=day)
        record(
            session,
            at=web_context(request).now(),
            actor=admin.username,
            action="holiday_remove",
            target=day.isoformat(),
            address=client_address(request),
            before=before,
        )
    return RedirectResponse(f"/holidays?year={day.year}", status_code=303)
