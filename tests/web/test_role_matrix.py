"""Every route against every role, on a real uvicorn process: the table below is the policy,
and nothing is allowed that it does not allow. A route missing from the table fails the test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from server import create_app
from tests.web.served import ServedWeb, served_web
from tests.web_access import web_test_settings
from web.roles import GRANTS, Permission, Role

P = Permission
PUBLIC = None

# "METHOD /path" -> the permission it needs (None: public).
POLICY: dict[str, Permission | None] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,  # a load balancer's probe
    "GET /metrics": PUBLIC,  # the Prometheus scraper (telemetry.web_endpoints)
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": P.SIGNED_IN,
    "GET /": P.SIGNED_IN,
    "GET /openapi.json": P.SIGNED_IN,
    "GET /docs": P.SIGNED_IN,
    "GET /audit": P.AUDIT_READ,
    "GET /audit.csv": P.AUDIT_READ,
    "GET /users": P.USERS_MANAGE,
    "POST /users": P.USERS_MANAGE,
    "POST /users/{username}": P.USERS_MANAGE,
    "POST /users/{username}/remove": P.USERS_MANAGE,
    "POST /users/{username}/sign-out": P.USERS_MANAGE,
    "GET /api/menus/schema": P.MENUS_READ,
    "POST /api/menus/validate": P.MENUS_READ,
    "GET /api/menus/drafts": P.MENUS_READ,
    "POST /api/menus/drafts": P.MENUS_EDIT,
    "GET /api/menus/drafts/{draft_id}": P.MENUS_READ,
    "PUT /api/menus/drafts/{draft_id}": P.MENUS_EDIT,
    "DELETE /api/menus/drafts/{draft_id}": P.MENUS_EDIT,
    "POST /api/menus/drafts/{draft_id}/validate": P.MENUS_READ,
    "GET /api/menus/drafts/{draft_id}/diff": P.MENUS_READ,
    "POST /api/menus/drafts/{draft_id}/publish": P.MENUS_EDIT,
    "GET /api/menus/versions": P.MENUS_READ,
    "GET /api/menus/versions/{number}": P.MENUS_READ,
    "GET /api/menus/versions/{number}/export": P.MENUS_READ,
    "POST /api/menus/versions/{number}/draft": P.MENUS_EDIT,
    "POST /api/menus/versions/{number}/rollback": P.MENUS_EDIT,
    "GET /api/menus/versions/{old}/diff/{new}": P.MENUS_READ,
    "GET /api/menus/active": P.MENUS_READ,
    "GET /menus": P.MENUS_READ,
    "POST /menus/drafts": P.MENUS_EDIT,
    "GET /menus/versions/{number}": P.MENUS_READ,
    "POST /menus/versions/{number}/rollback": P.MENUS_EDIT,
    "GET /menus/drafts/{draft_id}": P.MENUS_EDIT,
    "POST /menus/drafts/{draft_id}/nodes/{node_id}": P.MENUS_EDIT,
    "POST /menus/drafts/{draft_id}/nodes": P.MENUS_EDIT,
    "POST /menus/drafts/{draft_id}/nodes/{node_id}/remove": P.MENUS_EDIT,
    "POST /menus/drafts/{draft_id}/nodes/{node_id}/move": P.MENUS_EDIT,
    "POST /menus/drafts/{draft_id}/publish": P.MENUS_EDIT,
    "GET /menus/listen.wav": P.MENUS_EDIT,
    "GET /menus/recordings": P.MENUS_EDIT,
    "POST /menus/recordings": P.MENUS_EDIT,
    "GET /menus/recordings/{name}": P.MENUS_EDIT,
    "GET /calls": P.CALLS_READ,
    "GET /calls.csv": P.CALLS_READ,
    "GET /calls/{call_id}": P.CALLS_READ,
    "GET /calls/{call_id}/recordings/{name}": P.CALLS_READ,
    "GET /console": P.CALLS_READ,
    "GET /console/events": P.CALLS_READ,
    "POST /console/state": P.CALLS_READ,
    "POST /console/callbacks/{source}/{callback_id}": P.CALLS_READ,
    "POST /console/callbacks/{source}/{callback_id}/call": P.CALLS_READ,
    "GET /console/messages/{entry_id}/audio": P.CALLS_READ,
    "POST /console/messages/{entry_id}/handled": P.CALLS_READ,
    "GET /dashboard": P.DASHBOARD,
    "GET /dashboard.csv": P.DASHBOARD,
    "GET /procedures": P.PROCEDURES_READ,
    "GET /procedures/{procedure_id}": P.PROCEDURES_READ,
    "POST /procedures/{procedure_id}": P.PROCEDURES_EDIT,
    "POST /procedures/import": P.PROCEDURES_EDIT,
    "GET /dossiers": P.DOSSIERS_READ,
    "GET /departments": P.DIRECTORY_READ,
    "POST /departments": P.DIRECTORY_EDIT,
    "GET /departments/{dept_id}": P.DIRECTORY_READ,
    "POST /departments/{dept_id}": P.DIRECTORY_EDIT,
    "POST /departments/{dept_id}/hours": P.DIRECTORY_EDIT,
    "POST /departments/{dept_id}/remove": P.DIRECTORY_EDIT,
    "POST /departments/{dept_id}/officers": P.DIRECTORY_EDIT,
    "POST /departments/{dept_id}/officers/{extension}/remove": P.DIRECTORY_EDIT,
    "GET /departments/{dept_id}/officers/{extension}": P.DIRECTORY_EDIT,
    "POST /departments/{dept_id}/officers/{extension}": P.DIRECTORY_EDIT,
    "GET /holidays": P.DIRECTORY_READ,
    "POST /holidays": P.DIRECTORY_EDIT,
    "POST /holidays/{day}/remove": P.DIRECTORY_EDIT,
    "POST /menus/drafts/{draft_id}/try": P.MENUS_EDIT,
    "GET /assistant": PUBLIC,
    "POST /assistant": PUBLIC,
    "GET /assistant/{conversation_id}": PUBLIC,
    "POST /assistant/{conversation_id}/key": PUBLIC,
    "POST /assistant/{conversation_id}/text": PUBLIC,
    "POST /assistant/{conversation_id}/end": PUBLIC,
    "GET /assistant/{conversation_id}/audio/{index}": PUBLIC,
}

SAMPLE_PARAMS = {
    "draft_id": "999",
    "number": "999",
    "old": "1",
    "new": "1",
    "username": "no-such-user",
    "call_id": "no-such-call",
    "node_id": "greeting",
    "code": "no-such-code",
    "name": "rec-none.wav",
    "procedure_id": "999",
    "conversation_id": "none",
    "index": "0",
    "dept_id": "no-such-department",
    "extension": "no-such-extension",
    "day": "2026-01-02",
    "source": "menu",
    "callback_id": "999",
    "entry_id": "999",
}


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # an included router (FastAPI keeps them nested)
            context = getattr(route, "include_context", None)
            yield from _walk(original.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    yield method, prefix + route.path


def app_routes() -> set[str]:
    """Every method and path the app serves (static files aside)."""
    app = create_app(web_test_settings(database_url="sqlite:///unused.db"))
    return {f"{method} {path}" for method, path in _walk(list(app.routes))}


def test_the_policy_table_names_every_route() -> None:
    routes = app_routes()
    assert routes - POLICY.keys() == set(), "routes missing from the role matrix"
    assert POLICY.keys() - routes == set(), "the role matrix names routes that do not exist"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWeb]:
    with served_web(tmp_path_factory.mktemp("matrix")) as served:
        yield served


def _path(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], template)


@pytest.mark.parametrize("who", ["anonymous", *[r.value for r in Role]])
def test_every_route_allows_exactly_the_roles_the_table_allows(web: ServedWeb, who: str) -> None:
    headers = {} if who == "anonymous" else {"authorization": f"Bearer {web.tokens[Role(who)]}"}
    wrong: list[str] = []
    with httpx.Client(base_url=web.base, headers=headers, timeout=20.0) as http:
        for key, permission in sorted(POLICY.items()):
            method, template = key.split(" ", 1)
            answer = http.request(method, _path(template))
            status = answer.status_code
            if permission is PUBLIC:
                allowed = True
            elif who == "anonymous":
                allowed = False
            else:
                allowed = Role(who) in GRANTS[permission]
            if status >= 500:
                wrong.append(f"{key}: server error {status}")
            elif permission is PUBLIC and method == "POST" and status == 403:
                pass  # a public form posted without its CSRF token: refused, as it must be
            elif allowed and status in (401, 403):
                wrong.append(f"{key}: refused ({status}) but the table allows {who}")
            elif not allowed and who == "anonymous":
                to_login = status == 303 and answer.headers["location"].startswith("/login")
                if status != 401 and not to_login:
                    wrong.append(f"{key}: anonymous got {status}")
            elif not allowed and status != 403:
                wrong.append(f"{key}: {who} got {status}, the table refuses it")
    assert wrong == []
