"""``tongdai db init`` and ``tongdai db import`` on SQLite and PostgreSQL, and once as a process."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db import session_factory, unit_of_work
from integrations import commands
from integrations.dossiers_db import DatabaseDossierSource, count_dossiers
from integrations.sample_dossiers import DEMO_CODES
from tests.support import ROOT


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tongdai")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def url_of(engine: Engine) -> str:
    """A URL that reaches the same database (and PostgreSQL schema) as ``engine``."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "postgresql" and "options" not in engine.url.query:
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("select current_schema()").scalar()
        url += f"?options=-csearch_path%3D{schema}"
    return url


def test_init_with_sample_is_repeatable(
    empty_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    url = url_of(empty_engine)
    assert run(["db", "init", "--sample", "--sample-count", "200", "--url", url]) == 0
    out = capsys.readouterr().out
    assert "sample dossiers loaded: 200" in out
    assert all(code in out for code in DEMO_CODES)
    factory = session_factory(empty_engine)
    with unit_of_work(factory) as s:
        assert count_dossiers(s) == 200 + len(DEMO_CODES)

    assert run(["db", "init", "--sample", "--url", url]) == 0
    assert "already present" in capsys.readouterr().out
    with unit_of_work(factory) as s:
        assert count_dossiers(s) == 200 + len(DEMO_CODES)
    source = DatabaseDossierSource(factory)
    assert all(source.get_sync(code) is not None for code in DEMO_CODES)


def test_import_prints_the_per_line_report(
    empty_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "few.csv"
    path.write_text(
        "code,status,received_on,phone\n"
        "000.00.14.H56-200203-0118,4,2020-02-03,0912345678\n"
        "000.00.14.H56-200203-0119,12,2020-02-03,0912345678\n",
        encoding="utf-8",
    )
    url = url_of(empty_engine)
    assert run(["db", "import", str(path), "--url", url]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("2 rows, 1 inserted, 0 updated, 1 rejected")
    assert out[1] == "rejected line 3: status: '12' is not a known code (1-10) " + (
        "[000.00.14.H56-200203-0119]"
    )
    assert run(["db", "import", str(tmp_path / "none.csv"), "--url", url]) == 2
    assert "import failed: cannot read" in capsys.readouterr().out


def test_console_command_runs_as_a_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run' / 'tongdai.db'}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "db",
            "init",
            "--sample",
            "--sample-count",
            "30",
            "--url",
            url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "sample dossiers loaded: 30" in done.stdout
    assert (tmp_path / "run" / "tongdai.db").is_file()


def test_bad_urls_and_unreachable_databases_are_one_line_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["db", "init", "--url", "mysql://u@h/db"]) == 3
    assert "unsupported database backend" in capsys.readouterr().out
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
        port = s.getsockname()[1]
        assert run(["db", "init", "--url", f"postgresql://postgres@127.0.0.1:{port}/x"]) == 3
    assert capsys.readouterr().out.startswith("database error: OperationalError")
