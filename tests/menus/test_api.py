"""The admin API: draft -> validate (problems shown) -> publish -> versions, diff, rollback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, unit_of_work
from integrations.catalogue_tables import DepartmentRow
from menus.api import Admin, current_admin
from menus.schema import load_tree, menu_schema
from menus.validate import KnownIds
from server import create_app
from tests.menus.conftest import SAMPLE_KNOWN
from tests.web_access import token_for, web_test_settings


def seed_departments(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as session:
        for i, dept in enumerate(sorted(SAMPLE_KNOWN.departments)):
            session.add(
                DepartmentRow(
                    id=dept, name=dept, short_name="", phone="", position=i,
                    transfer_uri="", hours={},
                )
            )  # fmt: skip


@pytest.fixture
def bare_engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite only here: the store tests already cover PostgreSQL."""
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'api.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def app(sessions: sessionmaker[Session]) -> FastAPI:
    seed_departments(sessions)
    app = create_app(web_test_settings(database_url="sqlite:///unused.db"))
    app.state.session_factory = sessions
    return app


def signed_in(app: FastAPI, username: str = "chi.nguyen") -> TestClient:
    """A client acting for ``username`` (an editor) with an API token."""
    token = token_for(app.state.session_factory, app.state.web.key, username, "editor")
    return TestClient(app, headers={"authorization": f"Bearer {token}"})


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with signed_in(app) as c:
        yield c


YAML = {"content-type": "application/yaml", "x-admin": "chi.nguyen"}


def test_draft_validate_publish_flow(client: TestClient, hotline_yaml: str) -> None:
    broken = hotline_yaml.replace("department: ubnd-xa", "department: ubnd-phuong")
    created = client.post("/api/menus/drafts", content=broken.encode(), headers=YAML)
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["tree_id"], draft["format"], draft["author"]) == ("hotline", "yaml", "chi.nguyen")

    checked = client.post(f"/api/menus/drafts/{draft['id']}/validate").json()
    assert checked["ok"] is False
    assert checked["problems"] == [
        {
            "node_id": "procedures_commune",
            "field": "department",
            "code": "unknown-department",
            "message": "unknown department 'ubnd-phuong'",
        }
    ]
    refused = client.post(f"/api/menus/drafts/{draft['id']}/publish", json={"note": "x"})
    assert refused.status_code == 422 and refused.json()["problems"] == checked["problems"]
    assert client.get("/api/menus/versions").json() == []
    assert client.get("/api/menus/active").status_code == 404

    fixed = client.put(f"/api/menus/drafts/{draft['id']}", content=hotline_yaml, headers=YAML)
    assert fixed.status_code == 200
    assert client.post(f"/api/menus/drafts/{draft['id']}/validate").json() == {
        "ok": True,
        "problems": [],
    }
    published = client.post(
        f"/api/menus/drafts/{draft['id']}/publish",
        json={"note": "bản đầu tiên"},
        headers={"x-admin": "chi.nguyen"},
    )
    assert published.status_code == 201, published.text
    v1 = published.json()
    assert (v1["number"], v1["note"], v1["author"], v1["active"]) == (
        1,
        "bản đầu tiên",
        "chi.nguyen",
        True,
    )
    active = client.get("/api/menus/active").json()
    assert active["version"] == 1 and active["tree"]["start"] == "greeting"


def test_versions_export_diff_rollback(client: TestClient, hotline_yaml: str) -> None:
    first = client.post("/api/menus/drafts", content=hotline_yaml, headers=YAML).json()
    client.post(f"/api/menus/drafts/{first['id']}/publish", json={"note": "v1"})

    # edit v1 as JSON: export, change the greeting, import as a draft, publish
    exported = client.get("/api/menus/versions/1/export", params={"format": "json"})
    assert exported.headers["content-type"].startswith("application/json")
    data = exported.json()
    data["nodes"]["greeting"]["prompt"] = "Xin kính chào quý vị."
    second = client.post(
        "/api/menus/drafts",
        content=json.dumps(data, ensure_ascii=False),
        headers={"content-type": "application/json"},
    )
    assert second.status_code == 201 and second.json()["format"] == "json"
    preview = client.get(f"/api/menus/drafts/{second.json()['id']}/diff").json()
    assert preview["old"] == 1 and preview["new"] == 0
    assert preview["nodes"] == [{"node_id": "greeting", "change": "changed", "fields": ["prompt"]}]
    v2 = client.post(f"/api/menus/drafts/{second.json()['id']}/publish", json={"note": "v2"})
    assert v2.json()["number"] == 2

    diff = client.get("/api/menus/versions/1/diff/2").json()
    assert diff == {
        "old": 1,
        "new": 2,
        "tree_fields": [],
        "nodes": [{"node_id": "greeting", "change": "changed", "fields": ["prompt"]}],
    }
    as_yaml = client.get("/api/menus/versions/2/export")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert "Xin kính chào quý vị." in as_yaml.text
    assert load_tree(as_yaml.content) == load_tree(json.dumps({**data, "version": 2}), fmt="json")

    rolled = client.post("/api/menus/versions/1/rollback", json={"note": "lỗi chính tả"})
    assert rolled.status_code == 201
    assert (rolled.json()["number"], rolled.json()["rollback_of"]) == (3, 1)
    assert client.get("/api/menus/active").json()["version"] == 3
    listed = client.get("/api/menus/versions", params={"tree_id": "hotline"}).json()
    assert [(v["number"], v["active"]) for v in listed] == [(3, True), (2, False), (1, False)]
    assert client.get("/api/menus/versions/2").json()["note"] == "v2"

    editable = client.post("/api/menus/versions/2/draft")
    assert editable.status_code == 201 and "Xin kính chào quý vị." in editable.json()["source"]
    drafts = client.get("/api/menus/drafts").json()
    assert len(drafts) == 3 and all(d["source"] is None for d in drafts)
    assert client.delete(f"/api/menus/drafts/{first['id']}").status_code == 204
    assert client.get(f"/api/menus/drafts/{first['id']}").status_code == 404


def test_hostile_and_missing(client: TestClient) -> None:
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    refused = client.post("/api/menus/drafts", content=bomb, headers=YAML)
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["code"] == "load-error" and "anchors" in problem["message"]
    assert problem["field"] == "line 1"
    python_tag = client.post("/api/menus/validate", content="id: !!python/name:os.system\n")
    assert python_tag.json()["ok"] is False
    deep = client.post("/api/menus/validate?format=json", content="[" * 10_000)
    assert deep.status_code == 200 and "nesting" in deep.json()["problems"][0]["message"]
    latin1 = client.post("/api/menus/drafts", content=b"title: T\xf4ng \xf0\xe0i\n")
    assert latin1.status_code == 422
    huge = client.post("/api/menus/drafts", content=b"#" * 1_000_001, headers=YAML)
    assert huge.status_code == 413
    assert client.get("/api/menus/versions/99").status_code == 404
    assert client.get("/api/menus/versions/1/diff/2").status_code == 404
    assert client.post("/api/menus/versions/5/rollback", json={}).status_code == 404
    assert client.post("/api/menus/drafts/5/publish", json={}).status_code == 404
    assert client.post("/api/menus/drafts/5/validate").status_code == 404
    assert client.get("/api/menus/drafts/5/diff").status_code == 404
    not_a_tree = client.post("/api/menus/drafts", content="id: x\n", headers=YAML).json()
    unbuildable = client.get(f"/api/menus/drafts/{not_a_tree['id']}/diff")
    assert unbuildable.status_code == 422 and unbuildable.json()["problems"]


def test_validate_upload_and_schema(client: TestClient, hotline_yaml: str) -> None:
    ok = client.post("/api/menus/validate", content=hotline_yaml, headers=YAML)
    assert ok.json() == {"ok": True, "problems": []}
    assert client.get("/api/menus/drafts").json() == []  # nothing stored
    missing = client.post("/api/menus/validate", json={"id": "x", "title": "X"})
    assert {p["code"] for p in missing.json()["problems"]} == {"schema"}
    assert client.get("/api/menus/schema").json() == menu_schema()


def test_current_admin_is_one_replaceable_dependency(app: FastAPI, hotline_yaml: str) -> None:
    app.dependency_overrides[current_admin] = lambda: Admin("sso:lan.tran")
    with signed_in(app) as client:
        draft = client.post("/api/menus/drafts", content=hotline_yaml, headers=YAML).json()
        assert draft["author"] == "sso:lan.tran"
        version = client.post(f"/api/menus/drafts/{draft['id']}/publish", json={}).json()
        assert version["author"] == "sso:lan.tran"


def test_known_ids_provider_on_app_state(app: FastAPI, hotline_yaml: str) -> None:
    app.state.menu_known_ids = lambda: KnownIds(departments=frozenset({"tong-dai"}))
    with signed_in(app) as client:
        result = client.post("/api/menus/validate", content=hotline_yaml, headers=YAML).json()
    codes = {(p["node_id"], p["code"]) for p in result["problems"]}
    assert ("procedures_industry", "unknown-department") in codes
    assert all(code == "unknown-department" for _node, code in codes)
