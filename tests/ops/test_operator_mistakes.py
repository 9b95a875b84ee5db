"""Operator mistakes at start-up get one clear line on stderr and a non-zero exit status, never
a traceback; a node whose database is unreachable says so, reports not-ready and waits."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ops.serve_process import ServeProcess, db_init, serve_env
from tests.ops.tcp_relay import TcpRelay, url_through
from tests.support import POSTGRES_URL, ROOT

pytestmark = pytest.mark.e2e


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "serve", "--no-web", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'node.db'}"


def test_bad_settings_are_one_line_each(tmp_path: Path) -> None:
    env = serve_env(tmp_path, _sqlite(tmp_path), TONGDAI_SIP__MAX_CALLS="lots",
                    TONGDAI_NODE__LOG_FORMAT="yaml")  # fmt: skip
    result = _serve(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("tongdai: error: setting sip.max_calls (TONGDAI_SIP__MAX_CALLS)")
    assert "'lots'" in lines[0] and "integer" in lines[0]
    assert "TONGDAI_NODE__LOG_FORMAT" in lines[1] and "'yaml'" in lines[1]
    assert "Traceback" not in result.stderr + result.stdout


def test_sip_port_in_use_is_one_line(tmp_path: Path) -> None:
    url = _sqlite(tmp_path)
    env = serve_env(tmp_path, url)
    db_init(env)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        result = _serve(env, "--sip-host", "127.0.0.1", "--sip-port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tongdai: error: SIP port (udp) 127.0.0.1:{port} is already in use by another process:"
        " stop the other process or set TONGDAI_SIP__PORT (or --sip-port)"
    ]


def test_metrics_port_in_use_is_one_line(tmp_path: Path) -> None:
    env = serve_env(tmp_path, _sqlite(tmp_path))
    db_init(env)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _serve(env, "--sip-host", "127.0.0.1", "--sip-port", "0",
                        "--metrics-port", str(port))  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"metrics and health port 127.0.0.1:{port} is already in use" in result.stderr


def test_uninitialised_database_is_one_line(tmp_path: Path) -> None:
    env = serve_env(tmp_path, _sqlite(tmp_path))
    result = _serve(env, "--sip-host", "127.0.0.1", "--sip-port", "0")
    assert result.returncode == 2
    assert "has no tongdai tables: run `tongdai db init` first" in result.stderr


def test_older_tables_are_one_line(tmp_path: Path) -> None:
    from db import migrate

    url = _sqlite(tmp_path)
    migrate(url, "0008_call_report_indexes")  # before the node heartbeats
    env = serve_env(tmp_path, url)
    result = _serve(env, "--sip-host", "127.0.0.1", "--sip-port", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "tables of an older tongdai (revision 0008_call_report_indexes): run `tongdai db "
        "init` to upgrade them" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_unreachable_database_gives_up_after_its_wait(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    url = f"postgresql://tongdai:secret@127.0.0.1:{dead}/hotline"
    env = serve_env(tmp_path, url, TONGDAI_NODE__DATABASE_RETRY_S="0.5",
                    TONGDAI_NODE__DATABASE_WAIT_MAX_S="1.2")  # fmt: skip
    started = time.monotonic()
    result = _serve(env, "--sip-host", "127.0.0.1", "--sip-port", "0")
    assert result.returncode == 3
    assert time.monotonic() - started < 30
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(
        f"tongdai: database postgresql+psycopg://tongdai:***@127.0.0.1:{dead}"
    )
    assert "unreachable" in lines[0] and "not ready, no calls taken" in lines[0]
    assert lines[-1].startswith("tongdai: error:") and "giving up" in lines[-1]
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
    assert "answering calls" not in result.stdout


@pytest.mark.postgres
def test_node_waits_for_its_database_not_ready_then_answers(tmp_path: Path, pg_url: str) -> None:
    db_init(serve_env(tmp_path, pg_url))
    from sqlalchemy.engine import make_url

    real = make_url(POSTGRES_URL)
    host, port = real.host or "127.0.0.1", real.port or 5432
    relay = TcpRelay((host, port))
    via_relay = url_through(pg_url, relay, host, port)
    env = serve_env(tmp_path, via_relay, TONGDAI_NODE__DATABASE_RETRY_S="0.5",
                    TONGDAI_NODE__DATABASE_CHECK_S="0.5")  # fmt: skip
    node = ServeProcess.start(tmp_path, env, "--app", "digits")
    try:
        node.wait_for("unreachable", 30)
        status, report = node.ready()
        assert status == 503
        assert report["status"] == "not ready" and report["database"] != "ok"
        assert report["sip"] == "not checked yet"
        assert node.get("/healthz")[0] == 200  # alive, only not ready
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # SIP not opened
            probe.bind(("127.0.0.1", node.sip_port))
        relay.open()
        node.wait_for("answering calls", 60)
        assert node.output().count("reachable") >= 2
        status, report = node.ready()
        assert (status, report) == (200, {"status": "ready", "database": "ok", "sip": "ok"})
        relay.cut()  # the database goes away again: readiness shows it
        deadline = time.monotonic() + 15
        while node.ready()[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        status, report = node.ready()
        assert status == 503 and report["database"] != "ok", report
    finally:
        relay.close()
        assert node.stop() == 0
    assert "Traceback" not in node.output()
