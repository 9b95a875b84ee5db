"""Audit of every change made through the JSON API: who, when, which operation, the record
before (for the operations that replace or remove one) and the answer after.

A middleware, so routers that know nothing of the audit log (the menu API) are covered too.
Only successful (2xx) state-changing requests by a known principal are recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from menus.store import MenuNotFound, MenuStore
from web.audit import record_now
from web.csrf import SAFE_METHODS

NOT_CHANGES = frozenset({"validate_upload", "validate_draft"})
MAX_CAPTURE_BYTES = 65536

Snapshot = Callable[[sessionmaker[Session], re.Match[str]], dict[str, Any] | None]


def _draft_before(sessions: sessionmaker[Session], match: re.Match[str]) -> dict[str, Any] | None:
    try:
        draft = MenuStore(sessions).draft(int(match.group(1)))
    except MenuNotFound:
        return None
    return {
        "id": draft.id,
        "author": draft.author,
        "updated_at": draft.updated_at.isoformat(),
        "source": draft.source,
    }


def _active_before(sessions: sessionmaker[Session], _match: re.Match[str]) -> dict[str, Any] | None:
    versions = [v for v in MenuStore(sessions).versions() if v.active]
    return {"active_versions": [v.number for v in versions]}


BEFORE: list[tuple[re.Pattern[str], frozenset[str], Snapshot]] = [
    (re.compile(r"^/api/menus/drafts/(\d+)$"), frozenset({"PUT", "DELETE"}), _draft_before),
    (re.compile(r"^/api/menus/drafts/\d+/publish$"), frozenset({"POST"}), _active_before),
    (re.compile(r"^/api/menus/versions/\d+/rollback$"), frozenset({"POST"}), _active_before),
]


class ApiAudit:
    """Records each successful change under ``/api/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not path.startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        sessions = _sessions(scope)
        before = _before(sessions, scope["method"], path) if sessions is not None else None
        status = 0
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and len(body) < MAX_CAPTURE_BYTES:
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        principal = scope.get("state", {}).get("principal")
        endpoint = getattr(scope.get("endpoint"), "__name__", "")
        if sessions is None or principal is None or not 200 <= status < 300:
            return
        if endpoint in NOT_CHANGES:
            return
        web = scope["app"].state.web
        record_now(
            sessions,
            at=web.now(),
            actor=principal.username,
            action=endpoint or scope["method"],
            target=path,
            before=before,
            after=_json(bytes(body)),
            address=(scope.get("client") or ("",))[0],
            detail=f"{scope['method']} {path} via {principal.via}",
        )


def _sessions(scope: Scope) -> sessionmaker[Session] | None:
    factory: sessionmaker[Session] | None = getattr(scope["app"].state, "session_factory", None)
    return factory


def _before(sessions: sessionmaker[Session], method: str, path: str) -> dict[str, Any] | None:
    for pattern, methods, snapshot in BEFORE:
        match = pattern.match(path)
        if match and method in methods:
            return snapshot(sessions, match)
    return None


def _json(body: bytes) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"response": body[:2000].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"response": value}
