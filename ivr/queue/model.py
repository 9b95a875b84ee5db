"""The queue's records: officers' presence and the entries waiting in a department's line.

Times are Unix seconds (floats): every worker process, the web app and the database agree on
them. An entry's ``ticket`` is its place in line; a callback keeps the ticket of the call it
replaced, so it is offered when that caller's turn comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OfficerState(StrEnum):
    """What an officer is doing, as the queue sees it."""

    AVAILABLE = "available"
    RINGING = "ringing"  # reserved for one caller while their phones ring
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"  # after a call, for the department's wrap-up seconds
    ON_BREAK = "on_break"
    SIGNED_OUT = "signed_out"


class EntryKind(StrEnum):
    CALL = "call"  # a caller on the line, waiting
    CALLBACK = "callback"  # a caller who asked to be called back, keeping their place
    MESSAGE = "message"  # a voice message left outside working hours


class EntryState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # officers are ringing for it
    CONNECTED = "connected"
    ASSIGNED = "assigned"  # a callback handed to an officer, to call back
    DONE = "done"
    ABANDONED = "abandoned"  # the caller hung up while waiting


@dataclass(frozen=True)
class Presence:
    """One officer's state in their department's queue."""

    extension: str
    department_id: str
    state: OfficerState
    since: float
    idle_since: float  # when they last became free (end of their last call, or sign-in)
    last_offered_at: float = 0.0
    wrap_until: float = 0.0
    entry_id: int | None = None

    def current(self, now: float) -> OfficerState:
        """The state at `now`: a wrap-up that has run out is availability."""
        if self.state is OfficerState.WRAP_UP and now >= self.wrap_until:
            return OfficerState.AVAILABLE
        return self.state

    def free_since(self) -> float:
        """When this officer's idle time started (after a wrap-up, when it ended)."""
        return max(self.idle_since, self.wrap_until)


@dataclass(frozen=True)
class QueueEntry:
    """A caller (or their callback, or their message) in a department's line."""

    id: int
    department_id: str
    call_id: str
    caller: str  # the number to call back; personal data, masked in logs
    kind: EntryKind
    state: EntryState
    ticket: float
    enqueued_at: float
    assigned_to: str | None = None
    connected_at: float | None = None
    ended_at: float | None = None

    @property
    def in_line(self) -> bool:
        """Still waiting for an officer (a call or a callback)."""
        return self.state is EntryState.WAITING and self.kind is not EntryKind.MESSAGE
