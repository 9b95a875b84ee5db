"""The menu editor's draft pages: the tree as a picture beside the selected node's form, node
edits (prompt, any field as JSON), add, move and remove nodes, each problem at its node and
field, publish with a note. Two editors saving one draft: the second is told and keeps their
text."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from menus.api import DraftId, get_known_ids, get_store
from menus.loader import MenuLoadError, load_data
from menus.prompt_numbers import prompt_number
from menus.store import Draft, MenuNotFound, MenuStore, PublishRefused
from menus.validate import KnownIds, Problem
from web.audit import record_now
from web.auth import Principal, require
from web.context import client_address, sessions_of, web_context
from web.menu_graph import GraphUnavailable, render_svg, tree_dot
from web.menu_moves import MENU_KEYS, MoveRefused, menu_ids, move_node, parents_of
from web.pages import render, render_error
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(require(Permission.MENUS_EDIT))]
Store = Annotated[MenuStore, Depends(get_store)]
Known = Annotated[KnownIds, Depends(get_known_ids)]
MAX_NODE_JSON = 20000
NEW_NODE_KINDS = ("say", "menu", "goto", "hangup", "transfer", "callback", "message")
# Kinds that serve a department: the form's department list (the directory's) is required.
DEPARTMENT_KINDS = frozenset({"transfer", "callback", "message"})


def _data(draft: Draft) -> dict[str, Any]:
    return load_data(draft.source, fmt=draft.fmt)


def _node_fields(node: dict[str, Any]) -> tuple[str, str]:
    """The node's prompt text and the rest of it as JSON (for the form)."""
    prompt = node.get("prompt", "")
    text = prompt.get("text", "") if isinstance(prompt, dict) else str(prompt or "")
    rest = {k: v for k, v in node.items() if k != "prompt"}
    return text, json.dumps(rest, ensure_ascii=False, indent=2)


def _problem_map(problems: list[Problem]) -> dict[str, list[Problem]]:
    grouped: dict[str, list[Problem]] = {}
    for p in problems:
        grouped.setdefault(p.node_id or "", []).append(p)
    return grouped


def editor_page(
    request: Request,
    store: MenuStore,
    known: KnownIds,
    draft_id: DraftId,
    *,
    node_id: str | None = None,
    form: dict[str, str] | None = None,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    """The editor for one draft (``form`` keeps an unsaved edit on the page)."""
    try:
        draft = store.draft(draft_id)
        tree, problems = store.check_draft(draft_id, known)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    data = _safe_data(draft)
    nodes: dict[str, Any] = data.get("nodes", {}) if isinstance(data.get("nodes"), dict) else {}
    selected = (
        node_id if node_id in nodes else data.get("start") if data.get("start") in nodes else None
    )
    prompt, rest = _node_fields(nodes[selected]) if selected else ("", "")
    if form is not None:
        prompt, rest = form.get("prompt", prompt), form.get("node_json", rest)
    by_node = _problem_map(problems)
    svg, graph_error = "", ""
    if tree is not None:
        dot = tree_dot(
            tree,
            bad=set(by_node) - {""},
            selected=selected,
            link=lambda n: f"/menus/drafts/{draft_id}?node={quote(n)}#node-form",
        )
        try:
            svg = render_svg(dot)
        except GraphUnavailable as exc:
            graph_error = str(exc)
    return render(
        request,
        "menu_editor.html",
        status_code=status,
        draft=draft,
        nodes=nodes,
        selected=selected,
        prompt=prompt,
        node_json=rest,
        problems=problems,
        by_node=by_node,
        svg=svg,
        graph_error=graph_error,
        notice=notice,
        error=error,
        kinds=NEW_NODE_KINDS,
        departments=sorted(known.departments),
        menus=[m for m in menu_ids(nodes) if m != selected],
        parents=parents_of(nodes, selected) if selected else [],
        keys=sorted(MENU_KEYS),
        node_problems=by_node.get(selected or "", []),
        prompt_number=prompt_number(tree, prompt) if tree is not None and prompt else None,
    )


def _safe_data(draft: Draft) -> dict[str, Any]:
    try:
        return _data(draft)
    except MenuLoadError:
        return {}


@router.get("/menus/drafts/{draft_id}", response_class=HTMLResponse)
def draft_page(
    request: Request, draft_id: DraftId, user: Editor, store: Store, known: Known, node: str = ""
) -> Response:
    """Edit a draft."""
    return editor_page(request, store, known, draft_id, node_id=node or None)


def _save(
    request: Request,
    store: MenuStore,
    user: Principal,
    draft: Draft,
    data: dict[str, Any],
    action: str,
    target: str,
    before: Any,
    after: Any,
) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    store.update_draft(draft.id, text, fmt="json", author=user.username)
    record_now(
        sessions_of(request),
        at=web_context(request).now(),
        actor=user.username,
        action=action,
        target=target,
        before=before,
        after=after,
        address=client_address(request),
    )


def _stale(draft: Draft, base: str) -> bool:
    return draft.updated_at.isoformat() != base


@router.post("/menus/drafts/{draft_id}/nodes/{node_id}", response_class=HTMLResponse)
def save_node(
    request: Request,
    draft_id: DraftId,
    node_id: str,
    user: Editor,
    store: Store,
    known: Known,
    base: Annotated[str, Form(max_length=64)],
    prompt: Annotated[str, Form(max_length=5000)] = "",
    node_json: Annotated[str, Form(max_length=MAX_NODE_JSON)] = "",
) -> Response:
    """Save one node's prompt and fields (refused, with the edit kept, if the draft moved on)."""
    form = {"prompt": prompt, "node_json": node_json}
    try:
        draft = store.draft(draft_id)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    if _stale(draft, base):
        when = draft.updated_at.strftime("%H:%M:%S")
        message = (
            f"{draft.author} đã lưu bản nháp này lúc {when} (UTC) sau khi bạn mở nó. "
            "Thay đổi của bạn CHƯA được lưu và vẫn còn dưới đây: xem lại rồi lưu lần nữa."
        )
        return editor_page(
            request, store, known, draft_id, node_id=node_id, form=form, error=message, status=409
        )
    data = _safe_data(draft)
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or node_id not in nodes:
        return render_error(request, 404, "Không có nút này trong bản nháp.")
    try:
        fields = json.loads(node_json) if node_json.strip() else {}
    except ValueError as exc:
        return editor_page(
            request,
            store,
            known,
            draft_id,
            node_id=node_id,
            form=form,
            error=f"Dữ liệu nút không phải JSON hợp lệ: {exc}",
            status=422,
        )
    if not isinstance(fields, dict):
        return editor_page(
            request,
            store,
            known,
            draft_id,
            node_id=node_id,
            form=form,
            error="Dữ liệu nút phải là một đối tượng JSON.",
            status=422,
        )
    before = nodes[node_id]
    after = {**fields, **({"prompt": prompt} if prompt.strip() else {})}
    nodes[node_id] = after
    _save(
        request,
        store,
        user,
        draft,
        data,
        "menu_node_save",
        f"draft {draft_id} / {node_id}",
        {"node": before},
        {"node": after},
    )
    return RedirectResponse(f"/menus/drafts/{draft_id}?node={quote(node_id)}#node-form", 303)


@router.post("/menus/drafts/{draft_id}/nodes", response_class=HTMLResponse)
def add_node(
    request: Request,
    draft_id: DraftId,
    user: Editor,
    store: Store,
    known: Known,
    node_id: Annotated[str, Form(max_length=64, pattern=r"^[a-z][a-z0-9_]*$")],
    kind: Annotated[str, Form(max_length=16)],
    prompt: Annotated[str, Form(max_length=5000)] = "",
    department: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Add a node (its exits are then set in its form). A transfer, callback or voice-message
    node names a department of the directory; its next step starts as the tree's start."""
    try:
        draft = store.draft(draft_id)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    data = _safe_data(draft)
    nodes = data.setdefault("nodes", {})
    if kind not in NEW_NODE_KINDS or node_id in nodes:
        return editor_page(
            request, store, known, draft_id, error=f"Không thể thêm nút {node_id!r}.", status=422
        )
    if kind in DEPARTMENT_KINDS and department not in known.departments:
        return editor_page(
            request, store, known, draft_id, status=422,
            error=f"Nút loại {kind} cần một phòng ban trong danh bạ (không có {department!r}).",
        )  # fmt: skip
    node: dict[str, Any] = {"kind": kind}
    if prompt.strip():
        node["prompt"] = prompt
    if kind in DEPARTMENT_KINDS:
        node["department"] = department
    if kind in ("callback", "message"):
        node["next"] = data.get("start", "")
    if kind in ("say", "goto"):
        node["next" if kind == "say" else "target"] = data.get("start", "")
    if kind == "menu":
        node["choices"] = []
    nodes[node_id] = node
    _save(
        request,
        store,
        user,
        draft,
        data,
        "menu_node_add",
        f"draft {draft_id} / {node_id}",
        None,
        {"node": node},
    )
    return RedirectResponse(f"/menus/drafts/{draft_id}?node={quote(node_id)}#node-form", 303)


@router.post("/menus/drafts/{draft_id}/nodes/{node_id}/move", response_class=HTMLResponse)
def move_node_route(
    request: Request,
    draft_id: DraftId,
    node_id: str,
    user: Editor,
    store: Store,
    known: Known,
    base: Annotated[str, Form(max_length=64)],
    parent: Annotated[str, Form(max_length=64)],
    key: Annotated[str, Form(max_length=1)],
) -> Response:
    """Move a node under another menu, on a key (its old menus lose their choice of it)."""
    try:
        draft = store.draft(draft_id)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    if _stale(draft, base):
        message = f"{draft.author} đã lưu bản nháp này sau khi bạn mở nó: nút chưa được chuyển."
        return editor_page(
            request, store, known, draft_id, node_id=node_id, error=message, status=409
        )
    data = _safe_data(draft)
    if node_id not in data.get("nodes", {}):
        return render_error(request, 404, "Không có nút này trong bản nháp.")
    try:
        before = move_node(data, node_id, parent, key)
    except MoveRefused as exc:
        return editor_page(
            request,
            store,
            known,
            draft_id,
            node_id=node_id,
            error=f"Không chuyển được nút: {exc}.",
            status=422,
        )
    after = {menu: data["nodes"][menu] for menu in before}
    _save(
        request,
        store,
        user,
        draft,
        data,
        "menu_node_move",
        f"draft {draft_id} / {node_id}",
        {"menus": before},
        {"menus": after},
    )
    return RedirectResponse(f"/menus/drafts/{draft_id}?node={quote(node_id)}#node-form", 303)


@router.post("/menus/drafts/{draft_id}/nodes/{node_id}/remove", response_class=HTMLResponse)
def remove_node(
    request: Request, draft_id: DraftId, node_id: str, user: Editor, store: Store
) -> Response:
    """Remove a node (arrows into it then show as problems until they are changed)."""
    try:
        draft = store.draft(draft_id)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    data = _safe_data(draft)
    nodes = data.get("nodes", {})
    if node_id not in nodes:
        return render_error(request, 404, "Không có nút này trong bản nháp.")
    before = nodes.pop(node_id)
    _save(
        request,
        store,
        user,
        draft,
        data,
        "menu_node_remove",
        f"draft {draft_id} / {node_id}",
        {"node": before},
        None,
    )
    return RedirectResponse(f"/menus/drafts/{draft_id}", 303)


@router.post("/menus/drafts/{draft_id}/publish", response_class=HTMLResponse)
async def publish(
    request: Request,
    draft_id: DraftId,
    user: Editor,
    store: Store,
    known: Known,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Publish the draft as the new active version, or show why not."""
    try:
        active = [v.number for v in store.versions() if v.active]
        version = await run_in_threadpool(
            store.publish_draft, draft_id, author=user.username, note=note, known=known
        )
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    except PublishRefused:
        return editor_page(
            request,
            store,
            known,
            draft_id,
            status=422,
            error="Chưa xuất bản được: bản nháp còn lỗi (xem danh sách).",
        )
    record_now(
        sessions_of(request),
        at=web_context(request).now(),
        actor=user.username,
        action="menu_publish",
        target=f"draft {draft_id}",
        before={"active_versions": active},
        after={"version": version.number, "note": note},
        address=client_address(request),
    )
    return RedirectResponse(f"/menus/versions/{version.number}", 303)
