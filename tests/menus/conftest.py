"""Database fixtures for the menus tests: SQLite file and a throw-away PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from db import migrate, session_factory
from menus.validate import KnownIds
from tests.support import fresh_engine

SAMPLE_KNOWN = KnownIds(
    departments=frozenset({"so-cong-thuong", "so-tn-mt", "ubnd-xa", "tong-dai"}),
    procedures=frozenset(),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bare_engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[Engine]:
    """An engine on an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    yield from fresh_engine(request.param, tmp_path, pg_available)


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
