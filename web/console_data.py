"""What the officer console shows, read from the database: whose console it is, the
department's line, the officer's recent calls, the callbacks to make and the voice messages
to hear.

A web user is an officer when an officer's ``web_login`` (``tongdai officers add … --web-login``)
or, failing that, extension equals their username. Queue times are Unix seconds (the queue's
own clock, shared by every worker).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from integrations.catalogue_tables import OfficerRow
from integrations.privacy import mask_phone
from ivr.calllog.queries import pending_callbacks
from ivr.queue.messages import message_path
from ivr.queue.model import EntryKind, EntryState, OfficerState
from ivr.queue.store import QueueSnapshot
from ivr.queue.tables import QueueEntryRow

RECENT_CALLS = 20
STATE_LABELS_VI: dict[OfficerState, str] = {
    OfficerState.AVAILABLE: "Sẵn sàng",
    OfficerState.RINGING: "Đang đổ chuông",
    OfficerState.ON_CALL: "Đang nghe máy",
    OfficerState.WRAP_UP: "Hoàn tất cuộc gọi",
    OfficerState.ON_BREAK: "Tạm nghỉ",
    OfficerState.SIGNED_OUT: "Đã rời ca",
}
TOGGLE_STATES = (OfficerState.AVAILABLE, OfficerState.ON_BREAK, OfficerState.SIGNED_OUT)
"""What an officer may set themself; the queue sets the others."""


@dataclass(frozen=True)
class ConsoleOfficer:
    """The officer a console belongs to."""

    extension: str
    name: str
    department_id: str


def officer_for(session: Session, username: str) -> ConsoleOfficer | None:
    """The active officer whose web login (else extension) is `username`, or None."""
    rows = session.scalars(
        select(OfficerRow).where(
            OfficerRow.active.is_(True),
            or_(OfficerRow.web_login == username, OfficerRow.extension == username),
        )
    ).all()
    by_login = [row for row in rows if row.web_login == username]
    if not rows:
        return None
    chosen = (by_login or list(rows))[0]
    return ConsoleOfficer(chosen.extension, chosen.name, chosen.department_id)


def resolve_officer(
    session: Session, username: str, is_admin: bool, requested: str
) -> ConsoleOfficer | None:
    """The console's officer: an admin may open anyone's (``?officer=EXTENSION``), everyone
    else only their own."""
    if not (is_admin and requested):
        return officer_for(session, username)
    row = session.scalars(select(OfficerRow).where(OfficerRow.extension == requested)).first()
    return None if row is None else ConsoleOfficer(row.extension, row.name, row.department_id)


def masked(number: str, personal: bool) -> str:
    """A caller's number as this user may see it."""
    return number if personal else mask_phone(number)


@dataclass(frozen=True)
class LineRow:
    """One caller (or callback) waiting in the department's line."""

    place: int
    caller: str
    kind: str
    waited_s: float


@dataclass(frozen=True)
class OfficerRowView:
    """One officer of the department and what they are doing."""

    extension: str
    state: str
    label: str
    since_s: float


def line_view(
    snap: QueueSnapshot, now: float, personal: bool
) -> tuple[list[LineRow], list[OfficerRowView]]:
    """The line (place, caller, wait) and the officers' states at `now`."""
    rows = [
        LineRow(place, masked(e.caller, personal), e.kind.value, max(0.0, now - e.enqueued_at))
        for place, e in enumerate(snap.entries, start=1)
    ]
    officers = [
        OfficerRowView(
            p.extension,
            p.current(now).value,
            STATE_LABELS_VI[p.current(now)],
            max(0.0, now - p.since),
        )
        for p in snap.officers
    ]
    return rows, officers


def own_state(snap: QueueSnapshot, extension: str, now: float) -> OfficerState:
    """This officer's state (no presence row: signed out)."""
    for presence in snap.officers:
        if presence.extension == extension:
            return presence.current(now)
    return OfficerState.SIGNED_OUT


@dataclass(frozen=True)
class HandledCall:
    """A call (or callback) the queue gave this officer."""

    call_id: str
    caller: str
    kind: str
    state: str
    enqueued_at: float
    waited_s: float | None
    talked_s: float | None


def recent_handled(
    session: Session, extension: str, personal: bool, limit: int = RECENT_CALLS
) -> list[HandledCall]:
    """The officer's most recent calls from the queue, newest first."""
    rows = session.scalars(
        select(QueueEntryRow)
        .where(QueueEntryRow.assigned_to == extension)
        .order_by(QueueEntryRow.enqueued_at.desc(), QueueEntryRow.id.desc())
        .limit(limit)
    )
    out: list[HandledCall] = []
    for row in rows:
        waited = row.connected_at - row.enqueued_at if row.connected_at is not None else None
        talked = (
            row.ended_at - row.connected_at
            if row.connected_at is not None and row.ended_at is not None
            else None
        )
        out.append(
            HandledCall(
                row.call_id,
                masked(row.caller, personal),
                row.kind,
                row.state,
                row.enqueued_at,
                waited,
                talked,
            )
        )
    return out


@dataclass(frozen=True)
class CallbackView:
    """A callback to make: from a menu's callback node, or a queue entry keeping its place."""

    source: str  # "menu" | "queue"
    id: int
    call_id: str
    number: str
    requested_at: float
    mine: bool  # the queue handed it to this officer: they must make it now
    place: int  # its place in line, 0 when not waiting


def callbacks_for(
    session: Session, officer: ConsoleOfficer, snap: QueueSnapshot, personal: bool
) -> list[CallbackView]:
    """The department's callbacks still to make: the queue's handed to this officer first,
    then those waiting their turn, then the menus' (oldest first)."""
    assigned = session.scalars(
        select(QueueEntryRow).where(
            QueueEntryRow.assigned_to == officer.extension,
            QueueEntryRow.kind == EntryKind.CALLBACK.value,
            QueueEntryRow.state == EntryState.ASSIGNED.value,
        )
    )
    out = [
        CallbackView("queue", r.id, r.call_id, masked(r.caller, personal), r.enqueued_at, True, 0)
        for r in assigned
    ]
    out += [
        CallbackView("queue", e.id, e.call_id, masked(e.caller, personal), e.enqueued_at, False, p)
        for p, e in enumerate(snap.entries, start=1)
        if e.kind is EntryKind.CALLBACK
    ]
    out += [
        CallbackView(
            "menu",
            c.id,
            c.call_id,
            masked(c.number, personal),
            c.requested_at.timestamp(),
            True,
            0,
        )
        for c in pending_callbacks(session, department=officer.department_id)
    ]
    return out


@dataclass(frozen=True)
class MessageView:
    """A voice message waiting to be heard: who left it, when, and how long it is (None when
    its audio is missing)."""

    id: int
    call_id: str
    caller: str
    left_at: float
    duration_s: float | None


def messages_for(
    session: Session, department_id: str, personal: bool, directory: Path
) -> list[MessageView]:
    """The department's voice messages not yet handled, oldest first."""
    rows = session.scalars(
        select(QueueEntryRow)
        .where(
            QueueEntryRow.department_id == department_id,
            QueueEntryRow.kind == EntryKind.MESSAGE.value,
            QueueEntryRow.state == EntryState.WAITING.value,
        )
        .order_by(QueueEntryRow.enqueued_at, QueueEntryRow.id)
    )
    return [
        MessageView(
            row.id,
            row.call_id,
            masked(row.caller, personal),
            row.enqueued_at,
            message_seconds(message_path(directory, row.id)),
        )
        for row in rows
    ]


def message_seconds(path: Path) -> float | None:
    """Length of a message's WAV file, None when it is missing or unreadable."""
    try:
        with wave.open(str(path), "rb") as wav:
            return float(wav.getnframes()) / wav.getframerate()
    except (OSError, wave.Error, EOFError):
        return None


def message_of(session: Session, entry_id: int) -> QueueEntryRow | None:
    """A voice message entry by id (None for any other kind of entry)."""
    row = session.get(QueueEntryRow, entry_id)
    return row if row is not None and row.kind == EntryKind.MESSAGE.value else None


def queue_entry_of(session: Session, entry_id: int) -> QueueEntryRow | None:
    """A queue entry by id."""
    return session.get(QueueEntryRow, entry_id)
