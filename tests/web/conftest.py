"""Fixtures of the web app tests: a migrated SQLite database and an app on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, migrate, session_factory
from server import create_app
from tests.web_access import web_test_settings


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'web.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def app(sessions: sessionmaker[Session], tmp_path: Path) -> FastAPI:
    app = create_app(
        web_test_settings(
            database_url="sqlite:///unused.db",
            data_dir=tmp_path,
            speech={"synthesizer": "espeak-ng", "prompt_cache_dir": str(tmp_path / "prompts")},
        )
    )
    app.state.session_factory = sessions
    return app


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A client as a browser on the allowed host (cookies kept, redirects not followed)."""
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        yield client
