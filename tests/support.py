"""Helpers shared by the tests: locating test material and external resources."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

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
