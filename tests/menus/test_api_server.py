"""The menus API served by a real uvicorn process on a real SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from db import create_engine_from_url, migrate, session_factory
from tests.menus.test_api import seed_departments
from tests.support import ROOT
from tests.web_access import TEST_SECRET_KEY, token_for

SERVER_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    engine = create_engine_from_url(url)
    migrate(engine)
    seed_departments(session_factory(engine))
    token = token_for(session_factory(engine), TEST_SECRET_KEY.encode(), "an", "editor")
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "TONGDAI_DATABASE_URL": url, "TONGDAI_WEB__SECRET_KEY": TEST_SECRET_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"uvicorn did not start: {output}")
            time.sleep(0.2)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_publish_through_a_real_server(server: tuple[str, str], hotline_yaml: str) -> None:
    base, token = server
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=10.0, headers=auth) as http:
        draft = http.post(
            "/api/menus/drafts",
            content=hotline_yaml.encode(),
            headers={"content-type": "application/yaml"},
        )
        assert draft.status_code == 201, draft.text
        draft_id = draft.json()["id"]
        assert http.post(f"/api/menus/drafts/{draft_id}/validate").json()["ok"] is True
        published = http.post(f"/api/menus/drafts/{draft_id}/publish", json={"note": "mở"})
        assert published.status_code == 201 and published.json()["number"] == 1
        active = http.get("/api/menus/active").json()
        assert active["version"] == 1
        assert "ghi âm" in active["tree"]["nodes"]["greeting"]["prompt"]
        bomb = http.post("/api/menus/drafts", content=b"a: &a [1]\nb: *a\n")
        assert bomb.status_code == 422
        assert http.get("/api/menus/schema").json()["title"] == "tongdai menu tree"
