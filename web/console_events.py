"""The console's live feed: Server-Sent Events from a poll of the database.

Every worker writes its calls' events to the call log and its queue changes to the queue
tables, so a poll of the database sees every call whichever worker carries it (and whichever
machine). Each poll reads the call-log events stored since the last one (``events_after``,
by id) and sends a ``screen-pop`` for each ``officer-ringing`` event of this console's officer,
then the department's line as a ``queue`` event when it changed, then each step of this
officer's "call back now" calls as a ``callback-call`` event (the worker's progress in
``outbound_calls``; each step also notifies the department's channel, so PostgreSQL wakes the
feed at once). The event id is the call-log id, so a reconnecting browser (``Last-Event-ID``)
misses no screen-pop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.calllog.queries import StoredEvent, events_after
from ivr.calllog.tables import CallEventRow
from ivr.outbound.requests import DbOutboundCalls
from ivr.queue.store_db import DbQueueStore
from web.auth import Principal, require
from web.console_callnow import as_json
from web.console_data import ConsoleOfficer, line_view, own_state, resolve_officer
from web.console_pop import RINGING_KIND, load_pop
from web.console_wake import Wake, wake_for
from web.context import sessions_of
from web.roles import Permission, Role

router = APIRouter(include_in_schema=False)
Officer = Annotated[Principal, Depends(require(Permission.CALLS_READ))]

POLL_S = 0.5  # how often the feed reads the database (a ring shows within this plus the writer's)
FOLLOW_UP_S = 0.3  # after a queue NOTIFY: look again once the call log has written the ring
HEARTBEAT_S = 15.0  # a comment line keeps proxies from closing an idle stream
BATCH = 500  # events read per query; a burst is read in several


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One Server-Sent Event (JSON data on one line)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def latest_event_id(session: Session) -> int:
    """The id of the newest stored call event (0 when none)."""
    return int(session.scalar(select(func.max(CallEventRow.id))) or 0)


@router.get("/console/events")
async def console_events(
    request: Request,
    user: Officer,
    officer: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The live feed of this officer's console (see the module docstring)."""
    sessions = sessions_of(request)
    is_admin = user.role is Role.ADMIN

    def resolve() -> tuple[ConsoleOfficer | None, int]:
        with sessions() as session:
            me = resolve_officer(session, user.username, is_admin, officer)
            return me, latest_event_id(session)

    me, latest = await asyncio.to_thread(resolve)
    if me is None:
        return PlainTextResponse("no officer record for this user", status_code=404)
    start = _last_event_id(request, latest)
    feed = Feed(sessions, me, personal=user.can(Permission.PERSONAL_DATA), after=start)
    return StreamingResponse(
        feed.stream(request.is_disconnected),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _last_event_id(request: Request, latest: int) -> int:
    text = request.headers.get("last-event-id", "")
    if text.isdigit() and int(text) <= latest:
        return int(text)
    return latest


class Feed:
    """One open console's poll of the database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        me: ConsoleOfficer,
        *,
        personal: bool,
        after: int,
        poll_s: float = POLL_S,
    ) -> None:
        self._sessions = sessions
        self._poll_s = poll_s
        self._me = me
        self._personal = personal
        self._after = after
        self._queue = DbQueueStore(sessions)
        self._last_line: Any = None
        self._calls = DbOutboundCalls(sessions)
        self._since = time.time()
        self._call_steps: dict[int, str] = {}

    async def stream(self, gone: Callable[[], Any]) -> AsyncIterator[str]:
        """Events until the browser goes away."""
        wake = await wake_for(self._sessions, self._me.department_id)
        try:
            async for chunk in self._polls(gone, wake):
                yield chunk
        finally:
            await wake.close()

    async def _polls(self, gone: Callable[[], Any], wake: Wake) -> AsyncIterator[str]:
        yield sse("hello", {"officer": self._me.extension, "after": self._after})
        quiet_since = time.monotonic()
        pause_s = self._poll_s
        while not await gone():
            sent = False
            for chunk in await asyncio.to_thread(self._new_pops):
                sent = True
                yield chunk
            line = await self._line()
            # Waits grow every second: the line is sent again only when who is where changed.
            key = (line["state"], [(r["place"], r["kind"]) for r in line["line"]],
                   [(o["extension"], o["state"]) for o in line["officers"]])  # fmt: skip
            if key != self._last_line:
                self._last_line = key
                sent = True
                yield sse("queue", line)
            for chunk in await self._call_changes():
                sent = True
                yield chunk
            if sent:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= HEARTBEAT_S:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            notified = await wake.wait(pause_s)
            pause_s = min(FOLLOW_UP_S, self._poll_s) if notified else self._poll_s

    def _new_pops(self) -> list[str]:
        out: list[str] = []
        with self._sessions() as session:
            while True:
                events = events_after(session, after_id=self._after, limit=BATCH)
                for event in events:
                    self._after = event.id
                    if self._mine(event):
                        pop = load_pop(session, event.id, event.call_id, event.payload,
                                       personal=self._personal)  # fmt: skip
                        out.append(sse("screen-pop", pop.as_json(), event.id))
                if len(events) < BATCH:
                    return out

    async def _call_changes(self) -> list[str]:
        """A ``callback-call`` event for each of this officer's calls whose step changed."""
        out: list[str] = []
        now = time.time()
        for call in await self._calls.of_officer(self._me.extension, since=self._since):
            data = as_json(call, now)
            step = str(data["label"]) + call.state  # "requested" turns into "no worker took it"
            if self._call_steps.get(call.id) != step:
                self._call_steps[call.id] = step
                out.append(sse("callback-call", data))
        return out

    def _mine(self, event: StoredEvent) -> bool:
        return event.kind == RINGING_KIND and event.payload.get("officer") == self._me.extension

    async def _line(self) -> dict[str, Any]:
        now = time.time()
        snap = await self._queue.snapshot(self._me.department_id, now=now, history=0)
        rows, officers = line_view(snap, now, self._personal)
        return {
            "state": own_state(snap, self._me.extension, now).value,
            "line": [{**asdict(r), "waited_s": int(r.waited_s)} for r in rows],
            "officers": [{**asdict(o), "since_s": int(o.since_s)} for o in officers],
        }
