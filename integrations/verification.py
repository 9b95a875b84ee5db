"""Limits on the personal-details check, so the last digits of a phone cannot be guessed.

A four-digit check has 10,000 answers: with unlimited tries (re-entering the code resets a
per-lookup counter; hanging up and calling again resets a per-call one) it falls in minutes.
So failed attempts are counted three ways:

* per dossier within one call (:class:`~integrations.privacy.DisclosurePolicy.max_attempts`);
* per call across every dossier (``max_failures_per_call``): re-entering a code does not reset;
* per dossier across calls within ``lockout_window_s`` (``max_failures_per_dossier``), in the
  database (:class:`DbCheckFailures`), so every worker and every node sees the same count.

Lookups per call are capped too (``max_lookups_per_call``), so one call cannot walk the dossier
codes (a date and a four-digit sequence) to find which exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.verification_tables import CheckFailureRow


@dataclass(frozen=True)
class CheckLimits:
    """How many wrong answers and lookups are allowed, and for how long a dossier stays locked."""

    max_failures_per_call: int = 3  # wrong answers in one call, whatever the dossier
    max_failures_per_dossier: int = 5  # wrong answers for one dossier, across calls
    lockout_window_s: float = 24 * 3600.0  # failures older than this no longer count
    max_lookups_per_call: int = 6  # dossier lookups in one call


class CheckFailures(Protocol):
    """Failed check attempts per dossier, shared by every call."""

    async def count_since(self, dossier_code: str, since: datetime) -> int:
        """Failures recorded for ``dossier_code`` at or after ``since``."""
        ...

    async def record(self, dossier_code: str, call_id: str, at: datetime) -> None:
        """Record one failure."""
        ...


class MemoryCheckFailures:
    """In-process failure list (tests, and a worker without a database)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, datetime]] = []

    async def count_since(self, dossier_code: str, since: datetime) -> int:
        return sum(1 for code, _, at in self.rows if code == dossier_code and at >= since)

    async def record(self, dossier_code: str, call_id: str, at: datetime) -> None:
        self.rows.append((dossier_code, call_id, at))


class DbCheckFailures:
    """Failures in the ``check_failures`` table; queries run off the event loop."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def count_since(self, dossier_code: str, since: datetime) -> int:
        return await asyncio.to_thread(self._count, dossier_code, since)

    async def record(self, dossier_code: str, call_id: str, at: datetime) -> None:
        await asyncio.to_thread(self._record, dossier_code, call_id, at)

    def _count(self, dossier_code: str, since: datetime) -> int:
        query = select(func.count(CheckFailureRow.id)).where(
            CheckFailureRow.dossier_code == dossier_code, CheckFailureRow.at >= since
        )
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def _record(self, dossier_code: str, call_id: str, at: datetime) -> None:
        with self._sessions.begin() as session:
            session.add(CheckFailureRow(dossier_code=dossier_code, call_id=call_id, at=at))

    def purge_before(self, cutoff: datetime) -> int:
        """Delete failures older than ``cutoff`` (they no longer lock anything)."""
        with self._sessions.begin() as session:
            result = session.execute(delete(CheckFailureRow).where(CheckFailureRow.at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)


async def dossier_locked(
    failures: CheckFailures, limits: CheckLimits, dossier_code: str, now: datetime
) -> bool:
    """Whether ``dossier_code`` had too many failures within the lockout window."""
    since = now - timedelta(seconds=limits.lockout_window_s)
    return await failures.count_since(dossier_code, since) >= limits.max_failures_per_dossier
