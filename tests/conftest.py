"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import postgres_reachable, testdata_dir


@pytest.fixture(scope="session")
def testdata() -> Path:
    return testdata_dir()


@pytest.fixture(scope="session")
def speech_dir(testdata: Path) -> Path:
    return testdata / "speech"


@pytest.fixture(scope="session")
def sip_dir(testdata: Path) -> Path:
    return testdata / "sip"


@pytest.fixture(scope="session")
def pg_available() -> bool:
    """Whether the test PostgreSQL server answers (checked once per run)."""
    return postgres_reachable()
