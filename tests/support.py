"""Helpers shared by the tests: locating test material and external resources."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("TONGDAI_REQUIRE_ALL") == "1" or os.environ.get("CI") == "true"


def need(condition: object, reason: str) -> None:
    """Skip the test with a clear reason when a resource is missing; fail instead under CI."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required resource missing: {reason}")
    pytest.skip(reason)


def testdata_dir() -> Path:
    """The shared test material (TONGDAI_TESTDATA, default ../shared/testdata)."""
    path = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata"))
    need(path.is_dir(), f"test material not found at {path} (set TONGDAI_TESTDATA)")
    return path


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


POSTGRES_URL = os.environ.get(
    "TONGDAI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_reachable() -> bool:
    """True when the test PostgreSQL server answers."""
    from sqlalchemy import text

    from db import create_engine_from_url

    try:
        engine = create_engine_from_url(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def fresh_database(kind: str, directory: Path, pg_available: bool) -> Iterator[tuple[str, Engine]]:
    """An empty database and its URL, which another process can open too: a SQLite file in
    ``directory``, or a throw-away PostgreSQL schema named in the URL's connection options
    (dropped afterwards). ``kind`` is "sqlite" or "postgres"."""
    import uuid

    from sqlalchemy import text

    from db import create_engine_from_url

    if kind == "sqlite":
        url = f"sqlite:///{directory / 'tongdai.db'}"
        engine = create_engine_from_url(url)
        yield url, engine
        engine.dispose()
        return
    need(pg_available, f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine_from_url(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    engine = create_engine_from_url(url)
    try:
        yield url, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fresh_engine(kind: str, directory: Path, pg_available: bool) -> Iterator[Engine]:
    """An engine on an empty database (see :func:`fresh_database`)."""
    database = fresh_database(kind, directory, pg_available)
    try:
        _, engine = next(database)
        yield engine
    finally:
        database.close()
