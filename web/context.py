"""What the web app's routes share, built once in ``create_app`` and kept on ``app.state.web``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from menus.api import get_sessions
from web.rate_limit import WindowLimiter
from web.secret_key import resolve_key


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class WebContext:
    """Settings, the secret key, the clocks and the per-address limiters of one app."""

    settings: Settings
    key: bytes
    now: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    login_limiter: WindowLimiter = field(init=False)
    assistant_limiter: WindowLimiter = field(init=False)
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        web = self.settings.web
        self.login_limiter = WindowLimiter(
            web.login_attempts_per_minute, window_s=60, clock=self.monotonic
        )
        self.assistant_limiter = WindowLimiter(
            web.assistant_requests_per_minute, window_s=60, clock=self.monotonic
        )


def build_context(settings: Settings) -> WebContext:
    """The context for ``settings``; SecretKeyError when the key is unusable."""
    return WebContext(
        settings=settings, key=resolve_key(settings.web.secret_key, settings.data_dir)
    )


def web_context(request: Request) -> WebContext:
    """The app's context."""
    context: WebContext = request.app.state.web
    return context


def sessions_of(request: Request) -> sessionmaker[Session]:
    """The app's database session factory."""
    return get_sessions(request)


def client_address(request: Request) -> str:
    """The peer's address (a reverse proxy in front must be the one limiting by address)."""
    return request.client.host if request.client else "unknown"
