"""A worker's side of "call back now": wait for requests, claim them, place the calls.

Every worker of every node runs one loop. It waits on ``LISTEN tongdai_outbound`` on
PostgreSQL (a request is claimed within milliseconds; the poll stays as a safety net) or polls
SQLite every :data:`POLL_S`, then claims requests one at a time until none is left; the
conditional ``UPDATE`` of :meth:`DbOutboundCalls.claim` gives each request to exactly one
worker. Each claimed request runs as its own task; closing the loop cancels them, and a
cancelled one is reported as failed (``worker-stopped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from ivr.outbound.callback_call import CallbackCaller
from ivr.outbound.requests import NOTIFY_CHANNEL, DbOutboundCalls

log = logging.getLogger(__name__)

POLL_S = 0.5  # SQLite: how often a worker looks for requests; PostgreSQL: the safety net
LISTEN_POLL_S = 5.0


class RequestWake(Protocol):
    """Waits until a request may be waiting."""

    async def wait(self, timeout_s: float) -> bool: ...

    async def close(self) -> None: ...


class PollWake:
    """No notifications (SQLite): the poll alone."""

    async def wait(self, timeout_s: float) -> bool:
        await asyncio.sleep(timeout_s)
        return False

    async def close(self) -> None:
        return None


class ListenWake:
    """``LISTEN tongdai_outbound`` on a connection of its own."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def wait(self, timeout_s: float) -> bool:
        got = False
        async for _ in self._connection.notifies(timeout=timeout_s, stop_after=1):
            got = True
        if got:  # several requests at once wake the loop once
            async for _ in self._connection.notifies(timeout=0.0):
                pass
        return got

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._connection.close()


async def wake_for(sessions: sessionmaker[Session]) -> tuple[RequestWake, float]:
    """The wake for this database and the poll interval that goes with it."""
    engine = sessions.kw.get("bind")
    if engine is None or engine.dialect.name != "postgresql":
        return PollWake(), POLL_S
    try:
        import psycopg

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
        await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    except Exception as exc:  # the poll still works: only slower
        log.warning("outbound requests polled only, LISTEN failed: %s", type(exc).__name__)
        return PollWake(), POLL_S
    return ListenWake(connection), LISTEN_POLL_S


class ClaimLoop:
    """Claims requests for this worker and runs them with `caller`."""

    def __init__(
        self,
        requests: DbOutboundCalls,
        caller: CallbackCaller,
        sessions: sessionmaker[Session],
        *,
        node_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._requests = requests
        self.caller = caller
        self._sessions = sessions
        self._node_id = node_id
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start waiting for requests (in the worker's loop)."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        wake, poll_s = await wake_for(self._sessions)
        try:
            while True:
                try:
                    await self._claim_all()
                except Exception as exc:  # the database is away: try again at the next poll
                    log.warning("claiming outbound requests failed: %s", type(exc).__name__)
                await wake.wait(poll_s)
        finally:
            await wake.close()

    async def _claim_all(self) -> None:
        while True:
            request = await self._requests.claim(node_id=self._node_id, now=self._clock())
            if request is None:
                return
            log.info("call back now %d claimed (%s callback)", request.id, request.source)
            task = asyncio.get_running_loop().create_task(self.caller.run(request))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def close(self) -> None:
        """Stop claiming; end the calls in progress (reported as failed)."""
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["POLL_S", "ClaimLoop", "ListenWake", "PollWake", "wake_for"]
