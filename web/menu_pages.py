"""Menu pages other than the draft editor: the overview (active versions, drafts, versions),
starting a draft, a version with its node-level diff against the one before, and rollback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from menus.api import Number as VersionNumber
from menus.api import get_store
from menus.store import MenuNotFound, MenuStore, TreeDiff
from web.audit import record_now
from web.auth import Principal, require
from web.context import client_address, sessions_of, web_context
from web.pages import render, render_error
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(Permission.MENUS_READ))]
Editor = Annotated[Principal, Depends(require(Permission.MENUS_EDIT))]
Store = Annotated[MenuStore, Depends(get_store)]


@router.get("/menus", response_class=HTMLResponse)
def overview(request: Request, user: Reader, store: Store) -> Response:
    """Active versions, drafts and the version history."""
    return render(request, "menus.html", drafts=store.drafts(), versions=store.versions())


@router.post("/menus/drafts", response_class=HTMLResponse)
def new_draft(
    request: Request,
    user: Editor,
    store: Store,
    version: Annotated[int, Form(ge=1)],
) -> Response:
    """Start a draft from a published version."""
    try:
        draft = store.draft_from_version(version, fmt="json", author=user.username)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy phiên bản.")
    record_now(
        sessions_of(request),
        at=web_context(request).now(),
        actor=user.username,
        action="menu_draft_new",
        target=f"draft {draft.id}",
        after={"from_version": version},
        address=client_address(request),
    )
    return RedirectResponse(f"/menus/drafts/{draft.id}", 303)


@router.get("/menus/versions/{number}", response_class=HTMLResponse)
def version_page(request: Request, number: VersionNumber, user: Reader, store: Store) -> Response:
    """One version and what it changed against the version before it."""
    try:
        version = store.version(number)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy phiên bản.")
    older = [v.number for v in store.versions(version.tree_id) if v.number < number]
    diff: TreeDiff | None = store.diff(max(older), number) if older else None
    return render(request, "menu_version.html", version=version, diff=diff)


@router.post("/menus/versions/{number}/rollback", response_class=HTMLResponse)
def rollback(
    request: Request,
    number: VersionNumber,
    user: Editor,
    store: Store,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Publish an old version's content again."""
    active = [v.number for v in store.versions() if v.active]
    try:
        version = store.rollback(number, author=user.username, note=note)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy phiên bản.")
    record_now(
        sessions_of(request),
        at=web_context(request).now(),
        actor=user.username,
        action="menu_rollback",
        target=f"version {number}",
        before={"active_versions": active},
        after={"version": version.number, "rollback_of": number, "note": note},
        address=client_address(request),
    )
    return RedirectResponse(f"/menus/versions/{version.number}", 303)
