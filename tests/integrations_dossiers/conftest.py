"""Database fixtures: every test here runs on SQLite and on PostgreSQL (a fresh schema each)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, migrate, session_factory
from tests.support import POSTGRES_URL, need


def _postgres_reachable() -> bool:
    try:
        engine = create_engine_from_url(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    return _postgres_reachable()


def _fresh_engine(kind: str, tmp_path: Path, postgres_available: bool) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = create_engine_from_url(f"sqlite:///{tmp_path / 'tongdai.db'}")
        yield engine
        engine.dispose()
        return
    need(postgres_available, f"PostgreSQL not reachable at {POSTGRES_URL}")
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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[Engine]:
    """An engine on an empty database (no tables)."""
    yield from _fresh_engine(request.param, tmp_path, postgres_available)


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """An engine on a database migrated to head."""
    migrate(empty_engine)
    return empty_engine


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
