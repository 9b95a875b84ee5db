"""Database fixtures: each test runs on SQLite and on PostgreSQL (a fresh schema each)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, migrate, session_factory
from tests.support import POSTGRES_URL, need


def postgres_reachable() -> bool:
    """True when the test PostgreSQL server answers."""
    try:
        engine = create_engine_from_url(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return postgres_reachable()


def _engine(kind: str, directory: Path, pg_available: bool) -> Iterator[Engine]:
    """An engine on an empty database: a SQLite file, or a throw-away PostgreSQL schema."""
    if kind == "sqlite":
        engine = create_engine_from_url(f"sqlite:///{directory / 'tongdai.db'}")
        yield engine
        engine.dispose()
        return
    need(pg_available, f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine_from_url(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine_from_url(POSTGRES_URL, pg_schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def bare_engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[Engine]:
    """An engine on an empty database, once per backend."""
    yield from _engine(request.param, tmp_path, pg_available)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_available: bool
) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated database shared by a module's read-only tests."""
    directory = tmp_path_factory.mktemp("shared")
    for engine in _engine(request.param, directory, pg_available):
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
