"""Procedures (every role reads, editors change) with diacritic-insensitive search, and dossier
search by code (officers, admins) with personal fields masked unless the role allows."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from db import unit_of_work
from integrations.base import Dossier
from integrations.catalogue_tables import ProcedureRow
from integrations.dossiers_db import DatabaseDossierSource
from integrations.privacy import mask_phone
from integrations.procedure_import import (
    CatalogueImportError,
    ImportReport,
    parse_csv,
    parse_json,
    save_procedures,
)
from integrations.procedures import fill_row, search_procedures, to_record
from web.audit import record_now
from web.auth import Principal, require
from web.context import client_address, sessions_of, web_context
from web.pages import render, render_error
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.PROCEDURES_READ))]
Editor = Annotated[Principal, Depends(require(Permission.PROCEDURES_EDIT))]
DossierReader = Annotated[Principal, Depends(require(Permission.DOSSIERS_READ))]
ProcedureId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PAGE_SIZE = 50


@router.get("/procedures", response_class=HTMLResponse)
def procedures_page(
    request: Request,
    user: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> Response:
    """Every procedure, or those matching ``q`` (accents optional: "an toan thuc pham")."""
    with unit_of_work(sessions_of(request)) as session:
        if q.strip():
            found = search_procedures(session, text=q, limit=PAGE_SIZE)
            codes = [p.code for p in found]
            rows = {
                r.code: r
                for r in session.scalars(select(ProcedureRow).where(ProcedureRow.code.in_(codes)))
            }
            items = [
                (rows[c].id, rows[c].code, rows[c].name, rows[c].agency) for c in codes if c in rows
            ]
            total = len(items)
        else:
            total = int(session.scalar(select(func.count()).select_from(ProcedureRow)) or 0)
            items = [
                (r.id, r.code, r.name, r.agency)
                for r in session.scalars(
                    select(ProcedureRow)
                    .order_by(ProcedureRow.code)
                    .limit(PAGE_SIZE)
                    .offset((page - 1) * PAGE_SIZE)
                )
            ]
    return render(
        request,
        "procedures.html",
        items=items,
        q=q,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


EDITABLE = (
    "name",
    "field",
    "agency",
    "processing_days",
    "processing_time_note",
    "fee_vnd",
    "fee_note",
    "eligible_applicants",
    "result_document",
    "steps",
    "keywords",
)


def _form_view(procedure: Any) -> dict[str, str]:
    view = {k: getattr(procedure, k) for k in EDITABLE}
    view["steps"] = "\n".join(procedure.steps)
    view["keywords"] = ", ".join(procedure.keywords)
    return {k: "" if v is None else str(v) for k, v in view.items()}


IMPORT_MAX_BYTES = 10_000_000


@router.post("/procedures/import", response_class=HTMLResponse)
async def import_procedures(request: Request, user: Editor, file: UploadFile) -> Response:
    """Import a CSV or JSON catalogue: good rows upserted, each bad row shown with its line."""
    name = (file.filename or "").lower()
    data = await file.read(IMPORT_MAX_BYTES + 1)
    report: ImportReport | None = None
    error = ""
    if len(data) > IMPORT_MAX_BYTES:
        error = f"Tệp quá lớn: tối đa {IMPORT_MAX_BYTES // 1_000_000} MB."
    elif not name.endswith((".csv", ".json")):
        error = "Chỉ nhận tệp .csv hoặc .json."
    else:
        try:
            text = data.decode("utf-8-sig")
            parsed = parse_json(text) if name.endswith(".json") else parse_csv(text)
        except (UnicodeDecodeError, CatalogueImportError) as exc:
            error = f"Không đọc được tệp: {exc}"
        else:
            report = await run_in_threadpool(_save, sessions_of(request), parsed)
            record_now(
                sessions_of(request),
                at=web_context(request).now(),
                actor=user.username,
                action="procedure_import",
                target=(file.filename or "")[:200],
                after={
                    "inserted": report.inserted,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "errors": len(report.errors),
                },
                address=client_address(request),
            )
    return render(
        request,
        "procedures.html",
        status_code=422 if error else 200,
        items=[],
        q="",
        total=0,
        page=1,
        pages=1,
        report=report,
        import_error=error,
    )


def _save(sessions: Any, parsed: Any) -> ImportReport:
    with unit_of_work(sessions) as session:
        return save_procedures(session, parsed)


@router.get("/procedures/{procedure_id}", response_class=HTMLResponse)
def procedure_page(request: Request, user: Reader, procedure_id: ProcedureId) -> Response:
    """One procedure; a form for editors."""
    with unit_of_work(sessions_of(request)) as session:
        row = session.get(ProcedureRow, procedure_id)
        if row is None:
            return render_error(request, 404, "Không tìm thấy thủ tục.")
        procedure = to_record(row)
    return render(
        request,
        "procedure.html",
        procedure_id=procedure_id,
        p=procedure,
        form=_form_view(procedure),
        error="",
    )


def _number(text: str) -> int | None:
    text = text.strip().replace(".", "").replace(",", "")
    if not text:
        return None
    value = int(text)
    if not 0 <= value <= 2**31 - 1:
        raise ValueError(text)
    return value


@router.post("/procedures/{procedure_id}", response_class=HTMLResponse)
def save_procedure(
    request: Request,
    user: Editor,
    procedure_id: ProcedureId,
    name: Annotated[str, Form(min_length=3, max_length=1000)],
    field: Annotated[str, Form(max_length=255)] = "",
    agency: Annotated[str, Form(max_length=255)] = "",
    processing_days: Annotated[str, Form(max_length=12)] = "",
    processing_time_note: Annotated[str, Form(max_length=2000)] = "",
    fee_vnd: Annotated[str, Form(max_length=16)] = "",
    fee_note: Annotated[str, Form(max_length=2000)] = "",
    eligible_applicants: Annotated[str, Form(max_length=2000)] = "",
    result_document: Annotated[str, Form(max_length=2000)] = "",
    steps: Annotated[str, Form(max_length=10000)] = "",
    keywords: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save an edited procedure (audited with before and after)."""
    sessions = sessions_of(request)
    with unit_of_work(sessions) as session:
        row = session.get(ProcedureRow, procedure_id)
        if row is None:
            return render_error(request, 404, "Không tìm thấy thủ tục.")
        before = to_record(row)
        try:
            after = dataclasses.replace(
                before,
                name=name.strip(),
                field=field.strip(),
                agency=agency.strip(),
                processing_days=_number(processing_days),
                processing_time_note=processing_time_note.strip(),
                fee_vnd=_number(fee_vnd),
                fee_note=fee_note.strip(),
                eligible_applicants=eligible_applicants.strip(),
                result_document=result_document.strip(),
                steps=tuple(s.strip() for s in steps.splitlines() if s.strip()),
                keywords=tuple(k.strip() for k in keywords.split(",") if k.strip()),
            )
        except ValueError:
            form = {
                "name": name,
                "field": field,
                "agency": agency,
                "processing_days": processing_days,
                "processing_time_note": processing_time_note,
                "fee_vnd": fee_vnd,
                "fee_note": fee_note,
                "eligible_applicants": eligible_applicants,
                "result_document": result_document,
                "steps": steps,
                "keywords": keywords,
            }
            return render(
                request,
                "procedure.html",
                status_code=422,
                procedure_id=procedure_id,
                p=before,
                form=form,
                error="Số ngày và lệ phí phải là số nguyên không âm.",
            )
        fill_row(row, after, now=web_context(request).now())
    record_now(
        sessions,
        at=web_context(request).now(),
        actor=user.username,
        action="procedure_edit",
        target=before.code,
        before=_form_view(before),
        after=_form_view(after),
        address=client_address(request),
    )
    return RedirectResponse(f"/procedures/{procedure_id}", status_code=303)


def _dossier_view(d: Dossier, *, personal: bool, today: date) -> dict[str, Any]:
    return {
        "code": d.code,
        "procedure": d.procedure_name,
        "status": d.status.label,
        "received_on": d.received_on,
        "due_on": d.due_on,
        "unit": d.processing_unit,
        "overdue": d.is_overdue(today),
        "applicant": d.applicant_name if personal else "•••",
        "phone": d.phone if personal else mask_phone(d.phone),
        "email": d.email if personal else ("•••" if d.email else ""),
        "fees": [f"{f.name}: {f.amount_vnd:,} đ" + (" (đã nộp)" if f.paid else "") for f in d.fees]
        if personal
        else [],
        "supplements": [f"{s.requested_on:%d/%m/%Y}: {s.content}" for s in d.supplements]
        if personal
        else [],
    }


@router.get("/dossiers", response_class=HTMLResponse)
async def dossiers_page(
    request: Request, user: DossierReader, code: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    """Find dossiers by full code or by the last ten digits."""
    results: list[dict[str, Any]] = []
    if code.strip():
        source = DatabaseDossierSource(sessions_of(request))
        found = await source.get(code.strip())
        matches = (
            [found]
            if found is not None
            else await source.find_by_tail("".join(ch for ch in code if ch.isdigit())[-10:])
        )
        today = web_context(request).now().date()
        personal = user.can(Permission.PERSONAL_DATA)
        results = [_dossier_view(d, personal=personal, today=today) for d in matches[:20]]
    return render(
        request,
        "dossiers.html",
        code=code,
        results=results,
        personal=user.can(Permission.PERSONAL_DATA),
    )
