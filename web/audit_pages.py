"""The audit log page and its CSV export (admins)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from web.audit import entries
from web.auth import Principal, require
from web.context import sessions_of
from web.csv_export import csv_response
from web.pages import render
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
PAGE_SIZE = 50


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user: Auditor,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    actor: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    """Changes, newest first, with before and after."""
    rows, total = entries(
        sessions_of(request), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, actor=actor
    )
    shown = [(e, _pretty(e.before), _pretty(e.after)) for e in rows]
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request, "audit.html", rows=shown, page=page, pages=pages, actor=actor, total=total
    )


@router.get("/audit.csv")
def audit_csv(request: Request, user: Auditor) -> Response:
    """The newest 10,000 changes as CSV."""
    rows, _total = entries(sessions_of(request), limit=10000)
    return csv_response(
        "audit.csv",
        ["id", "at", "actor", "action", "target", "address", "detail", "before", "after"],
        (
            [
                e.id,
                e.at.isoformat(),
                e.actor,
                e.action,
                e.target,
                e.address,
                e.detail,
                _compact(e.before),
                _compact(e.after),
            ]
            for e in rows
        ),
    )


def _pretty(snapshot: object) -> str:
    if snapshot is None:
        return ""
    return json.dumps(snapshot, ensure_ascii=False, indent=1, default=str)[:4000]


def _compact(snapshot: object) -> str:
    return "" if snapshot is None else json.dumps(snapshot, ensure_ascii=False, default=str)
