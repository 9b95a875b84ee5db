"""In headless Chromium, against a real uvicorn process, with a running hotline on the same
database: an editor publishes an edited greeting, and right after the publish a sipp call to the
hotline hears it (the call log of that call holds the new greeting as the prompt played, on the
new version); rolled back in the browser, the next call hears the old greeting again."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from db import create_engine_from_url, session_factory, unit_of_work
from ivr.calllog.tables import CallEventRow, CallRow
from ivr.events import PromptPlayed
from menus.followed_tree import CHECK_S as FOLLOW_CHECK_S
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import RunningHotline, start_hotline
from tests.support import need
from tests.web.served import ServedWeb, served_web
from tests.web.test_browser import CHROMIUM, LOCALE, VIEWPORT, shot, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
NEW_GREETING = "Kính chào quý vị, lời chào này vừa được xuất bản trên trang quản trị."
CALL_TIMEOUT_S = 40.0
CALL_LOG_WAIT_S = 15.0
T = TypeVar("T")


class LoopThread:
    """An event loop of its own thread: the hotline runs there while the browser drives the
    web app from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = CALL_TIMEOUT_S) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Site:
    """The web app and the hotline on one database."""

    web: ServedWeb
    hotline: RunningHotline
    loop: LoopThread
    directory: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    need(shutil.which("chromium") or os.path.exists(CHROMIUM), "Debian chromium not installed")
    need(shutil.which("sipp"), "sipp not installed")
    directory = tmp_path_factory.mktemp("publish-call")
    env = {
        "TONGDAI_SPEECH__SYNTHESIZER": "espeak-ng",
        "TONGDAI_SPEECH__PROMPT_CACHE_DIR": str(directory / "web-prompts"),
    }
    with served_web(directory, **env) as web:
        loop = LoopThread()
        try:
            hotline = loop.run(start_hotline(web.database_url, directory / "prompts"))
            try:
                yield Site(web, hotline, loop, directory)
            finally:
                loop.run(hotline.stop())
        finally:
            loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def call_and_hear_greeting(site: Site, name: str, version: int) -> str:
    """Call the hotline with sipp, listen for a few seconds, hang up; the greeting text the
    call log holds for that call (found by its tree version)."""
    time.sleep(2 * FOLLOW_CHECK_S)  # the node sees a publish within its check (decision 0060)
    scenario = dtmf_scenario(site.directory / f"{name}.xml", [], hangup_after_ms=5000)
    result = site.loop.run(run_sipp(scenario, site.hotline.port, timeout_s=CALL_TIMEOUT_S - 5))
    assert result.returncode == 0, result.stdout[-1500:]
    engine = create_engine_from_url(site.web.database_url)
    try:
        sessions = session_factory(engine)
        deadline = time.monotonic() + CALL_LOG_WAIT_S
        while time.monotonic() < deadline:
            with unit_of_work(sessions) as session:
                call_ids = session.scalars(
                    select(CallRow.call_id).where(CallRow.tree_version == version)
                ).all()
                texts = [
                    str(row.payload.get("text", ""))
                    for row in session.scalars(
                        select(CallEventRow)
                        .where(CallEventRow.call_id.in_(call_ids))
                        .where(CallEventRow.kind == "prompt-played")
                        .order_by(CallEventRow.seq)
                    )
                    if row.payload.get("node_id") == "greeting"
                ]
            if texts:
                assert len(call_ids) == 1, call_ids
                return texts[0]
            time.sleep(0.3)
    finally:
        engine.dispose()
    raise AssertionError(f"no greeting in the call log for a call on version {version}")


def test_a_call_right_after_publishing_hears_the_new_greeting(site: Site, browser: object) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, site.web.base, "editor")
    before = call_and_hear_greeting(site, "before", version=1)
    assert NEW_GREETING not in before

    page.goto(f"{site.web.base}/menus")
    page.click("text=Sửa (tạo bản nháp từ phiên bản 1)")
    page.wait_for_selector("#graph svg")
    page.fill("#prompt", NEW_GREETING)
    page.click("#save-node")
    page.wait_for_selector("#no-problems")
    page.fill("#publish-note", "lời chào mới, nghe thử qua tổng đài")
    page.click("#publish")
    page.wait_for_selector("h1:has-text('Phiên bản 2')")
    assert call_and_hear_greeting(site, "after-publish", version=2) == NEW_GREETING
    spoken = [e for e in site.hotline.sink.of(PromptPlayed) if e.node_id == "greeting"]  # type: ignore[attr-defined]
    assert spoken[-1].text == NEW_GREETING  # type: ignore[attr-defined]

    page.goto(f"{site.web.base}/menus/versions/1")
    page.fill("#rollback-note", "trở lại lời chào cũ")
    page.click("text=Dùng lại phiên bản 1")
    page.wait_for_selector("h1:has-text('Phiên bản 3')")
    shot(page, "menu-rollback.png")
    assert call_and_hear_greeting(site, "after-rollback", version=3) == before
    assert errors == []
    context.close()
