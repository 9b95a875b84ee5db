"""Where queue state lives, behind a Protocol: every worker must see the same line.

The database store (:mod:`ivr.queue.store_db`) is the real one; :class:`MemoryQueueStore` is
the fake for tests. Both decide turns with :func:`plan_turn`, so they behave alike.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ivr.queue.distribution import Strategy, choose_officers, line
from ivr.queue.model import EntryKind, EntryState, OfficerState, Presence, QueueEntry


@dataclass(frozen=True)
class QueueSnapshot:
    """A department's line, its officers and its recent handle times, read at once."""

    entries: list[QueueEntry]  # in line, in serving order
    officers: list[Presence]
    handle_times_s: list[float] = field(default_factory=list)

    def place_of(self, entry_id: int) -> int:
        """1-based place in line; 0 when no longer in line."""
        for place, entry in enumerate(self.entries, start=1):
            if entry.id == entry_id:
                return place
        return 0

    def working(self, now: float) -> int:
        """Officers signed in and not on a break (they will take calls)."""
        away = (OfficerState.ON_BREAK, OfficerState.SIGNED_OUT)
        return sum(1 for p in self.officers if p.current(now) not in away)


@dataclass(frozen=True)
class Turn:
    """What :func:`plan_turn` decided: callbacks handed out, and officers to ring.

    An officer handed a callback is ON_CALL for it until it is finished (from the console's
    "call back now", or marked done): a callback takes a turn like the call it replaced."""

    callbacks: list[tuple[int, str]]  # (callback entry id, officer) at the head of the line
    ring: list[str]  # officers to ring for the entry asking; empty: not its turn yet


def plan_turn(
    entries: Sequence[QueueEntry],
    officers: Sequence[Presence],
    entry_id: int,
    strategy: Strategy,
    now: float,
) -> Turn:
    """Serve the head of the line: callbacks there go to free officers (one each, in the
    strategy's order) and, if `entry_id` is then at the head, the officers to ring for it."""
    free = list(officers)
    callbacks: list[tuple[int, str]] = []
    for entry in line(entries):
        single: Strategy = "longest_idle" if strategy == "ring_all" else strategy
        if entry.kind is EntryKind.CALLBACK:
            chosen = choose_officers(free, single, now)
            if not chosen:
                break
            callbacks.append((entry.id, chosen[0]))
            free = [p for p in free if p.extension != chosen[0]]
            continue
        if entry.id == entry_id:
            return Turn(callbacks, choose_officers(free, strategy, now))
        break
    return Turn(callbacks, [])


class QueueStore(Protocol):
    """The operations a waiting call and an officer's console need; each one atomic."""

    async def join(
        self, department_id: str, *, call_id: str, caller: str, kind: EntryKind, now: float
    ) -> QueueEntry:
        """A new entry at the end of the line (a message waits to be heard, never in line)."""
        ...

    async def snapshot(self, department_id: str, *, now: float, history: int) -> QueueSnapshot:
        """The department's line, officers and last `history` handle times."""
        ...

    async def take_turn(self, entry_id: int, strategy: Strategy, *, now: float) -> list[str]:
        """Hand out callbacks at the head; when `entry_id` is next, reserve and return the
        officers to ring (they become RINGING, the entry OFFERED). Empty: keep waiting."""
        ...

    async def ring_failed(self, entry_id: int, *, now: float) -> None:
        """Nobody answered: the entry goes back in line with its ticket, the officers free."""
        ...

    async def connected(self, entry_id: int, officer: str, *, now: float) -> None:
        """`officer` answered: ON_CALL; the other officers rung for it are freed."""
        ...

    async def finished(self, entry_id: int, *, now: float, wrap_up_s: float) -> None:
        """The call (or the callback) ended: the entry is done, its officer in wrap-up."""
        ...

    async def to_callback(self, entry_id: int, *, now: float) -> None:
        """The caller asked for a callback: same ticket, kind CALLBACK, still in line."""
        ...

    async def leave(self, entry_id: int, *, now: float) -> None:
        """The caller hung up while waiting."""
        ...

    async def set_state(
        self, extension: str, department_id: str, state: OfficerState, *, now: float
    ) -> None:
        """An officer's availability toggle (console) or sign-in/out."""
        ...

    async def message_handled(self, entry_id: int, officer: str, *, now: float) -> bool:
        """An officer heard a voice message and handled it: DONE, with who and when. False
        when it is no waiting message. The officer's own state does not change."""
        ...


class MemoryQueueStore:
    """Queue state in dicts (one process): the fake for tests."""

    def __init__(self) -> None:
        self.entries: dict[int, QueueEntry] = {}
        self.officers: dict[str, Presence] = {}
        self._ids = itertools.count(1)

    async def join(
        self, department_id: str, *, call_id: str, caller: str, kind: EntryKind, now: float
    ) -> QueueEntry:
        """Append an entry."""
        state = EntryState.WAITING
        entry = QueueEntry(next(self._ids), department_id, call_id, caller, kind, state, now, now)
        self.entries[entry.id] = entry
        return entry

    async def snapshot(self, department_id: str, *, now: float, history: int) -> QueueSnapshot:
        """The department as it stands."""
        mine = [e for e in self.entries.values() if e.department_id == department_id]
        done = sorted(
            (e for e in mine if e.connected_at is not None and e.ended_at is not None),
            key=lambda e: e.ended_at or 0.0,
        )
        handle = [(e.ended_at or 0.0) - (e.connected_at or 0.0) for e in done][-history:]
        officers = [p for p in self.officers.values() if p.department_id == department_id]
        return QueueSnapshot(line(mine), sorted(officers, key=lambda p: p.extension), handle)

    async def take_turn(self, entry_id: int, strategy: Strategy, *, now: float) -> list[str]:
        """Plan and reserve in one step (a single event loop: nothing interleaves)."""
        entry = self.entries[entry_id]
        snap = await self.snapshot(entry.department_id, now=now, history=0)
        turn = plan_turn(snap.entries, snap.officers, entry_id, strategy, now)
        for callback_id, officer in turn.callbacks:
            self._update(callback_id, state=EntryState.ASSIGNED, assigned_to=officer)
            self._officer(
                officer,
                state=OfficerState.ON_CALL,
                since=now,
                entry_id=callback_id,
                last_offered_at=now,
            )
        for officer in turn.ring:
            self._officer(officer, state=OfficerState.RINGING, since=now, entry_id=entry_id)
            self._officer(officer, last_offered_at=now)
        if turn.ring:
            self._update(entry_id, state=EntryState.OFFERED)
        return turn.ring

    async def ring_failed(self, entry_id: int, *, now: float) -> None:
        """Back in line; the officers who did not answer go to the back of the idle order."""
        self._update(entry_id, state=EntryState.WAITING)
        self._release_ringing(entry_id, now, keep=None, missed=True)

    async def connected(self, entry_id: int, officer: str, *, now: float) -> None:
        """The winner is on the call; the others are free."""
        self._update(entry_id, state=EntryState.CONNECTED, assigned_to=officer, connected_at=now)
        self._officer(officer, state=OfficerState.ON_CALL, since=now)
        self._release_ringing(entry_id, now, keep=officer)

    async def finished(self, entry_id: int, *, now: float, wrap_up_s: float) -> None:
        """Done; the officer wraps up."""
        entry = self._update(entry_id, state=EntryState.DONE, ended_at=now)
        if entry.assigned_to in self.officers:
            self._officer(
                entry.assigned_to,
                state=OfficerState.WRAP_UP,
                since=now,
                idle_since=now,
                wrap_until=now + wrap_up_s,
                entry_id=None,
            )

    async def to_callback(self, entry_id: int, *, now: float) -> None:
        """Keep the ticket, become a callback."""
        if self.entries[entry_id].state is EntryState.OFFERED:
            self._release_ringing(entry_id, now, keep=None)
        self._update(entry_id, kind=EntryKind.CALLBACK, state=EntryState.WAITING)

    async def leave(self, entry_id: int, *, now: float) -> None:
        """Abandoned."""
        if self.entries[entry_id].state is EntryState.OFFERED:
            self._release_ringing(entry_id, now, keep=None)
        self._update(entry_id, state=EntryState.ABANDONED, ended_at=now)

    async def set_state(
        self, extension: str, department_id: str, state: OfficerState, *, now: float
    ) -> None:
        """Toggle; becoming available starts the idle time."""
        old = self.officers.get(extension)
        idle = now if old is None or state is OfficerState.AVAILABLE else old.idle_since
        self.officers[extension] = Presence(
            extension,
            department_id,
            state,
            since=now,
            idle_since=idle,
            last_offered_at=old.last_offered_at if old else 0.0,
        )

    async def message_handled(self, entry_id: int, officer: str, *, now: float) -> bool:
        """Done, handled by `officer`."""
        entry = self.entries.get(entry_id)
        if entry is None or entry.kind is not EntryKind.MESSAGE:
            return False
        if entry.state is not EntryState.WAITING:
            return False
        self._update(entry_id, state=EntryState.DONE, assigned_to=officer, ended_at=now)
        return True

    def _release_ringing(
        self, entry_id: int, now: float, keep: str | None, *, missed: bool = False
    ) -> None:
        for presence in list(self.officers.values()):
            ringing = presence.state is OfficerState.RINGING and presence.entry_id == entry_id
            if ringing and presence.extension != keep:
                self._officer(
                    presence.extension,
                    state=OfficerState.AVAILABLE,
                    since=now,
                    entry_id=None,
                    idle_since=now if missed else presence.idle_since,
                )

    def _update(self, entry_id: int, **changes: object) -> QueueEntry:
        entry = dataclasses.replace(self.entries[entry_id], **changes)  # type: ignore[arg-type]
        self.entries[entry_id] = entry
        return entry

    def _officer(self, extension: str, **changes: object) -> None:
        old = self.officers[extension]
        self.officers[extension] = dataclasses.replace(old, **changes)  # type: ignore[arg-type]
