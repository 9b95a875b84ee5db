"""One officer's record (admins change it): name, department, place in the list, whether they
take calls, and a new SIP password.

The extension is the officer's SIP user name and part of the stored digest HA1s, so it is not
changed here (remove and add the officer instead). A password left empty keeps the stored one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import unit_of_work
from integrations.catalogue_tables import DepartmentRow, OfficerRow
from integrations.officers import DirectoryError, save_officer
from web.context import sessions_of, web_context
from web.directory_pages import (
    MAX_SIP_PASSWORD_CHARS,
    Admin,
    DeptId,
    Extension,
    Text,
    audit_change,
    officer_snapshot,
)
from web.pages import render, render_error

router = APIRouter(include_in_schema=False)


def _officer(session: Session, dept_id: str, extension: str) -> OfficerRow | None:
    return session.scalars(
        select(OfficerRow).where(
            OfficerRow.extension == extension, OfficerRow.department_id == dept_id
        )
    ).first()


def _page(
    request: Request, dept_id: str, extension: str, *, error: str = "", status: int = 200
) -> Response:
    with unit_of_work(sessions_of(request)) as session:
        row = _officer(session, dept_id, extension)
        if row is None:
            return render_error(request, 404, f"Không có cán bộ {extension!r} ở {dept_id!r}.")
        officer = {**(officer_snapshot(row) or {}), "position": row.position}
        departments = [
            (d.id, d.name)
            for d in session.scalars(
                select(DepartmentRow).order_by(DepartmentRow.position, DepartmentRow.id)
            )
        ]
    return render(
        request,
        "officer.html",
        status_code=status,
        officer=officer,
        dept_id=dept_id,
        departments=departments,
        error=error,
    )


@router.get("/departments/{dept_id}/officers/{extension}", response_class=HTMLResponse)
def officer_page(request: Request, admin: Admin, dept_id: DeptId, extension: Extension) -> Response:
    """The form that changes one officer's record."""
    return _page(request, dept_id, extension)


@router.post("/departments/{dept_id}/officers/{extension}", response_class=HTMLResponse)
def edit_officer(
    request: Request,
    admin: Admin,
    dept_id: DeptId,
    extension: Extension,
    name: Text,
    department_id: Annotated[str, Form(min_length=1, max_length=64)],
    position: Annotated[int, Form(ge=0, le=999)] = 0,
    active: Annotated[str, Form(max_length=8)] = "",
    sip_password: Annotated[str, Form(max_length=MAX_SIP_PASSWORD_CHARS)] = "",
) -> Response:
    """Save an officer's record; moving them to another department opens theirs."""
    try:
        if not name.strip():
            raise DirectoryError("cần họ tên cán bộ")
        with unit_of_work(sessions_of(request)) as session:
            row = _officer(session, dept_id, extension)
            if row is None:
                return render_error(request, 404, f"Không có cán bộ {extension!r} ở {dept_id!r}.")
            before = officer_snapshot(row)
            new_password = sip_password or None
            save_officer(
                session,
                department_id=department_id,
                name=name.strip(),
                extension=row.extension,
                sip_uri=row.sip_uri,
                # the stored HA1s were made with the realm of their time: kept with them
                realm=web_context(request).settings.registrar.realm
                if new_password
                else row.sip_realm,
                sip_password=new_password,
                web_login=row.web_login,
                active=bool(active),
                position=position,
            )
            session.flush()
            after = {**(officer_snapshot(row) or {}), "sip_password_changed": bool(new_password)}
            audit_change(
                session, request, admin, "officer_edit", extension, before=before, after=after
            )
    except DirectoryError as exc:
        return _page(request, dept_id, extension, error=f"Không lưu được: {exc}", status=422)
    return RedirectResponse(f"/departments/{department_id}", status_code=303)
