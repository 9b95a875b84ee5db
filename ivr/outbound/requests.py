"""Outbound call requests in the database: how the console reaches a worker.

The web app is another process (often another machine) than the workers that own the SIP and
RTP sockets, so "call back now" is a row of ``outbound_calls``: the console inserts it
(``requested``), every worker looks for new rows (woken by ``NOTIFY tongdai_outbound`` on
PostgreSQL, by a poll on SQLite) and exactly one claims it with a conditional ``UPDATE …
WHERE state = 'requested'`` (PostgreSQL re-checks the condition after a concurrent update, and
SQLite writes one at a time, so the second claimer changes no row). The worker then writes its
progress (``ringing-officer``, ``calling-citizen``, ``connected``, then ``done`` or
``failed``) and each change notifies the department's channel, which wakes the console's feed.

One call in flight per callback: a partial unique index over the open states makes a second
click fail, whichever web process takes it. A request left open by a worker that died stops
counting as in flight after ``stale_after_s``; one nobody claimed within
:data:`CLAIM_WITHIN_S` is never claimed any more (it shows as "no worker took it").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db import in_thread
from ivr.calllog.callback_outcomes import (
    CallbackOutcome,
    append_event,
    finish_callback,
    record_outcome,
)
from ivr.calllog.tables import CallbackRow
from ivr.events import CallEvent
from ivr.outbound.tables import OPEN_STATES, OutboundCallRow
from ivr.queue.model import EntryKind, EntryState, OfficerState
from ivr.queue.store_db import NOTIFY_CHANNEL as QUEUE_CHANNEL
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import PresenceRow, QueueEntryRow

NOTIFY_CHANNEL = "tongdai_outbound"
CLAIM_WITHIN_S = 15.0  # a request no worker claimed by then is left alone
FINAL_STATES = ("done", "failed")
T = TypeVar("T")


class AlreadyCalling(Exception):
    """A call for this callback is already in flight."""


@dataclass(frozen=True)
class OutboundRequest:
    """One row of ``outbound_calls``."""

    id: int
    source: str
    ref: int
    call_id: str
    department_id: str
    officer: str
    requested_by: str
    state: str
    outcome: str
    status: int
    detail: str
    requested_at: float
    updated_at: float
    finished_at: float | None
    corrected_by: str

    @property
    def open(self) -> bool:
        """Still in flight (not done or failed)."""
        return self.state in OPEN_STATES


def _request(row: OutboundCallRow) -> OutboundRequest:
    return OutboundRequest(
        row.id, row.source, row.ref, row.call_id, row.department_id, row.officer,
        row.requested_by, row.state, row.outcome, row.status, row.detail, row.requested_at,
        row.updated_at, row.finished_at, row.corrected_by,
    )  # fmt: skip


class DbOutboundCalls:
    """The requests table, for the console (request, read) and the workers (claim, report)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    async def _run(self, work: Callable[[Session], T]) -> T:
        return await in_thread(self._factory, work)

    async def request(
        self,
        *,
        source: str,
        ref: int,
        call_id: str,
        department_id: str,
        officer: str,
        requested_by: str,
        now: float,
        stale_after_s: float,
    ) -> OutboundRequest:
        """Insert a request; :class:`AlreadyCalling` when one is in flight for the callback."""

        def work(session: Session) -> OutboundRequest:
            _expire(session, source, ref, now, stale_after_s)
            row = OutboundCallRow(
                source=source, ref=ref, call_id=call_id[:255], department_id=department_id,
                officer=officer, requested_by=requested_by[:64], state="requested", outcome="",
                status=0, detail="", node_id="", requested_at=now, updated_at=now,
                corrected_by="",
            )  # fmt: skip
            session.add(row)
            session.flush()
            _notify(session, NOTIFY_CHANNEL, "")
            _notify(session, QUEUE_CHANNEL, department_id)
            return _request(row)

        try:
            return await self._run(work)
        except IntegrityError as exc:
            raise AlreadyCalling(f"{source} callback {ref}") from exc

    async def claim(self, *, node_id: str, now: float) -> OutboundRequest | None:
        """The oldest unclaimed request, now this worker's; None when there is none."""

        def work(session: Session) -> OutboundRequest | None:
            candidates = session.scalars(
                select(OutboundCallRow.id)
                .where(
                    OutboundCallRow.state == "requested",
                    OutboundCallRow.requested_at > now - CLAIM_WITHIN_S,
                )
                .order_by(OutboundCallRow.id)
                .limit(5)
            ).all()
            for request_id in candidates:
                claimed = session.execute(
                    update(OutboundCallRow)
                    .where(OutboundCallRow.id == request_id, OutboundCallRow.state == "requested")
                    .values(state="ringing-officer", node_id=node_id[:128], updated_at=now)
                )
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    row = session.get(OutboundCallRow, request_id)
                    assert row is not None
                    session.refresh(row)
                    _notify(session, QUEUE_CHANNEL, row.department_id)
                    return _request(row)
            return None

        return await self._run(work)

    async def report(
        self,
        request_id: int,
        state: str,
        *,
        now: float,
        outcome: str = "",
        status: int = 0,
        detail: str = "",
    ) -> None:
        """The claiming worker's progress; ``done`` and ``failed`` finish the request."""

        def work(session: Session) -> None:
            row = session.get(OutboundCallRow, request_id)
            if row is None:
                return
            row.state, row.updated_at = state, now
            row.outcome = outcome or row.outcome
            row.status = status or row.status
            row.detail = detail[:64] or row.detail
            if state in FINAL_STATES:
                row.finished_at = now
            _notify(session, QUEUE_CHANNEL, row.department_id)

        await self._run(work)

    async def get(self, request_id: int) -> OutboundRequest | None:
        """One request by id."""

        def work(session: Session) -> OutboundRequest | None:
            row = session.get(OutboundCallRow, request_id)
            return None if row is None else _request(row)

        return await self._run(work)

    async def of_officer(self, officer: str, *, since: float) -> list[OutboundRequest]:
        """This officer's requests still open, and those requested or finished since `since`,
        oldest first."""

        def work(session: Session) -> list[OutboundRequest]:
            rows = session.scalars(
                select(OutboundCallRow)
                .where(
                    OutboundCallRow.officer == officer,
                    or_(
                        OutboundCallRow.state.in_(OPEN_STATES),
                        OutboundCallRow.requested_at >= since,
                        OutboundCallRow.finished_at >= since,
                    ),
                )
                .order_by(OutboundCallRow.id)
                .limit(50)
            )
            return [_request(row) for row in rows]

        return await self._run(work)

    async def last_done(self, source: str, ref: int) -> OutboundRequest | None:
        """The latest call of this callback that recorded an outcome, if any."""

        def work(session: Session) -> OutboundRequest | None:
            row = session.scalars(
                select(OutboundCallRow)
                .where(
                    OutboundCallRow.source == source,
                    OutboundCallRow.ref == ref,
                    OutboundCallRow.state == "done",
                    OutboundCallRow.outcome != "",
                )
                .order_by(OutboundCallRow.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _request(row)

        return await self._run(work)

    async def correct(
        self, request_id: int, outcome: CallbackOutcome, *, by: str, at: datetime
    ) -> bool:
        """The officer corrects the outcome a call recorded (the form, after the call): the
        request keeps the new outcome and the call's timeline a second ``callback-done``."""

        def work(session: Session) -> bool:
            row = session.get(OutboundCallRow, request_id)
            if row is None or row.state != "done" or not row.outcome:
                return False
            row.outcome, row.corrected_by = outcome.value, by[:64]
            record_outcome(session, row.call_id, source=row.source, ref=row.ref, by=by, at=at,
                           outcome=outcome)  # fmt: skip
            return True

        return await self._run(work)

    async def note(self, event: CallEvent) -> bool:
        """Append `event` to its call's timeline (False when the call is not logged)."""
        return await self._run(lambda session: append_event(session, event))

    async def hold_officer(self, request: OutboundRequest, *, now: float) -> bool:
        """The officer answered a call back: an available officer is marked on a call, so the
        queue does not ring them meanwhile (True when it did)."""

        def work(session: Session) -> bool:
            free = or_(
                PresenceRow.state == OfficerState.AVAILABLE.value,
                (PresenceRow.state == OfficerState.WRAP_UP.value) & (PresenceRow.wrap_until <= now),
            )
            held = session.execute(  # conditional: the queue may be reserving them right now
                update(PresenceRow)
                .where(PresenceRow.extension == request.officer, free)
                .values(state=OfficerState.ON_CALL.value, since=now, entry_id=None)
            )
            if held.rowcount != 1:  # type: ignore[attr-defined]
                return False
            _notify(session, QUEUE_CHANNEL, request.department_id)
            return True

        return await self._run(work)

    async def release_officer(
        self, request: OutboundRequest, *, now: float, wrap_up_s: float
    ) -> None:
        """The call back ended: the officer :meth:`hold_officer` marked wraps up, as after a
        call from the queue."""

        def work(session: Session) -> None:
            row = session.get(PresenceRow, request.officer)
            if row is None or row.state != OfficerState.ON_CALL.value or row.entry_id is not None:
                return  # the officer changed it meanwhile, or the queue did
            row.state, row.since, row.idle_since = OfficerState.WRAP_UP.value, now, now
            row.wrap_until = now + wrap_up_s
            _notify(session, QUEUE_CHANNEL, row.department_id)

        await self._run(work)

    async def number_of(self, request: OutboundRequest) -> str | None:
        """The number stored with the request's callback, while that callback is still open
        (and, for a queue callback, handed to this officer); None otherwise."""

        def work(session: Session) -> str | None:
            if request.source == "menu":
                callback = session.get(CallbackRow, request.ref)
                if callback is None or callback.done_at is not None:
                    return None
                return callback.number or None
            entry = session.get(QueueEntryRow, request.ref)
            mine = (
                entry is not None
                and entry.kind == EntryKind.CALLBACK.value
                and entry.state == EntryState.ASSIGNED.value
                and entry.assigned_to == request.officer
            )
            return entry.caller if mine and entry is not None else None

        return await self._run(work)

    async def close_callback(
        self, request: OutboundRequest, outcome: CallbackOutcome, *, at: datetime, now: float,
        wrap_up_s: float,
    ) -> bool:  # fmt: skip
        """Record `outcome` as the officer who asked would with the form: the callback is
        closed and the call's timeline gets ``callback-done``."""
        if request.source == "menu":

            def menu(session: Session) -> bool:
                return finish_callback(session, callback_id=request.ref, by=request.requested_by,
                                       at=at, outcome=outcome)  # fmt: skip

            return await self._run(menu)
        if await self.number_of(request) is None:  # no longer this officer's
            return False
        await DbQueueStore(self._factory).finished(request.ref, now=now, wrap_up_s=wrap_up_s)

        def queue(session: Session) -> bool:
            return record_outcome(session, request.call_id, source="queue", ref=request.ref,
                                  by=request.requested_by, at=at, outcome=outcome)  # fmt: skip

        return await self._run(queue)


def _expire(session: Session, source: str, ref: int, now: float, stale_after_s: float) -> None:
    """Requests of this callback that can no longer be in flight stop blocking a new one:
    never claimed within :data:`CLAIM_WITHIN_S`, or left open longer than `stale_after_s`."""
    session.execute(
        update(OutboundCallRow)
        .where(
            OutboundCallRow.source == source,
            OutboundCallRow.ref == ref,
            OutboundCallRow.state.in_(OPEN_STATES),
            or_(
                (OutboundCallRow.state == "requested")
                & (OutboundCallRow.requested_at <= now - CLAIM_WITHIN_S),
                OutboundCallRow.updated_at <= now - stale_after_s,
            ),
        )
        .values(state="failed", detail="no-worker", finished_at=now, updated_at=now)
    )


def _notify(session: Session, channel: str, payload: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:c, :d)"), {"c": channel, "d": payload})


__all__ = [
    "CLAIM_WITHIN_S",
    "FINAL_STATES",
    "NOTIFY_CHANNEL",
    "AlreadyCalling",
    "DbOutboundCalls",
    "OutboundRequest",
]
