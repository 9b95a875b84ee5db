"""Signing tests in: settings with a test secret key, users and API tokens made directly."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from web.api_tokens import create_token
from web.roles import Role
from web.users import add_user, get_user

TEST_SECRET_KEY = secrets.token_urlsafe(40)
TEST_HOSTS = ["127.0.0.1", "localhost", "testserver"]
TEST_PASSWORD = "mật khẩu thử nghiệm 2026"


def web_test_settings(**overrides: Any) -> Settings:
    """Settings whose web section has a real key and accepts the test clients' hosts."""
    web = {"secret_key": TEST_SECRET_KEY, "allowed_hosts": TEST_HOSTS, **overrides.pop("web", {})}
    return load_settings(web=web, **overrides)


def ensure_user(sessions: sessionmaker[Session], username: str, role: Role | str) -> None:
    """Add ``username`` with ``role`` and the test password unless it exists."""
    if get_user(sessions, username) is None:
        add_user(
            sessions, username=username, role=role, password=TEST_PASSWORD, now=datetime.now(UTC)
        )


def token_for(sessions: sessionmaker[Session], key: bytes, username: str, role: Role | str) -> str:
    """A fresh API token of ``role`` for ``username`` (made with that role if new)."""
    ensure_user(sessions, username, role)
    return create_token(
        sessions, key, username=username, name="test", role=Role(role), now=datetime.now(UTC)
    )
