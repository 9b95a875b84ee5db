"""An officer's callback, done: the callback closed and the outcome kept among the call's own
events (``callback-done``), so the call's timeline shows who called back and how it went."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.calllog.moments import utc
from ivr.calllog.queries import complete_callback
from ivr.calllog.sink import call_key
from ivr.calllog.tables import CallbackRow, CallEventRow, CallRow
from ivr.events import CallbackDone, CallEvent


class CallbackOutcome(StrEnum):
    """How a callback went."""

    REACHED = "reached"
    NO_ANSWER = "no-answer"
    WRONG_NUMBER = "wrong-number"


def finish_callback(
    session: Session, *, callback_id: int, by: str, at: datetime, outcome: CallbackOutcome
) -> bool:
    """Close the menu's callback `callback_id` with `outcome`; False when it does not exist or
    was already done."""
    row = session.get(CallbackRow, callback_id)
    if row is None or not complete_callback(session, callback_id=callback_id, by=by, at=at):
        return False
    record_outcome(session, row.call_id, source="menu", ref=callback_id, by=by, at=at,
                   outcome=outcome)  # fmt: skip
    return True


def record_outcome(
    session: Session,
    call_id: str,
    *,
    source: str,
    ref: int,
    by: str,
    at: datetime,
    outcome: CallbackOutcome,
) -> bool:
    """Append a ``callback-done`` event to call `call_id`; False when the call is not logged."""
    event = CallbackDone(
        call_id=call_key(call_id), at=at, source=source, ref=ref, outcome=outcome.value, by=by
    )
    return append_event(session, event)


def append_event(session: Session, event: CallEvent) -> bool:
    """Append an event an officer's action adds to a logged call (after the call ended, so not
    through the call log's writer); False when the call is not logged."""
    key = call_key(event.call_id)
    if session.get(CallRow, key) is None:
        return False
    last = session.scalar(select(func.max(CallEventRow.seq)).where(CallEventRow.call_id == key))
    session.add(
        CallEventRow(
            call_id=key,
            seq=(last or 0) + 1,
            at=utc(event.at),
            kind=event.kind,
            payload=event.payload(),
        )
    )
    return True
