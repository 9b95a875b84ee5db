"""Departments, their officers and working hours (every role reads, admins change).

Every change is written to the audit log with the record before and after; officers' SIP
passwords are stored only as the digest HA1s the registrar checks (as ``tongdai officers add``
does), never shown and never audited.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import unit_of_work
from integrations.catalogue_tables import DepartmentRow, OfficerRow
from integrations.officers import (
    WEEKDAYS,
    DirectoryError,
    officers_of,
    remove_officer,
    save_department,
    save_officer,
)
from menus.store import MenuNotFound, MenuStore, known_ids_from_tables
from menus.validate import ProblemCode, validate
from web.audit import record
from web.auth import Principal, principal_of, require
from web.context import client_address, sessions_of, web_context
from web.pages import render, render_error
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.DIRECTORY_READ))]
Admin = Annotated[Principal, Depends(require(Permission.DIRECTORY_EDIT))]
DeptId = Annotated[str, Path(min_length=1, max_length=64)]
Extension = Annotated[str, Path(min_length=1, max_length=32)]
Text = Annotated[str, Form(max_length=255)]

WEEKDAY_LABELS_VI = {
    "mon": "Thứ Hai",
    "tue": "Thứ Ba",
    "wed": "Thứ Tư",
    "thu": "Thứ Năm",
    "fri": "Thứ Sáu",
    "sat": "Thứ Bảy",
    "sun": "Chủ nhật",
}
MAX_SIP_PASSWORD_CHARS = 256
DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""A department id as menus name it and as it appears in a page's address."""


class InUse(DirectoryError):
    """A department the published menu still transfers to."""


def department_snapshot(row: DepartmentRow | None) -> dict[str, Any] | None:
    """What the audit log keeps of a department."""
    if row is None:
        return None
    return {
        "id": row.id,
        "name": row.name,
        "short_name": row.short_name,
        "phone": row.phone,
        "transfer_uri": row.transfer_uri,
        "position": row.position,
        "hours": dict(row.hours or {}),
    }


def officer_snapshot(row: OfficerRow | None) -> dict[str, Any] | None:
    """What the audit log keeps of an officer: never a credential, only whether one is set."""
    if row is None:
        return None
    return {
        "extension": row.extension,
        "name": row.name,
        "department_id": row.department_id,
        "active": row.active,
        "has_sip_password": bool(row.sip_ha1),
    }


def audit_change(
    session: Session, request: Request, admin: Principal, action: str, target: str, **snapshots: Any
) -> None:
    """Write one directory change to the audit log (who, from where, before and after)."""
    record(
        session,
        at=web_context(request).now(),
        actor=admin.username,
        action=action,
        target=target,
        address=client_address(request),
        **snapshots,
    )


def can_edit(request: Request) -> bool:
    """Whether the signed-in user may change the directory (the forms are shown only then)."""
    principal = principal_of(request)
    return principal is not None and principal.can(Permission.DIRECTORY_EDIT)


def _list_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    with unit_of_work(sessions_of(request)) as session:
        rows = session.scalars(
            select(DepartmentRow).order_by(DepartmentRow.position, DepartmentRow.id)
        ).all()
        counts: dict[str, int] = {}
        for officer in officers_of(session):
            counts[officer.department_id] = counts.get(officer.department_id, 0) + 1
        departments = [(department_snapshot(r), counts.get(r.id, 0)) for r in rows]
    return render(
        request,
        "departments.html",
        status_code=status,
        departments=departments,
        error=error,
        can_edit=can_edit(request),
    )


@router.get("/departments", response_class=HTMLResponse)
def departments_page(request: Request, user: Reader) -> Response:
    """Every department with its number of officers."""
    return _list_page(request)


@router.post("/departments", response_class=HTMLResponse)
def add_department(
    request: Request,
    admin: Admin,
    dept_id: Annotated[str, Form(max_length=64)],
    name: Text,
    short_name: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    transfer_uri: Text = "",
) -> Response:
    """Add a department (an id already in use is refused, not overwritten)."""
    dept_id = dept_id.strip()
    try:
        with unit_of_work(sessions_of(request)) as session:
            if not DEPARTMENT_ID.match(dept_id):
                raise DirectoryError(
                    f"mã {dept_id!r}: chỉ chữ thường không dấu, số, '-' và '_' (tối đa 64)"
                )
            if session.get(DepartmentRow, dept_id) is not None:
                raise DirectoryError(f"mã phòng ban {dept_id!r} đã có")
            row = save_department(
                session,
                dept_id=dept_id,
                name=name.strip(),
                short_name=short_name.strip(),
                phone=phone.strip(),
                transfer_uri=transfer_uri.strip(),
            )
            after = department_snapshot(row)
            audit_change(session, request, admin, "department_add", dept_id, after=after)
    except DirectoryError as exc:
        return _list_page(request, error=f"Không thêm được: {exc}", status=422)
    return RedirectResponse(f"/departments/{dept_id}", status_code=303)


def _detail_page(
    request: Request, dept_id: str, *, error: str = "", done: str = "", status: int = 200
) -> Response:
    with unit_of_work(sessions_of(request)) as session:
        row = session.get(DepartmentRow, dept_id)
        if row is None:
            return render_error(request, 404, f"Không có phòng ban {dept_id!r}.")
        department = department_snapshot(row)
        officers = officers_of(session, department_id=dept_id)
    hours = {day: ", ".join((department or {})["hours"].get(day, [])) for day in WEEKDAYS}
    return render(
        request,
        "department.html",
        status_code=status,
        department=department,
        officers=officers,
        hours=hours,
        weekdays=WEEKDAY_LABELS_VI,
        error=error,
        done=done,
        can_edit=can_edit(request),
    )


@router.get("/departments/{dept_id}", response_class=HTMLResponse)
def department_page(request: Request, user: Reader, dept_id: DeptId) -> Response:
    """A department: its details, working hours and officers."""
    return _detail_page(request, dept_id)


@router.post("/departments/{dept_id}", response_class=HTMLResponse)
def edit_department(
    request: Request,
    admin: Admin,
    dept_id: DeptId,
    name: Text,
    short_name: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    transfer_uri: Text = "",
    position: Annotated[int, Form(ge=0, le=999)] = 0,
) -> Response:
    """Change a department's name, phone, transfer URI or place in the list."""
    try:
        with unit_of_work(sessions_of(request)) as session:
            row = session.get(DepartmentRow, dept_id)
            if row is None:
                return render_error(request, 404, f"Không có phòng ban {dept_id!r}.")
            before = department_snapshot(row)
            save_department(
                session,
                dept_id=dept_id,
                name=name.strip(),
                short_name=short_name.strip(),
                phone=phone.strip(),
                transfer_uri=transfer_uri.strip(),
                hours=row.hours,
                position=position,
            )
            after = department_snapshot(row)
            audit_change(
                session, request, admin, "department_edit", dept_id, before=before, after=after
            )
    except DirectoryError as exc:
        return _detail_page(request, dept_id, error=f"Không lưu được: {exc}", status=422)
    return RedirectResponse(f"/departments/{dept_id}", status_code=303)


def hours_from_form(fields: dict[str, str]) -> dict[str, list[str]]:
    """``{"mon": "07:30-11:30, 13:30-17:00", ...}`` as the ranges :func:`save_department`
    checks; an empty day is closed."""
    return {
        day: [part.strip() for part in fields.get(day, "").split(",") if part.strip()]
        for day in WEEKDAYS
        if fields.get(day, "").strip()
    }


@router.post("/departments/{dept_id}/hours", response_class=HTMLResponse)
async def edit_hours(request: Request, admin: Admin, dept_id: DeptId) -> Response:
    """Set a department's working hours, one field per weekday (two ranges for a lunch break)."""
    form = await request.form()
    fields = {day: str(form.get(day, ""))[:200] for day in WEEKDAYS}
    try:
        with unit_of_work(sessions_of(request)) as session:
            row = session.get(DepartmentRow, dept_id)
            if row is None:
                return render_error(request, 404, f"Không có phòng ban {dept_id!r}.")
            before = department_snapshot(row)
            save_department(
                session,
                dept_id=dept_id,
                name=row.name,
                short_name=row.short_name,
                phone=row.phone,
                transfer_uri=row.transfer_uri,
                hours=hours_from_form(fields),
                position=row.position,
            )
            was = {"hours": (before or {})["hours"]}
            now = {"hours": dict(row.hours)}
            audit_change(
                session, request, admin, "department_hours", dept_id, before=was, after=now
            )
    except DirectoryError as exc:
        return _detail_page(request, dept_id, error=f"Giờ làm việc không hợp lệ: {exc}", status=422)
    return RedirectResponse(f"/departments/{dept_id}", status_code=303)


def _check_unused(request: Request, dept_id: str) -> None:
    """InUse when the published menu transfers to (or checks the hours of) ``dept_id``."""
    sessions = sessions_of(request)
    try:
        _number, tree = MenuStore(sessions).active()
    except MenuNotFound:
        return
    known = known_ids_from_tables(sessions)
    problems = validate(
        tree, departments=known.departments - {dept_id}, procedures=known.procedures
    )
    nodes = sorted(
        {p.node_id or "(kịch bản)" for p in problems if p.code is ProblemCode.UNKNOWN_DEPARTMENT}
        - {
            p.node_id or "(kịch bản)"
            for p in validate(tree, departments=known.departments, procedures=known.procedures)
            if p.code is ProblemCode.UNKNOWN_DEPARTMENT
        }
    )
    if nodes:
        raise InUse(f"kịch bản đang dùng còn chuyển đến phòng ban này (nút {', '.join(nodes)})")


@router.post("/departments/{dept_id}/remove", response_class=HTMLResponse)
def remove_department(request: Request, admin: Admin, dept_id: DeptId) -> Response:
    """Remove a department and its officers (refused while the published menu uses it)."""
    try:
        _check_unused(request, dept_id)
        with unit_of_work(sessions_of(request)) as session:
            row = session.get(DepartmentRow, dept_id)
            if row is None:
                return render_error(request, 404, f"Không có phòng ban {dept_id!r}.")
            before = department_snapshot(row) or {}
            before["officers"] = [o.extension for o in officers_of(session, department_id=dept_id)]
            session.delete(row)
            audit_change(session, request, admin, "department_remove", dept_id, before=before)
    except DirectoryError as exc:
        return _detail_page(request, dept_id, error=f"Không xoá được: {exc}", status=409)
    return RedirectResponse("/departments", status_code=303)


@router.post("/departments/{dept_id}/officers", response_class=HTMLResponse)
def add_officer(
    request: Request,
    admin: Admin,
    dept_id: DeptId,
    name: Text,
    extension: Annotated[str, Form(max_length=32)],
    sip_password: Annotated[str, Form(max_length=MAX_SIP_PASSWORD_CHARS)],
) -> Response:
    """Add an officer with a SIP password (stored as the registrar's digest HA1s only)."""
    extension = extension.strip()
    realm = web_context(request).settings.registrar.realm
    try:
        if not name.strip():
            raise DirectoryError("cần họ tên cán bộ")
        with unit_of_work(sessions_of(request)) as session:
            taken = session.scalars(
                select(OfficerRow).where(OfficerRow.extension == extension)
            ).first()
            if taken is not None:
                raise DirectoryError(f"số máy lẻ {extension!r} đã thuộc {taken.department_id}")
            row = save_officer(
                session,
                department_id=dept_id,
                name=name.strip(),
                extension=extension,
                realm=realm,
                sip_password=sip_password,
            )
            session.flush()
            after = officer_snapshot(row)
            audit_change(session, request, admin, "officer_add", extension, after=after)
    except DirectoryError as exc:
        return _detail_page(request, dept_id, error=f"Không thêm được cán bộ: {exc}", status=422)
    return RedirectResponse(f"/departments/{dept_id}", status_code=303)


@router.post("/departments/{dept_id}/officers/{extension}/remove", response_class=HTMLResponse)
def remove_officer_route(
    request: Request, admin: Admin, dept_id: DeptId, extension: Extension
) -> Response:
    """Remove an officer of this department (their registrations go with them)."""
    with unit_of_work(sessions_of(request)) as session:
        row = session.scalars(
            select(OfficerRow).where(
                OfficerRow.extension == extension, OfficerRow.department_id == dept_id
            )
        ).first()
        if row is None:
            return render_error(request, 404, f"Không có cán bộ {extension!r} ở {dept_id!r}.")
        before = officer_snapshot(row)
        remove_officer(session, extension=extension)
        audit_change(session, request, admin, "officer_remove", extension, before=before)
    return RedirectResponse(f"/departments/{dept_id}", status_code=303)
