"""Database fixtures: each test runs on SQLite and on PostgreSQL (a fresh schema each)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db import migrate, session_factory
from tests.support import fresh_engine

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def bare_engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[Engine]:
    """An engine on an empty database, once per backend."""
    yield from fresh_engine(request.param, tmp_path, pg_available)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_available: bool
) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database shared by a module's read-only tests."""
    directory = tmp_path_factory.mktemp("shared")
    for engine in fresh_engine(request.param, directory, pg_available):
        migrate(engine)
        yield session_factory(engine)


@pytest.fixture
def db(bare_engine: Engine) -> Engine:
    """An engine on a database migrated to head."""
    migrate(bare_engine)
    return bare_engine


@pytest.fixture
def sessions(db: Engine) -> sessionmaker[Session]:
    return session_factory(db)
