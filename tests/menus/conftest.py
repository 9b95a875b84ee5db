"""Database fixtures for the menus tests: SQLite file and a throw-away PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from db import create_engine_from_url, migrate, session_factory
from menus.validate import KnownIds
from tests.support import POSTGRES_URL, need

SAMPLE_KNOWN = KnownIds(
    departments=frozenset({"so-cong-thuong", "so-tn-mt", "ubnd-xa", "tong-dai"}),
    procedures=frozenset(),
)


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
def pg_available() -> bool:
    return _postgres_reachable()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[Engine]:
    """An engine on an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_engine_from_url(f"sqlite:///{tmp_path / 'menus.db'}")
        yield engine
        engine.dispose()
        return
    need(pg_available, f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"m_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture
def db(bare_engine: Engine) -> Engine:
    migrate(bare_engine)
    return bare_engine


@pytest.fixture
def sessions(db: Engine) -> sessionmaker[Session]:
    return session_factory(db)


@pytest.fixture(scope="session")
def hotline_yaml() -> str:
    return MenuSettings().default_tree.read_text(encoding="utf-8")
