""" "Call back now" in headless Chromium: with a trunk configured the callback has its button,
a click asks for the call, and the steps a worker writes to the request row appear live in
the console (through the feed) until the outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from db import create_engine_from_url, session_factory
from ivr.events import CallbackRequested, CallStarted
from ivr.outbound.requests import DbOutboundCalls
from tests.web.console_support import write_events
from tests.web.served import served_web
from tests.web_access import TEST_PASSWORD, ensure_user
from web.roles import Role

CHROMIUM = Path("/usr/bin/chromium")
OFFICER_LOGIN = "phuc.le"  # officer 2201 of so-tn-mt
DEPARTMENT = "so-tn-mt"
WAIT_MS = 10_000

playwright_api = pytest.importorskip("playwright.sync_api")
T = TypeVar("T")


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Await `work` in a thread of its own (Playwright's sync API holds this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def test_the_console_follows_a_call_back_now_step_by_step(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is needed for the browser tests"
    with served_web(tmp_path, TONGDAI_SIP__TRUNK__URI="sip:127.0.0.1:5999") as web:
        engine = create_engine_from_url(web.database_url)
        calls = DbOutboundCalls(session_factory(engine))
        ensure_user(session_factory(engine), OFFICER_LOGIN, Role.OFFICER)
        write_events(web.database_url, [
            CallStarted(call_id="cb-now", caller="0933555666", callee="1900", codec="PCMU",
                        remote_media="127.0.0.1:40004"),
            CallbackRequested(call_id="cb-now", node_id="callback", department=DEPARTMENT,
                              number="0933555666"),
        ])  # fmt: skip
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_page(locale="vi-VN")
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(f"{web.base}/login?next=/console")
                page.fill("#username", OFFICER_LOGIN)
                page.fill("#password", TEST_PASSWORD)
                page.click("button[type=submit]")
                page.goto(f"{web.base}/console")
                assert page.query_selector("#callnow-off") is None
                page.click("form.callnow button")  # "Gọi lại ngay"
                page.wait_for_selector('#console[data-live="on"]', timeout=WAIT_MS)
                assert "calling=" in page.url
                [request] = _run(calls.of_officer("2201", since=0))
                assert request.state == "requested" and request.requested_by == OFFICER_LOGIN
                # what a worker writes as the call goes on, shown live
                for state, shown in (
                    ("ringing-officer", "Đang đổ chuông máy của bạn"),
                    ("calling-citizen", "Đang gọi người dân"),
                    ("connected", "Đã kết nối với người dân"),
                ):
                    _run(calls.report(request.id, state, now=time.time()))
                    page.wait_for_selector(
                        f'#callnow-status[data-state="{state}"]', timeout=WAIT_MS
                    )
                    assert page.inner_text("#callnow-status") == shown
                _run(
                    calls.report(request.id, "done", now=time.time(), outcome="reached", status=200)
                )
                page.wait_for_selector('#callnow-status[data-state="done"]', timeout=WAIT_MS)
                assert page.inner_text("#callnow-status") == "Đã liên lạc được"
                assert errors == []
            finally:
                browser.close()
        engine.dispose()
