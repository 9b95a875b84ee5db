"""Sign-in: passwords, sessions in a strict cookie, CSRF, lockout, expiry, revocation, tokens."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from tests.web_access import TEST_PASSWORD, ensure_user
from web.api_tokens import create_token
from web.roles import Role
from web.secret_key import KEY_FILE_NAME, SecretKeyError, check_key, resolve_key
from web.tables import AuditRow, UserRow
from web.users import UserError, add_user

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, username: str, password: str = TEST_PASSWORD) -> TestClient:
    token = form_token(client)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303, answer.text
    return client


def test_sign_in_sets_a_strict_httponly_cookie_and_the_home_page_greets(
    browser: TestClient, sessions: sessionmaker[Session]
) -> None:
    ensure_user(sessions, "lan", "editor")
    assert browser.get("/").headers["location"] == "/login?next=%2F"
    token = form_token(browser)
    answer = browser.post(
        "/login",
        data={"username": "LAN", "password": TEST_PASSWORD, "csrf_token": token, "next": "/menus"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/menus"
    cookie = answer.headers["set-cookie"]
    assert "tongdai_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Secure" not in cookie
    home = browser.get("/")
    assert home.status_code == 200 and "Xin chào" in home.text and "Biên tập" in home.text
    with unit_of_work(sessions) as session:
        assert session.scalars(select(AuditRow.action)).all() == ["sign_in"]


def test_secure_cookie_setting_marks_the_cookie(app: FastAPI, sessions: sessionmaker) -> None:
    app.state.web.settings.web.secure_cookies = True
    ensure_user(sessions, "lan", "viewer")
    with TestClient(app, base_url="https://127.0.0.1", follow_redirects=False) as client:
        token = form_token(client)
        answer = client.post(
            "/login", data={"username": "lan", "password": TEST_PASSWORD, "csrf_token": token}
        )
        assert "Secure" in answer.headers["set-cookie"]


def test_open_redirect_is_not_followed(browser: TestClient, sessions: sessionmaker) -> None:
    ensure_user(sessions, "lan", "viewer")
    token = form_token(browser)
    answer = browser.post(
        "/login",
        data={
            "username": "lan",
            "password": TEST_PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert answer.headers["location"] == "/"


def test_login_without_csrf_token_is_refused(browser: TestClient, sessions: sessionmaker) -> None:
    ensure_user(sessions, "lan", "viewer")
    answer = browser.post("/login", data={"username": "lan", "password": TEST_PASSWORD})
    assert answer.status_code == 403 and "tongdai_session" not in answer.headers.get(
        "set-cookie", ""
    )


def test_wrong_passwords_lock_the_account_for_a_while(
    app: FastAPI, browser: TestClient, sessions: sessionmaker
) -> None:
    ensure_user(sessions, "lan", "viewer")
    clock = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    app.state.web.now = lambda: clock[0]
    limit = app.state.web.settings.web.login_failures_before_lockout
    token = form_token(browser)
    for _ in range(limit):
        wrong = browser.post(
            "/login", data={"username": "lan", "password": "sai mật khẩu rồi", "csrf_token": token}
        )
        assert wrong.status_code == 401
    locked = browser.post(
        "/login", data={"username": "lan", "password": TEST_PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 401 and "tạm khoá" in locked.text
    clock[0] += timedelta(seconds=app.state.web.settings.web.lockout_s + 1)
    sign_in(browser, "lan")
    assert browser.get("/").status_code == 200


def test_sign_in_attempts_per_address_are_limited(app: FastAPI, browser: TestClient) -> None:
    app.state.web.login_limiter.limit = 3
    token = form_token(browser)
    codes = [
        browser.post(
            "/login", data={"username": "x", "password": "y" * 10, "csrf_token": token}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_sessions_expire_when_idle_and_when_old(
    app: FastAPI, browser: TestClient, sessions: sessionmaker
) -> None:
    ensure_user(sessions, "lan", "viewer")
    web = app.state.web.settings.web
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    clock = [start]
    app.state.web.now = lambda: clock[0]
    sign_in(browser, "lan")
    clock[0] += timedelta(seconds=web.session_idle_s - 5)
    assert browser.get("/").status_code == 200  # activity keeps it alive
    clock[0] += timedelta(seconds=web.session_idle_s - 5)
    assert browser.get("/").status_code == 200
    clock[0] += timedelta(seconds=web.session_idle_s + 1)
    assert browser.get("/").status_code == 303  # idle too long
    sign_in(browser, "lan")
    steps = web.session_max_s // (web.session_idle_s // 2) + 1
    for _ in range(steps):
        clock[0] += timedelta(seconds=web.session_idle_s // 2)
        browser.get("/")
    assert browser.get("/").status_code == 303  # past the maximum age, however active


def test_sign_out_revokes_the_session_server_side(browser: TestClient, sessions) -> None:
    ensure_user(sessions, "lan", "viewer")
    sign_in(browser, "lan")
    stolen = browser.cookies.get("tongdai_session")
    csrf = form_token(browser, "/")
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    browser.cookies.set("tongdai_session", stolen or "")
    assert browser.get("/").status_code == 303


def test_state_change_without_the_sessions_csrf_token_is_refused(
    browser: TestClient, sessions
) -> None:
    ensure_user(sessions, "lan", "editor")
    sign_in(browser, "lan")
    refused = browser.post(
        "/api/menus/drafts", content=b"id: x\n", headers={"content-type": "text/plain"}
    )
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert browser.post("/logout").status_code == 403
    csrf = form_token(browser, "/")
    allowed = browser.post(
        "/api/menus/drafts",
        content=b"id: x\n",
        headers={"content-type": "text/plain", "x-csrf-token": csrf},
    )
    assert allowed.status_code == 201 and allowed.json()["author"] == "lan"


def test_cross_origin_and_wrong_host_are_refused(browser: TestClient, sessions) -> None:
    ensure_user(sessions, "lan", "editor")
    sign_in(browser, "lan")
    csrf = form_token(browser, "/")
    headers = {"content-type": "text/plain", "x-csrf-token": csrf}
    cross = browser.post(
        "/api/menus/drafts",
        content=b"id: x\n",
        headers={**headers, "origin": "http://attacker.example"},
    )
    assert cross.status_code == 403 and "cross-origin" in cross.text
    fetch = browser.post(
        "/api/menus/drafts", content=b"id: x\n", headers={**headers, "sec-fetch-site": "cross-site"}
    )
    assert fetch.status_code == 403
    rebinding = browser.get("/api/menus/drafts", headers={"host": "attacker.example"})
    assert rebinding.status_code == 400
    same = browser.post(
        "/api/menus/drafts", content=b"id: x\n", headers={**headers, "origin": "http://127.0.0.1"}
    )
    assert same.status_code == 201


def test_x_admin_header_names_nobody(app: FastAPI) -> None:
    with TestClient(app) as client:
        answer = client.post("/api/menus/drafts", content=b"id: x\n", headers={"x-admin": "admin"})
        assert answer.status_code == 401
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/docs").status_code == 401


def test_security_headers_on_every_answer(browser: TestClient) -> None:
    page = browser.get("/login")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None  # no inline script
    assert re.search(r"<[^>]+\son[a-z]+=", page.text) is None  # no inline handlers


def test_api_tokens_act_with_their_role_until_revoked_or_outranked(
    app: FastAPI, sessions: sessionmaker
) -> None:
    key = app.state.web.key
    now = datetime.now(UTC)
    ensure_user(sessions, "an", "editor")
    with pytest.raises(UserError, match="above"):
        create_token(sessions, key, username="an", name="x", role=Role.ADMIN, now=now)
    viewer_token = create_token(sessions, key, username="an", name="v", role=Role.VIEWER, now=now)
    editor_token = create_token(sessions, key, username="an", name="e", role=Role.EDITOR, now=now)
    with TestClient(app) as client:
        as_viewer = {"authorization": f"Bearer {viewer_token}"}
        as_editor = {"authorization": f"Bearer {editor_token}"}
        assert client.get("/api/menus/drafts", headers=as_viewer).status_code == 403
        assert client.get("/api/menus/drafts", headers=as_editor).status_code == 200
        assert (
            client.get(
                "/api/menus/drafts", headers={"authorization": "Bearer td_forged"}
            ).status_code
            == 401
        )
        with unit_of_work(sessions) as session:
            user = session.scalar(select(UserRow).where(UserRow.username == "an"))
            assert user is not None
            user.role = "viewer"  # demoted: a token may not outrank its user
        assert client.get("/api/menus/drafts", headers=as_editor).status_code == 401
    with unit_of_work(sessions) as session:
        hashes = session.scalars(select(UserRow.password_hash)).all()
    assert all(h.startswith("$argon2id$") for h in hashes)


def test_usernames_and_passwords_are_checked(sessions: sessionmaker) -> None:
    now = datetime.now(UTC)
    with pytest.raises(UserError, match="shorter"):
        add_user(sessions, username="lan", role="viewer", password="short", now=now)
    with pytest.raises(UserError, match="username"):
        add_user(sessions, username="../x", role="viewer", password=TEST_PASSWORD, now=now)
    with pytest.raises(UserError, match="unknown role"):
        add_user(sessions, username="lan", role="root", password=TEST_PASSWORD, now=now)
    add_user(sessions, username="lan", role="viewer", password=TEST_PASSWORD, now=now)
    with pytest.raises(UserError, match="exists"):
        add_user(sessions, username="Lan", role="viewer", password=TEST_PASSWORD, now=now)


@pytest.mark.parametrize(
    "key",
    [
        "change-me",
        "CHANGE_ME_PLEASE_0123456789abcdef",
        "secret" * 8,
        "a" * 40,
        "short-but-random-9f8e",
    ],
)
def test_placeholder_or_short_secret_keys_are_refused(key: str) -> None:
    with pytest.raises(SecretKeyError):
        check_key(key)


def test_secret_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = resolve_key(None, tmp_path / "var")
    path = tmp_path / "var" / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_key(None, tmp_path / "var") == first and len(first) >= 32
    path.chmod(0o644)
    with pytest.raises(SecretKeyError, match="readable by others"):
        resolve_key(None, tmp_path / "var")
