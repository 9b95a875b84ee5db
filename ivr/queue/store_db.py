"""The queue in the database: every worker process (and machine) and the web app see one line.

Each operation is one transaction run in a thread. A turn is taken under a lock on the
department's presence rows (an ``UPDATE`` of those rows first: row locks on PostgreSQL, the
write lock on SQLite), so two workers never reserve the same officer or skip a caller. On
PostgreSQL every change also sends ``NOTIFY tongdai_queue, '<department>'`` for live pages;
SQLite readers poll.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from db import in_thread
from ivr.queue.distribution import Strategy, line
from ivr.queue.model import EntryKind, EntryState, OfficerState, Presence, QueueEntry
from ivr.queue.store import QueueSnapshot, plan_turn
from ivr.queue.tables import PresenceRow, QueueEntryRow

NOTIFY_CHANNEL = "tongdai_queue"
T = TypeVar("T")


class DbQueueStore:
    """:class:`~ivr.queue.store.QueueStore` over ``queue_entries`` and ``officer_presence``."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    async def _run(self, work: Callable[[Session], T]) -> T:
        return await in_thread(self._factory, work)

    async def join(
        self, department_id: str, *, call_id: str, caller: str, kind: EntryKind, now: float
    ) -> QueueEntry:
        """Append an entry (a message waits to be heard in the console, never in line)."""

        def work(session: Session) -> QueueEntry:
            state = EntryState.WAITING
            row = QueueEntryRow(
                department_id=department_id,
                call_id=call_id[:255],
                caller=caller[:64],
                kind=kind.value,
                state=state.value,
                ticket=now,
                enqueued_at=now,
            )
            session.add(row)
            session.flush()
            _notify(session, department_id)
            return _entry(row)

        return await self._run(work)

    async def snapshot(self, department_id: str, *, now: float, history: int) -> QueueSnapshot:
        """The line, the officers and the last `history` handle times."""

        def work(session: Session) -> QueueSnapshot:
            return _snapshot(session, department_id, history)

        return await self._run(work)

    async def take_turn(self, entry_id: int, strategy: Strategy, *, now: float) -> list[str]:
        """Plan and reserve under the department's lock."""

        def work(session: Session) -> list[str]:
            entry = session.get(QueueEntryRow, entry_id)
            if entry is None or entry.state != EntryState.WAITING.value:
                return []
            department = entry.department_id
            session.execute(  # the lock: every turn of this department waits here
                update(PresenceRow)
                .where(PresenceRow.department_id == department)
                .values(department_id=PresenceRow.department_id)
            )
            snap = _snapshot(session, department, 0)
            turn = plan_turn(snap.entries, snap.officers, entry_id, strategy, now)
            for callback_id, officer in turn.callbacks:
                _set_entry(session, callback_id, state=EntryState.ASSIGNED, assigned_to=officer)
                _set_officer(
                    session,
                    officer,
                    state=OfficerState.ON_CALL.value,
                    since=now,
                    entry_id=callback_id,
                    last_offered_at=now,
                )
            for officer in turn.ring:
                _set_officer(
                    session,
                    officer,
                    state=OfficerState.RINGING.value,
                    since=now,
                    entry_id=entry_id,
                    last_offered_at=now,
                )
            if turn.ring:
                _set_entry(session, entry_id, state=EntryState.OFFERED)
            if turn.ring or turn.callbacks:
                _notify(session, department)
            return turn.ring

        return await self._run(work)

    async def ring_failed(self, entry_id: int, *, now: float) -> None:
        """Back in line with its ticket; the officers rung go to the back of the idle order."""

        def work(session: Session) -> None:
            row = _set_entry(session, entry_id, state=EntryState.WAITING)
            _release_ringing(session, entry_id, now, keep=None, missed=True)
            _notify(session, row.department_id)

        await self._run(work)

    async def connected(self, entry_id: int, officer: str, *, now: float) -> None:
        """The winner is on the call; the others rung for it are free."""

        def work(session: Session) -> None:
            row = _set_entry(
                session,
                entry_id,
                state=EntryState.CONNECTED,
                assigned_to=officer,
                connected_at=now,
            )
            _set_officer(session, officer, state=OfficerState.ON_CALL.value, since=now)
            _release_ringing(session, entry_id, now, keep=officer)
            _notify(session, row.department_id)

        await self._run(work)

    async def finished(self, entry_id: int, *, now: float, wrap_up_s: float) -> None:
        """Done; its officer wraps up."""

        def work(session: Session) -> None:
            row = _set_entry(session, entry_id, state=EntryState.DONE, ended_at=now)
            if row.assigned_to and session.get(PresenceRow, row.assigned_to) is not None:
                _set_officer(
                    session,
                    row.assigned_to,
                    state=OfficerState.WRAP_UP.value,
                    since=now,
                    idle_since=now,
                    wrap_until=now + wrap_up_s,
                    entry_id=None,
                )
            _notify(session, row.department_id)

        await self._run(work)

    async def to_callback(self, entry_id: int, *, now: float) -> None:
        """Same ticket, now a callback."""

        def work(session: Session) -> None:
            row = session.get(QueueEntryRow, entry_id)
            if row is None:
                return
            if row.state == EntryState.OFFERED.value:
                _release_ringing(session, entry_id, now, keep=None)
            row.kind, row.state = EntryKind.CALLBACK.value, EntryState.WAITING.value
            _notify(session, row.department_id)

        await self._run(work)

    async def leave(self, entry_id: int, *, now: float) -> None:
        """Abandoned."""

        def work(session: Session) -> None:
            row = session.get(QueueEntryRow, entry_id)
            if row is None:
                return
            if row.state == EntryState.OFFERED.value:
                _release_ringing(session, entry_id, now, keep=None)
            row.state, row.ended_at = EntryState.ABANDONED.value, now
            _notify(session, row.department_id)

        await self._run(work)

    async def set_state(
        self, extension: str, department_id: str, state: OfficerState, *, now: float
    ) -> None:
        """Availability toggle; becoming available starts the idle time."""

        def work(session: Session) -> None:
            row = session.get(PresenceRow, extension)
            if row is None:
                row = PresenceRow(
                    extension=extension, last_offered_at=0.0, wrap_until=0.0, idle_since=now
                )
                session.add(row)
            row.department_id, row.state, row.since = department_id, state.value, now
            if state is OfficerState.AVAILABLE:
                row.idle_since, row.entry_id = now, None
            _notify(session, department_id)

        await self._run(work)

    async def message_handled(self, entry_id: int, officer: str, *, now: float) -> bool:
        """Done, handled by `officer` (their presence is left as it is)."""

        def work(session: Session) -> bool:
            row = session.get(QueueEntryRow, entry_id)
            waiting = (
                row is not None
                and row.kind == EntryKind.MESSAGE.value
                and row.state == EntryState.WAITING.value
            )
            if row is None or not waiting:
                return False
            row.state, row.assigned_to, row.ended_at = EntryState.DONE.value, officer, now
            _notify(session, row.department_id)
            return True

        return await self._run(work)


def _snapshot(session: Session, department_id: str, history: int) -> QueueSnapshot:
    waiting = session.scalars(
        select(QueueEntryRow).where(
            QueueEntryRow.department_id == department_id,
            QueueEntryRow.state == EntryState.WAITING.value,
        )
    )
    officers = session.scalars(
        select(PresenceRow)
        .where(PresenceRow.department_id == department_id)
        .order_by(PresenceRow.extension)
    )
    handle: list[float] = []
    if history > 0:
        recent = session.execute(
            select(QueueEntryRow.connected_at, QueueEntryRow.ended_at)
            .where(
                QueueEntryRow.department_id == department_id,
                QueueEntryRow.connected_at.is_not(None),
                QueueEntryRow.ended_at.is_not(None),
            )
            .order_by(QueueEntryRow.ended_at.desc())
            .limit(history)
        )
        handle = [end - start for start, end in recent if start is not None and end is not None]
        handle.reverse()
    return QueueSnapshot(
        line([_entry(r) for r in waiting]), [_presence(r) for r in officers], handle
    )


def _set_entry(session: Session, entry_id: int, **values: object) -> QueueEntryRow:
    row = session.get(QueueEntryRow, entry_id)
    if row is None:
        raise LookupError(f"no queue entry {entry_id}")
    for name, value in values.items():
        setattr(row, name, value.value if isinstance(value, EntryState) else value)
    return row


def _set_officer(session: Session, extension: str, **values: object) -> None:
    row = session.get(PresenceRow, extension)
    if row is None:
        return
    for name, value in values.items():
        setattr(row, name, value)


def _release_ringing(
    session: Session, entry_id: int, now: float, keep: str | None, *, missed: bool = False
) -> None:
    ringing = session.scalars(
        select(PresenceRow).where(
            PresenceRow.entry_id == entry_id, PresenceRow.state == OfficerState.RINGING.value
        )
    )
    for row in ringing:
        if row.extension == keep:
            continue
        row.state, row.since, row.entry_id = OfficerState.AVAILABLE.value, now, None
        if missed:
            row.idle_since = now


def _notify(session: Session, department_id: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:c, :d)"), {"c": NOTIFY_CHANNEL, "d": department_id})


def _entry(row: QueueEntryRow) -> QueueEntry:
    return QueueEntry(
        id=row.id,
        department_id=row.department_id,
        call_id=row.call_id,
        caller=row.caller,
        kind=EntryKind(row.kind),
        state=EntryState(row.state),
        ticket=row.ticket,
        enqueued_at=row.enqueued_at,
        assigned_to=row.assigned_to,
        connected_at=row.connected_at,
        ended_at=row.ended_at,
    )


def _presence(row: PresenceRow) -> Presence:
    return Presence(
        extension=row.extension,
        department_id=row.department_id,
        state=OfficerState(row.state),
        since=row.since,
        idle_since=row.idle_since,
        last_offered_at=row.last_offered_at,
        wrap_until=row.wrap_until,
        entry_id=row.entry_id,
    )
