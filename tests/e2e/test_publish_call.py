"""Acceptance (issue 3): through the admin API of a real web server process, a broken draft is
refused with its problems; a good one is published, and the next sipp call hears the new prompt
on the new version."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ivr.events import NodeEntered, PromptPlayed
from tests.e2e.harness import dtmf_scenario, free_port, run_sipp
from tests.e2e.hotline_fixture import prepare_database, start_hotline
from tests.support import ROOT
from tests.web_access import TEST_SECRET_KEY, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

NEW_GREETING = "Xin chào quý vị, đây là phiên bản mới của tổng đài dịch vụ công."


async def _web(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TONGDAI_DATABASE_URL": database_url,
           "TONGDAI_WEB__SECRET_KEY": TEST_SECRET_KEY}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(150):
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("the web app did not start")


async def test_draft_validate_publish_then_a_call_hears_it(tmp_path: Path) -> None:
    url = prepare_database(tmp_path / "publish.db")
    source = (ROOT / "config" / "menus" / "hotline.yaml").read_text(encoding="utf-8")
    old_greeting = source[source.index("  greeting:") : source.index("  main:")]
    good = source.replace(
        old_greeting,
        f"  greeting:\n    kind: say\n    prompt: {NEW_GREETING}\n    next: main\n\n",
    )
    broken = good.replace("next: main\n\n", "next: no_such_node\n\n", 1)
    from db import create_engine_from_url, session_factory

    engine = create_engine_from_url(url)
    token = token_for(session_factory(engine), TEST_SECRET_KEY.encode(), "e2e", "editor")
    engine.dispose()
    web, base = await _web(url)
    try:
        auth = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=auth) as api:
            # a broken draft: saved as a draft, its problems listed, publish refused
            r = await api.post("/api/menus/drafts", content=broken.encode(),
                               headers={"Content-Type": "application/yaml"})  # fmt: skip
            assert r.status_code == 201, r.text
            bad_id = r.json()["id"]
            r = await api.post(f"/api/menus/drafts/{bad_id}/validate")
            problems = r.json()["problems"]
            assert not r.json()["ok"]
            assert any(p["node_id"] == "greeting" and "no_such_node" in p["message"]
                       for p in problems), problems  # fmt: skip
            r = await api.post(f"/api/menus/drafts/{bad_id}/publish", json={"note": "x"})
            assert r.status_code == 422
            # a good one: published as version 1
            r = await api.post("/api/menus/drafts", content=good.encode(),
                               headers={"Content-Type": "application/yaml"})  # fmt: skip
            good_id = r.json()["id"]
            r = await api.post(
                f"/api/menus/drafts/{good_id}/publish", json={"note": "new greeting"}
            )
            assert r.status_code == 201, r.text
            version = r.json()["number"]
            assert (await api.get("/api/menus/active")).json()["version"] == version
    finally:
        web.terminate()
        web.wait(10)

    running = await start_hotline(url, tmp_path / "prompts")
    try:
        scenario = dtmf_scenario(tmp_path / "listen.xml", [], hangup_after_ms=6000)
        result = await run_sipp(scenario, running.port, timeout_s=30)
        assert result.returncode == 0, result.stdout[-1500:]
        greeting = [e for e in running.sink.of(PromptPlayed) if e.node_id == "greeting"]  # type: ignore[attr-defined]
        assert [e.text for e in greeting][:1] == [NEW_GREETING]  # type: ignore[attr-defined]
        entered = running.sink.of(NodeEntered)
        assert entered and entered[0].tree_version == version  # type: ignore[attr-defined]
    finally:
        await running.stop()
