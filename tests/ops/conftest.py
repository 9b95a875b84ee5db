"""Fixtures of the operations tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import fresh_database


@pytest.fixture
def pg_url(tmp_path: Path, pg_available: bool) -> Iterator[str]:
    """A fresh PostgreSQL schema's URL (dropped afterwards)."""
    database = fresh_database("postgres", tmp_path, pg_available)
    url, _ = next(database)
    yield url
    database.close()
