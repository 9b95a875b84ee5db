"""The web app in a real uvicorn process on a SQLite file with the sample data, the default
tree published and one API token per role."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from config.settings import MenuSettings
from db import create_engine_from_url, session_factory
from menus.store import MenuStore, known_ids_from_tables, publish_default
from tests.e2e.harness import free_port
from tests.e2e.hotline_fixture import prepare_database
from tests.support import ROOT
from tests.web_access import TEST_SECRET_KEY, ensure_user, token_for
from web.roles import Role

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServedWeb:
    """A running web app: its address, database URL and a token per role."""

    base: str
    database_url: str
    tokens: dict[Role, str]
    data_dir: Path


def prepare_web_database(directory: Path) -> str:
    """Sample dossiers and catalogue, the default tree as version 1, a user per role."""
    url = prepare_database(directory / "web.db")
    engine = create_engine_from_url(url)
    sessions = session_factory(engine)
    publish_default(
        MenuStore(sessions), MenuSettings().default_tree, known=known_ids_from_tables(sessions)
    )
    for role in Role:
        ensure_user(sessions, role.value, role)
    engine.dispose()
    return url


@contextmanager
def served_web(directory: Path, **env_extra: str) -> Iterator[ServedWeb]:
    """Start uvicorn on a free port; stop it afterwards."""
    url = prepare_web_database(directory)
    engine = create_engine_from_url(url)
    key = TEST_SECRET_KEY.encode()
    tokens = {role: token_for(session_factory(engine), key, role.value, role) for role in Role}
    engine.dispose()
    port = free_port()
    data_dir = directory / "var"
    env = {
        **os.environ,
        "TONGDAI_DATABASE_URL": url,
        "TONGDAI_WEB__SECRET_KEY": TEST_SECRET_KEY,
        "TONGDAI_DATA_DIR": str(data_dir),
        **env_extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"uvicorn did not start: {output}")
            time.sleep(0.2)
        yield ServedWeb(base, url, tokens, data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
