"""`tongdai calls purge` and `tongdai db procedures` run as real processes on a SQLite file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from db import create_engine_from_url, migrate, session_factory
from integrations.catalogue_tables import ProcedureRow
from ivr.calllog.tables import CallEventRow, CallRow
from ivr.queue.messages import VoiceMessageBox, message_path
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import QueueEntryRow
from tests.support import ROOT

COMMAND_TIMEOUT_S = 120
# Each command is a fresh interpreter importing every package: seconds each.
pytestmark = pytest.mark.slow


def _tongdai(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def test_calls_purge(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    engine = create_engine_from_url(url)
    migrate(engine)
    now = datetime.now(UTC)
    with session_factory(engine)() as session, session.begin():
        for call_id, age_days in [("old", 40), ("new", 5)]:
            at = now - timedelta(days=age_days)
            session.add(CallRow(call_id=call_id, started_at=at))
            session.flush()
            session.add(
                CallEventRow(call_id=call_id, seq=1, at=at, kind="call-started", payload={})
            )
    messages = tmp_path / "messages"
    left = []
    for call_id, age_days in [("old", 40), ("new", 5)]:
        at = (now - timedelta(days=age_days)).timestamp()
        box = VoiceMessageBox(
            DbQueueStore(session_factory(engine)), messages, clock=lambda at=at: at
        )
        pcm = b"\x00\x10" * 8000
        left.append(asyncio.run(box.leave("tong-dai", call_id=call_id, caller="0", pcm=pcm)))
    recordings = tmp_path / "call-recordings"
    recordings.mkdir()
    kept, gone = recordings / f"bridge-{'k' * 26}.wav", recordings / f"bridge-{'g' * 26}.wav"
    for path, age_days in [(gone, 40), (kept, 5)]:
        path.write_bytes(b"RIFF")
        at = (now - timedelta(days=age_days)).timestamp()
        os.utime(path, (at, at))
    env = {
        "TONGDAI_SPEECH__MESSAGES_DIR": str(messages),
        "TONGDAI_QUEUES__RECORDINGS_DIR": str(recordings),
    }
    result = _tongdai("calls", "purge", "--url", url, "--days", "30", env=env)
    assert result.returncode == 0, result.stderr
    assert (
        "removed 1 calls, 1 voice messages and 1 call recordings older than 30 days"
        in result.stdout
    )
    assert [p.name for p in recordings.iterdir()] == [kept.name]
    with session_factory(engine)() as session:
        assert list(session.scalars(select(CallRow.call_id))) == ["new"]
        assert list(session.scalars(select(CallEventRow.call_id))) == ["new"]
        assert list(session.scalars(select(QueueEntryRow.call_id))) == ["new"]
    assert [message_path(messages, m.entry_id).exists() for m in left] == [False, True]
    refused = _tongdai("calls", "purge", "--url", url, "--days", "0")
    assert refused.returncode == 2 and "at least 1 day" in refused.stdout
    engine.dispose()


def test_db_procedures_import_reports_bad_lines(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cat.db'}"
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text(
        "code,name,fee_vnd\nP.1,Đăng ký khai sinh,0\nP.2,Chứng thực,abc\n", encoding="utf-8"
    )
    result = _tongdai("db", "procedures", "--url", url, str(catalogue))
    assert result.returncode == 1, result.stderr
    assert "inserted 1, updated 0, unchanged 0" in result.stdout
    assert "line 3 (P.2): fee_vnd" in result.stdout
    engine = create_engine_from_url(url)
    with session_factory(engine)() as session:
        assert list(session.scalars(select(ProcedureRow.code))) == ["P.1"]
    engine.dispose()
    missing = _tongdai("db", "procedures", "--url", url, str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "import failed" in missing.stdout
