"""How the console's feed waits between two polls of the database.

On PostgreSQL every change of a department's line runs ``pg_notify('tongdai_queue', …)`` in
its transaction (``ivr/queue/store_db.py``): a feed that LISTENs wakes at once, so the line and
the officer's own state change on screen without waiting for the poll, and a ring (which the
queue reserves just before the call log stores its event) is looked for again shortly after.
Each step of a "call back now" (``ivr/outbound/requests.py``) notifies the same channel, so the
officer sees it at once. SQLite has no notifications: the feed sleeps the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from ivr.queue.store_db import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class Wake(Protocol):
    """Waits until the next poll is due."""

    async def wait(self, timeout_s: float) -> bool:
        """Return after `timeout_s`, or earlier when notified (then True)."""
        ...

    async def close(self) -> None:
        """Release what the waiting holds."""
        ...


class Sleep:
    """The poll alone (SQLite, or PostgreSQL when LISTEN could not be set up)."""

    async def wait(self, timeout_s: float) -> bool:
        await asyncio.sleep(timeout_s)
        return False

    async def close(self) -> None:
        return None


class QueueListen:
    """LISTEN on the queue's channel over a connection of its own; only changes of
    `department` (the notification's payload) wake the feed."""

    def __init__(self, connection: Any, department: str) -> None:
        self._connection = connection
        self._department = department

    async def wait(self, timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (left := deadline - loop.time()) > 0:
            got = None
            async for notify in self._connection.notifies(timeout=left, stop_after=1):
                got = notify
            if got is None:
                return False
            if got.payload == self._department:
                await self._drain()
                return True
        return False

    async def _drain(self) -> None:
        """Several changes at once wake the feed once."""
        async for _ in self._connection.notifies(timeout=0.0):
            pass

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._connection.close()


async def wake_for(sessions: sessionmaker[Session], department: str) -> Wake:
    """A :class:`QueueListen` for `department` on PostgreSQL, else (or when LISTEN fails) a
    :class:`Sleep`."""
    engine = sessions.kw.get("bind")
    if engine is None or engine.dialect.name != "postgresql":
        return Sleep()
    try:
        import psycopg

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    except Exception as exc:  # the poll still works: a missing wake-up only adds latency
        log.warning("console feed polls only, LISTEN failed: %s", type(exc).__name__)
        return Sleep()
    return QueueListen(connection, department)
