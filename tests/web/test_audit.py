"""The audit log: API changes and user changes recorded with who, what, before and after."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from tests.menus.test_api import seed_departments
from tests.web.test_signin import form_token, sign_in
from tests.web_access import token_for
from web.audit import entries


def test_menu_changes_and_user_changes_are_audited_and_shown(
    app: FastAPI, sessions: sessionmaker[Session]
) -> None:
    seed_departments(sessions)
    source = MenuSettings().default_tree.read_text(encoding="utf-8")
    token = token_for(sessions, app.state.web.key, "chi", "editor")
    with TestClient(app, headers={"authorization": f"Bearer {token}"}) as api:
        draft = api.post(
            "/api/menus/drafts", content=source, headers={"content-type": "application/yaml"}
        ).json()
        assert api.post(f"/api/menus/drafts/{draft['id']}/validate").json()["ok"]
        published = api.post(f"/api/menus/drafts/{draft['id']}/publish", json={"note": "mở"})
        assert published.status_code == 201
        refused = api.post("/api/menus/versions/99/rollback", json={})
        assert refused.status_code == 404
    rows, _total = entries(sessions)
    assert [(e.actor, e.action) for e in rows] == [
        ("chi", "publish_draft"),
        ("chi", "create_draft"),
    ]  # validation is not a change; a refused rollback changed nothing
    assert rows[0].before == {"active_versions": []}
    assert rows[0].after is not None and rows[0].after["number"] == 1
    assert rows[0].after["author"] == "chi"

    token_for(sessions, app.state.web.key, "root", "admin")
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as admin:
        sign_in(admin, "root")
        csrf = form_token(admin, "/users")
        changed = admin.post("/users/chi", data={"role": "viewer", "csrf_token": csrf})
        assert changed.status_code == 303
        page = admin.get("/audit")
        assert page.status_code == 200 and "publish_draft" in page.text
        assert "user_change" in page.text
        csv = admin.get("/audit.csv")
        assert csv.headers["content-type"].startswith("text/csv")
        assert "publish_draft" in csv.text
    change = entries(sessions)[0][0]
    assert change.action == "user_change" and change.actor == "root"
    assert change.before is not None and change.before["role"] == "editor"
    assert change.after is not None and change.after["role"] == "viewer"
