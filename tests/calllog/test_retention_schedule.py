"""Retention runs on a schedule while the hotline runs; data files are owner-only."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from config.private_files import restrict_data_files
from config.settings import Settings
from db import create_engine_from_url, migrate, session_factory
from integrations.verification_tables import CheckFailureRow
from ivr.calllog.purge_schedule import purge_once, purge_periodically
from ivr.calllog.tables import CallRow
from ivr.queue.messages import VoiceMessageBox, message_path
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import QueueEntryRow
from speech.settings import SpeechSettings


async def test_old_calls_and_check_failures_are_purged_on_a_schedule(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'calls.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for call_id, age in [("old", timedelta(days=40)), ("new", timedelta(days=5))]:
            session.add(CallRow(call_id=call_id, started_at=now - age))
        for code, age in [("A", timedelta(days=2)), ("B", timedelta(hours=1))]:
            session.add(CheckFailureRow(dossier_code=code, call_id="x", at=now - age))

    def purge() -> tuple[int, int]:
        return purge_once(sessions, retention_days=30, lockout_window_s=86400, now=now)

    task = asyncio.create_task(purge_periodically(purge, interval_s=0.05, first_after_s=0.0))
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            with sessions() as session:
                calls = session.scalar(select(func.count(CallRow.call_id)))
                failures = session.scalar(select(func.count(CheckFailureRow.id)))
                if (calls, failures) == (1, 1):
                    break
    finally:
        task.cancel()
    with sessions() as session:
        assert session.scalars(select(CallRow.call_id)).all() == ["new"]
        assert session.scalars(select(CheckFailureRow.dossier_code)).all() == ["B"]
    engine.dispose()


def test_data_files_are_made_owner_only(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "prompts" / "ab").mkdir(parents=True)
    wav = var / "prompts" / "ab" / "x.wav"
    wav.write_bytes(b"RIFF")
    database = var / "tongdai.db"
    database.write_bytes(b"")
    for path in (var, var / "prompts", var / "prompts" / "ab"):
        path.chmod(0o755)
    wav.chmod(0o644)
    database.chmod(0o644)
    settings = Settings(
        data_dir=var,
        database_url=f"sqlite:///{database}",
        speech=SpeechSettings(prompt_cache_dir=var / "prompts"),
    )
    old = os.umask(0o022)
    try:
        restrict_data_files(settings)
        created = var / "later.log"
        created.write_text("x")
        (var / "later").mkdir()
    finally:
        os.umask(old)
    for path in [var, *var.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_voice_messages_go_with_the_calls_retention(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'calls.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    messages = tmp_path / "messages"
    now = datetime.now(UTC)
    box_clock = iter([(now - timedelta(days=days)).timestamp() for days in (40, 5)])
    box = VoiceMessageBox(DbQueueStore(sessions), messages, clock=lambda: next(box_clock))
    pcm = (np.sin(np.arange(8000) / 3) * 3000).astype("<i2").tobytes()
    old = asyncio.run(box.leave("tong-dai", call_id="old", caller="0911000001", pcm=pcm))
    new = asyncio.run(box.leave("tong-dai", call_id="new", caller="0911000002", pcm=pcm))
    stray = messages / "message-999.wav"  # a file whose entry is gone, as old as the retention
    stray.write_bytes(b"RIFF")
    os.utime(stray, ((now - timedelta(days=31)).timestamp(),) * 2)
    calls, _ = purge_once(
        sessions, retention_days=30, lockout_window_s=86400, now=now, messages_dir=messages
    )
    assert calls == 0
    with sessions() as session:
        assert session.scalars(select(QueueEntryRow.call_id)).all() == ["new"]
    assert not message_path(messages, old.entry_id).exists() and not stray.exists()
    assert message_path(messages, new.entry_id).exists()
    engine.dispose()
