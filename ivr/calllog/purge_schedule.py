"""Retention on a schedule: old call records and old check failures are deleted while the
hotline runs, not only when an admin remembers ``tongdai calls purge``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from integrations.verification import DbCheckFailures

log = logging.getLogger(__name__)


def purge_once(
    sessions: sessionmaker[Session],
    *,
    retention_days: int,
    lockout_window_s: float,
    now: datetime,
    messages_dir: Path | None = None,
    recordings_dir: Path | None = None,
) -> tuple[int, int]:
    """Delete calls older than the retention (and the voice messages left with them, entries
    and audio, when `messages_dir` is given; the recordings of their bridged conversations
    when `recordings_dir` is) and check failures older than the lockout window; how many
    calls and failures went."""
    from ivr.bridge.recording import purge_recordings
    from ivr.calllog.retention import purge_expired
    from ivr.queue.messages import purge_messages

    calls = purge_expired(sessions, retention_days=retention_days, now=now)
    if messages_dir is not None:
        cutoff = (now - timedelta(days=retention_days)).timestamp()
        messages = purge_messages(sessions, messages_dir, before=cutoff)
        if messages:
            log.info("retention: %d voice messages deleted", messages)
    if recordings_dir is not None:
        cutoff = (now - timedelta(days=retention_days)).timestamp()
        recordings = purge_recordings(recordings_dir, before=cutoff)
        if recordings:
            log.info("retention: %d call recordings deleted", recordings)
    failures = DbCheckFailures(sessions).purge_before(now - timedelta(seconds=lockout_window_s))
    return calls, failures


async def purge_periodically(
    purge: Callable[[], tuple[int, int]], *, interval_s: float, first_after_s: float = 60.0
) -> None:
    """Run ``purge`` (in a thread) shortly after start and then every ``interval_s``; a failure
    is logged and retried at the next interval."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            calls, failures = await asyncio.to_thread(purge)
            if calls or failures:
                log.info("retention: %d calls and %d check failures deleted", calls, failures)
        except Exception:
            log.exception("retention purge failed (retried in %.0f s)", interval_s)
        await asyncio.sleep(interval_s)
