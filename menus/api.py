"""Admin HTTP API of menu trees (prefix ``/api/menus``): drafts, validation, publishing, versions.

Routes only translate HTTP to :class:`menus.store.MenuStore` calls. Menu text arrives as the raw
request body (``Content-Type: application/json`` for JSON, anything else is read as YAML, or
``?format=``), so the safe loader, not the web framework's JSON parser, sees it first; bodies over
the loader's size limit are refused with 413 before they are read in full.

Dependencies read everything from ``request.app.state``:

- ``session_factory`` (a SQLAlchemy ``sessionmaker``); when absent, one is built on first use
  from ``app.state.settings.database_url`` and kept there;
- ``menu_known_ids`` (optional): a callable returning :class:`menus.validate.KnownIds`; by
  default the department and procedure ids come from the catalogue tables.

Authentication is the web app's: :func:`current_admin` refuses everyone until the app composing
this router overrides it (``app.dependency_overrides[current_admin] = ...``) with the signed-in
user; ``server.create_app`` does, so a version's author is who signed in, never a header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, session_factory
from menus.loader import DEFAULT_LIMITS, Format, MenuLoadError
from menus.schema import dump, menu_schema
from menus.store import (
    Draft,
    MenuNotFound,
    MenuStore,
    PublishRefused,
    TreeDiff,
    Version,
    known_ids_from_tables,
)
from menus.validate import KnownIds, Problem, check_text, problems_from_error

router = APIRouter(prefix="/api/menus", tags=["menus"])

YAML_MEDIA_TYPE = "application/yaml"

# ----------------------------------------------------------------------------- dependencies


@dataclass(frozen=True)
class Admin:
    """Who is acting: the signed-in user's name."""

    name: str


def current_admin() -> Admin:
    """Refuses (401) unless the composing app overrides it with its sign-in check."""
    raise HTTPException(status_code=401, detail="sign-in required")


CurrentAdmin = Annotated[Admin, Depends(current_admin)]


def get_sessions(request: Request) -> sessionmaker[Session]:
    """The app's session factory (built from settings on first use when the app has none)."""
    state = request.app.state
    factory: sessionmaker[Session] | None = getattr(state, "session_factory", None)
    if factory is None:
        engine = create_engine_from_url(state.settings.database_url)
        factory = session_factory(engine)
        state.session_factory = factory
    return factory


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_store(request: Request, sessions: SessionsDep) -> MenuStore:
    """One store per app, so parsed versions are cached across requests."""
    store: MenuStore | None = getattr(request.app.state, "menu_store", None)
    if store is None:
        store = MenuStore(sessions)
        request.app.state.menu_store = store
    return store


StoreDep = Annotated[MenuStore, Depends(get_store)]


def get_known_ids(request: Request, sessions: SessionsDep) -> KnownIds:
    """The department and procedure ids a tree may name."""
    provider: Callable[[], KnownIds] | None = getattr(request.app.state, "menu_known_ids", None)
    if provider is not None:
        return provider()
    return known_ids_from_tables(sessions)


KnownDep = Annotated[KnownIds, Depends(get_known_ids)]

# ----------------------------------------------------------------------------- API schemas


class ProblemOut(BaseModel):
    """One problem: node (null for tree fields), field path, stable code, message."""

    node_id: str | None
    field: str
    code: str
    message: str


class ProblemsOut(BaseModel):
    """The outcome of a check."""

    ok: bool
    problems: list[ProblemOut]


class DraftOut(BaseModel):
    """A draft; ``source`` only when one draft is asked for."""

    id: int
    tree_id: str
    title: str
    format: Format
    author: str
    created_at: datetime
    updated_at: datetime
    source: str | None = None


class VersionOut(BaseModel):
    """A published version."""

    number: int
    tree_id: str
    title: str
    author: str
    note: str
    published_at: datetime
    content_hash: str
    rollback_of: int | None
    active: bool


class NodeChangeOut(BaseModel):
    node_id: str
    change: Literal["added", "removed", "changed"]
    fields: list[str]


class DiffOut(BaseModel):
    """Node-level differences between two versions."""

    old: int
    new: int
    tree_fields: list[str]
    nodes: list[NodeChangeOut]


class ActiveOut(BaseModel):
    """The version new calls get, and its tree as plain data."""

    version: int
    tree: dict[str, Any]


class NoteIn(BaseModel):
    """Why a version is published or rolled back."""

    note: str = Field(default="", max_length=2000)


def _problem(p: Problem) -> ProblemOut:
    return ProblemOut(node_id=p.node_id, field=p.field, code=p.code.value, message=p.message)


def _problems(problems: list[Problem]) -> ProblemsOut:
    return ProblemsOut(ok=not problems, problems=[_problem(p) for p in problems])


def _draft(d: Draft, *, with_source: bool = False) -> DraftOut:
    return DraftOut(
        id=d.id,
        tree_id=d.tree_id,
        title=d.title,
        format=d.fmt,
        author=d.author,
        created_at=d.created_at,
        updated_at=d.updated_at,
        source=d.source if with_source else None,
    )


def _version(v: Version) -> VersionOut:
    return VersionOut(**asdict(v))


def _diff(d: TreeDiff) -> DiffOut:
    return DiffOut(
        old=d.old,
        new=d.new,
        tree_fields=list(d.tree_fields),
        nodes=[
            NodeChangeOut(node_id=c.node_id, change=c.change, fields=list(c.fields))
            for c in d.nodes
        ],
    )


def _unprocessable(problems: list[Problem]) -> JSONResponse:
    return JSONResponse(status_code=422, content=_problems(problems).model_dump())


def _not_found(exc: MenuNotFound) -> HTTPException:
    return HTTPException(status_code=404, detail=str(exc))


async def _read_menu_body(request: Request, fmt: Format | None) -> tuple[bytes, Format]:
    """The raw body (413 above the loader's size limit) and the format it is in."""
    limit = DEFAULT_LIMITS.max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status_code=413, detail=f"menu file over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=f"menu file over {limit} bytes")
        chunks.append(chunk)
    if fmt is None:
        content_type = request.headers.get("content-type", "")
        fmt = "json" if "json" in content_type else "yaml"
    return b"".join(chunks), fmt


FormatQuery = Annotated[Format | None, Query(alias="format")]
# Ids within a 32-bit column: a larger number is a 422, not a database overflow.
DraftId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]

# ----------------------------------------------------------------------------- routes


@router.get("/schema")
def get_schema() -> dict[str, Any]:
    """The published JSON Schema of menu files."""
    return menu_schema()


@router.post("/validate", response_model=ProblemsOut)
async def validate_upload(request: Request, known: KnownDep, fmt: FormatQuery = None) -> Any:
    """Check a menu file without storing it."""
    body, fmt = await _read_menu_body(request, fmt)
    _tree, problems = await run_in_threadpool(
        check_text, body, fmt=fmt, departments=known.departments, procedures=known.procedures
    )
    return _problems(problems)


@router.get("/drafts", response_model=list[DraftOut])
def list_drafts(store: StoreDep) -> Any:
    """Every draft, newest first (without sources)."""
    return [_draft(d) for d in store.drafts()]


@router.post("/drafts", response_model=DraftOut, status_code=201)
async def create_draft(
    request: Request, store: StoreDep, admin: CurrentAdmin, fmt: FormatQuery = None
) -> Any:
    """Import a menu file (YAML or JSON) as a new draft. It must load safely (422 otherwise)."""
    body, fmt = await _read_menu_body(request, fmt)
    try:
        draft = await run_in_threadpool(store.create_draft, body, fmt=fmt, author=admin.name)
    except MenuLoadError as exc:
        return _unprocessable(problems_from_error(exc))
    return _draft(draft, with_source=True)


@router.get("/drafts/{draft_id}", response_model=DraftOut)
def get_draft(draft_id: DraftId, store: StoreDep) -> Any:
    """One draft with its source."""
    try:
        return _draft(store.draft(draft_id), with_source=True)
    except MenuNotFound as exc:
        raise _not_found(exc) from None


@router.put("/drafts/{draft_id}", response_model=DraftOut)
async def update_draft(
    draft_id: DraftId,
    request: Request,
    store: StoreDep,
    admin: CurrentAdmin,
    fmt: FormatQuery = None,
) -> Any:
    """Replace a draft's source."""
    body, fmt = await _read_menu_body(request, fmt)
    try:
        draft = await run_in_threadpool(
            store.update_draft, draft_id, body, fmt=fmt, author=admin.name
        )
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    except MenuLoadError as exc:
        return _unprocessable(problems_from_error(exc))
    return _draft(draft, with_source=True)


@router.delete("/drafts/{draft_id}", status_code=204)
def delete_draft(draft_id: DraftId, store: StoreDep, admin: CurrentAdmin) -> Response:
    """Forget a draft."""
    try:
        store.delete_draft(draft_id)
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    return Response(status_code=204)


@router.post("/drafts/{draft_id}/validate", response_model=ProblemsOut)
def validate_draft(draft_id: DraftId, store: StoreDep, known: KnownDep) -> Any:
    """Every problem of a draft (``ok`` when there is none)."""
    try:
        _tree, problems = store.check_draft(draft_id, known)
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    return _problems(problems)


@router.get(
    "/drafts/{draft_id}/diff",
    response_model=DiffOut,
    responses={422: {"model": ProblemsOut, "description": "the draft is not a tree"}},
)
def diff_draft(draft_id: DraftId, store: StoreDep, known: KnownDep) -> Any:
    """What publishing the draft would change against the active version (``new`` is 0)."""
    try:
        return _diff(store.diff_draft(draft_id, known))
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    except PublishRefused as exc:
        return _unprocessable(exc.problems)


@router.post(
    "/drafts/{draft_id}/publish",
    response_model=VersionOut,
    status_code=201,
    responses={422: {"model": ProblemsOut, "description": "the draft has problems"}},
)
def publish_draft(
    draft_id: DraftId, body: NoteIn, store: StoreDep, known: KnownDep, admin: CurrentAdmin
) -> Any:
    """Publish a draft as the new active version; refused (422, with the problems) if invalid."""
    try:
        version = store.publish_draft(draft_id, author=admin.name, note=body.note, known=known)
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    except PublishRefused as exc:
        return _unprocessable(exc.problems)
    return _version(version)


@router.get("/versions", response_model=list[VersionOut])
def list_versions(store: StoreDep, tree_id: str | None = None) -> Any:
    """Published versions, newest first."""
    return [_version(v) for v in store.versions(tree_id)]


@router.get("/versions/{number}", response_model=VersionOut)
def get_version(number: Number, store: StoreDep) -> Any:
    """One published version's record."""
    try:
        return _version(store.version(number))
    except MenuNotFound as exc:
        raise _not_found(exc) from None


@router.get("/versions/{number}/export", response_class=PlainTextResponse)
def export_version(number: Number, store: StoreDep, fmt: FormatQuery = None) -> Response:
    """A published version as a YAML (default) or JSON file."""
    chosen: Format = fmt or "yaml"
    try:
        text = dump(store.tree(number), chosen)
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    media = "application/json" if chosen == "json" else YAML_MEDIA_TYPE
    filename = f"menu-v{number}.{'json' if chosen == 'json' else 'yaml'}"
    return Response(
        content=text.encode("utf-8"),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/versions/{number}/draft", response_model=DraftOut, status_code=201)
def draft_from_version(
    number: Number, store: StoreDep, admin: CurrentAdmin, fmt: FormatQuery = None
) -> Any:
    """Start a draft from a published version, to edit it."""
    try:
        draft = store.draft_from_version(number, fmt=fmt or "yaml", author=admin.name)
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    return _draft(draft, with_source=True)


@router.post("/versions/{number}/rollback", response_model=VersionOut, status_code=201)
def rollback(number: Number, body: NoteIn, store: StoreDep, admin: CurrentAdmin) -> Any:
    """Publish an old version's content again as the new active version."""
    try:
        return _version(store.rollback(number, author=admin.name, note=body.note))
    except MenuNotFound as exc:
        raise _not_found(exc) from None


@router.get("/versions/{old}/diff/{new}", response_model=DiffOut)
def diff_versions(old: Number, new: Number, store: StoreDep) -> Any:
    """Node-level differences between two versions."""
    try:
        return _diff(store.diff(old, new))
    except MenuNotFound as exc:
        raise _not_found(exc) from None


@router.get("/active", response_model=ActiveOut)
def active(store: StoreDep, tree_id: str = "hotline") -> Any:
    """The version new calls get."""
    try:
        number, tree = store.active(tree_id)
    except MenuNotFound as exc:
        raise _not_found(exc) from None
    return ActiveOut(version=number, tree=tree.to_dict())
