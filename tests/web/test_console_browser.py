"""The officer console in headless Chromium: signed in through the form, the console open,
a ringing event for this officer stored by the call log, and the screen-pop appears with the
call's context. The screenshot is saved as ``console.png`` (to ``TONGDAI_SCREENSHOTS`` when set,
as the other browser tests do)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from db import create_engine_from_url, session_factory
from ivr.events import CallbackRequested, CallStarted
from ivr.queue.messages import VoiceMessageBox
from ivr.queue.model import EntryKind, OfficerState
from ivr.queue.store_db import DbQueueStore
from tests.web.console_support import (
    DOSSIER,
    DOSSIER_STATUS,
    SAID,
    STORED_CALLER,
    ringing_call,
    write_events,
)
from tests.web.served import ServedWeb, served_web
from tests.web.test_browser import shot
from tests.web_access import TEST_PASSWORD, ensure_user
from web.roles import Role

CHROMIUM = Path("/usr/bin/chromium")
OFFICER_LOGIN = "phuc.le"
OFFICER_EXT = "2201"
DEPARTMENT = "so-tn-mt"
WAIT_MS = 10_000

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWeb]:
    directory = tmp_path_factory.mktemp("console-browser")
    messages = directory / "messages"
    with served_web(directory, TONGDAI_SPEECH__MESSAGES_DIR=str(messages)) as served:
        engine = create_engine_from_url(served.database_url)
        sessions = session_factory(engine)
        ensure_user(sessions, OFFICER_LOGIN, Role.OFFICER)
        asyncio.run(_busy_department(DbQueueStore(sessions), messages))
        engine.dispose()
        yield served


async def _busy_department(store: DbQueueStore, messages: Path) -> None:
    """The officer and a colleague signed in, two callers waiting, one callback kept, one
    voice message left."""
    now = time.time()
    await store.set_state(OFFICER_EXT, DEPARTMENT, OfficerState.AVAILABLE, now=now - 300)
    await store.set_state("2202", DEPARTMENT, OfficerState.ON_BREAK, now=now - 120)
    await store.join(DEPARTMENT, call_id="waiting-1", caller="0903111222",
                     kind=EntryKind.CALL, now=now - 95)  # fmt: skip
    await store.join(DEPARTMENT, call_id="waiting-2", caller="0977333444",
                     kind=EntryKind.CALLBACK, now=now - 60)  # fmt: skip
    voice = (np.sin(np.arange(8000 * 7) * 0.2) * 2000).astype("<i2").tobytes()
    box = VoiceMessageBox(store, messages, clock=lambda: now - 3600)
    await box.leave(DEPARTMENT, call_id="message-1", caller="0988777666", pcm=voice)


def test_the_console_shows_the_screen_pop_of_a_ringing_call(web: ServedWeb) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is needed for the browser tests"
    write_events(
        web.database_url,
        [
            CallStarted(
                call_id="cb-1",
                caller="0933555666",
                callee="1900",
                codec="PCMU",
                remote_media="127.0.0.1:40004",
            ),
            CallbackRequested(
                call_id="cb-1", node_id="callback", department=DEPARTMENT, number="0933555666"
            ),
        ],
    )
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1100}, locale="vi-VN")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "response",
                lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(f"{web.base}/login?next=/console")
            page.fill("#username", OFFICER_LOGIN)
            page.fill("#password", TEST_PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{web.base}/console")
            page.wait_for_selector('#console[data-live="on"]', timeout=WAIT_MS)
            assert page.is_hidden("#screen-pop")
            assert "0903111222" in page.inner_text("#line-rows")  # the line, live
            write_events(web.database_url, ringing_call("call-ring", OFFICER_EXT, DEPARTMENT))
            page.wait_for_selector("#screen-pop:not([hidden])", timeout=WAIT_MS)
            assert page.inner_text("#pop-caller") == STORED_CALLER
            assert page.inner_text("#pop-dossier") == DOSSIER
            assert page.inner_text("#pop-status") == DOSSIER_STATUS
            assert page.inner_text("#pop-waited") == "0:42"
            assert page.inner_text("#pop-path") == "greeting → dossier_status"
            assert SAID in page.inner_text("#pop-said")
            assert page.get_attribute("#screen-pop", "data-call-id") == "call-ring"
            assert page.get_attribute("#pop-link", "href") == "/calls/call-ring"
            assert "0988777666" in page.inner_text("#voice-messages")
            assert "0:07" in page.inner_text("#voice-messages")
            shot(page, "console.png", full_page=True)
            assert errors == []
        finally:
            browser.close()
