"""In headless Chromium (Debian's), against a real uvicorn process: sign in, edit the greeting,
see a problem at its node, publish, the assistant greets with the new words, roll back; the
assistant walks to a dossier status by keypad and by typed text. Screenshots of the editor, the
dashboard and the assistant are saved (to ``TONGDAI_SCREENSHOTS`` when set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db import create_engine_from_url, session_factory
from tests.support import need
from tests.web.served import ServedWeb, served_web
from tests.web.test_call_pages import write_calls
from tests.web_access import TEST_PASSWORD

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
NEW_GREETING = "Kính chào quý vị, đây là lời chào đã sửa trên trang quản trị."
VIEWPORT = {"width": 1366, "height": 768}
LOCALE = "vi-VN"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWeb]:
    need(shutil.which("chromium") or os.path.exists(CHROMIUM), "Debian chromium not installed")
    directory = tmp_path_factory.mktemp("browser")
    env = {
        "TONGDAI_SPEECH__SYNTHESIZER": "espeak-ng",
        "TONGDAI_SPEECH__PROMPT_CACHE_DIR": str(directory / "prompts"),
    }
    with served_web(directory, **env) as served:
        engine = create_engine_from_url(served.database_url)
        now = datetime.now(UTC)
        for day in range(7):
            write_calls(
                session_factory(engine),
                now - timedelta(days=day, minutes=day * 7),
                prefix=f"d{day}-",
                count=4 + (day * 5) % 9,
            )
        engine.dispose()
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def shot(page: object, name: str, *, full_page: bool = False) -> None:
    """Save the page as ``name`` in ``TONGDAI_SCREENSHOTS`` when that is set (the README's
    pictures: ``TONGDAI_SCREENSHOTS=docs/screenshots``); nothing otherwise."""
    folder = os.environ.get("TONGDAI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=full_page)  # type: ignore[attr-defined]


def sign_in(page: object, base: str, username: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("#username", username)  # type: ignore[attr-defined]
    page.fill("#password", TEST_PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Xin chào")  # type: ignore[attr-defined]


def assistant_greeting(browser: object, base: str) -> str:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/assistant")
    page.click("#start")
    text = page.inner_text(".msg.bot >> nth=0")
    context.close()
    return str(text)


def test_edit_greeting_problem_publish_rollback(web: ServedWeb, browser: object) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, web.base, "editor")
    page.goto(f"{web.base}/menus")
    page.click("text=Sửa (tạo bản nháp từ phiên bản 1)")
    page.wait_for_selector("#graph svg")
    assert page.is_visible("#n_greeting")  # the node drawn by dot
    page.fill("#prompt", NEW_GREETING)
    page.click("#save-node")
    page.wait_for_selector("#no-problems")
    node = page.input_value("#node_json").replace('"next": "main"', '"next": "khong_co_nut"')
    page.fill("#node_json", node)
    page.click("#save-node")
    problem = page.wait_for_selector('.field-problem[data-field="next"]')
    assert "khong_co_nut" in problem.inner_text()
    assert "#fdecea" in page.get_attribute("#n_greeting polygon, #n_greeting path", "fill")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "editor.png")
    page.fill("#node_json", node.replace("khong_co_nut", "main"))
    page.click("#save-node")
    page.wait_for_selector("#no-problems")
    page.fill("#publish-note", "lời chào mới")
    page.click("#publish")
    page.wait_for_selector("#diff")
    assert "greeting" in page.inner_text("#diff") and "Phiên bản 2" in page.inner_text("h1")
    assert NEW_GREETING in assistant_greeting(browser, web.base)

    page.goto(f"{web.base}/menus/versions/1")
    page.fill("#rollback-note", "trở lại")
    page.click("text=Dùng lại phiên bản 1")
    page.wait_for_selector("h1:has-text('Phiên bản 3')")
    assert "ghi âm" in assistant_greeting(browser, web.base)
    assert errors == []  # no CSP violation or script error
    context.close()


def test_assistant_by_keypad_and_by_typed_text(web: ServedWeb, browser: object) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{web.base}/assistant")
    page.click("#start")
    page.click("button[aria-label='Phím 1']")
    page.wait_for_selector(".msg.bot:has-text('mười chữ số cuối')")
    for key in "2503039004#":
        page.click(f"button[aria-label='Phím {key}']")
    page.click("button[aria-label='Phím 1']")
    page.click("button[aria-label='Phím #']")
    page.wait_for_selector(".msg.bot:has-text('đang được xử lý')")

    page.goto(f"{web.base}/assistant")
    page.click("#start")
    page.fill("#text", "tra cứu hồ sơ")
    page.click("#send")
    page.wait_for_selector(".msg.bot:has-text('mười chữ số cuối')")
    page.fill("#text", "hai năm không ba không ba chín không không chín")
    page.click("#send")
    page.fill("#text", "đúng")
    page.click("#send")
    page.fill("#text", "năm sáu bảy tám")
    page.click("#send")
    page.wait_for_selector(".msg.bot:has-text('đã được xử lý xong')")
    shot(page, "assistant.png")
    context.close()


def test_dashboard_screenshot(web: ServedWeb, browser: object) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, web.base, "viewer")
    page.goto(f"{web.base}/dashboard")
    assert page.locator("svg.bar-chart").count() == 2
    shot(page, "dashboard.png")
    context.close()


def test_move_a_node_in_the_editor(web: ServedWeb, browser: object) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale=LOCALE)  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, web.base, "editor")
    page.goto(f"{web.base}/menus")
    page.click("button:has-text('Sửa (tạo bản nháp') >> nth=0")
    page.wait_for_selector("#graph svg")
    page.select_option("#node-pick", "online")
    page.click("button:has-text('Mở')")
    page.wait_for_selector("#move-form:has-text('main')")
    page.select_option("#move-parent", "procedures")
    page.select_option("#move-key", "7")
    page.focus("#move-node")
    page.keyboard.press("Enter")  # the move made from the keyboard
    page.wait_for_selector("#move-form:has-text('Đang ở: procedures')")
    edge = page.locator("#graph g.edge", has_text="procedures->online")
    assert "phím 7" in (edge.text_content() or "")
    assert page.locator("#graph g.edge", has_text="main->online").count() == 0
    page.wait_for_selector("#no-problems")  # key 7 is free in procedures: nothing to fix
    assert errors == []
    context.close()
