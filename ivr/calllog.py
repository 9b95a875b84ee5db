"""The call log: every call event persisted to the database, off the event loop.

:class:`DbCallLog` implements :class:`ivr.events.EventSink`. ``emit()`` only puts the event on a
bounded in-memory queue and returns; a background thread takes events in batches and writes
each batch in one transaction: the raw event (``call_events``) plus the summary tables (``calls``,
``call_inputs``, ``call_transfers``, ``callbacks``, ``survey_answers``). A full queue drops the
event and counts it rather than delay a call; a batch the database refuses is retried event by
event so one bad event cannot lose its neighbours.

Log lines never carry phone or ID numbers: database errors (whose text may quote parameters)
are passed through :func:`integrations.privacy.mask_numbers_in`.

Also here: retention (:func:`purge_calls`) and the statistics read by the admin pages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.privacy import mask_numbers_in, mask_values
from ivr.calllog_tables import (
    CallbackRow,
    CallEventRow,
    CallInputRow,
    CallRow,
    CallTransferRow,
    SurveyAnswerRow,
)
from ivr.events import (
    CallAnswered,
    CallbackRequested,
    CallEnded,
    CallError,
    CallEvent,
    CallStarted,
    InputReceived,
    NodeEntered,
    SpeechRecognized,
    SurveyAnswered,
    TransferRequested,
    TransferResult,
)

_log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
DEFAULT_FLUSH_INTERVAL_S = 0.2
"""How long the writer waits to fill a batch before writing what it has."""
DEFAULT_MAX_QUEUE = 50_000
"""Events held in memory at most (a few minutes of a busy hotline) before new ones are dropped."""
DROP_LOG_INTERVAL_S = 10.0
_CALL_ID_CHARS = 128  # calls.call_id column length

_CHILD_TABLES = (CallEventRow, CallInputRow, CallTransferRow, CallbackRow, SurveyAnswerRow)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


class DbCallLog:
    """:class:`ivr.events.EventSink` writing every event to the database from a worker thread."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        if batch_size < 1 or flush_interval_s <= 0 or max_queue < 1:
            raise ValueError("batch_size, flush_interval_s and max_queue must be positive")
        self._factory = factory
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._queue: queue.Queue[CallEvent | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._accepted = 0
        self._handled = 0
        self._last_drop_log = float("-inf")
        self._closed = False
        self._seq: dict[str, int] = {}
        self.written = 0
        """Events stored."""
        self.dropped = 0
        """Events refused because the queue was full or the log was closed."""
        self.failed = 0
        """Events the database refused even on their own."""

    # --- the sink ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="calllog-writer", daemon=True)
            self._thread.start()

    def emit(self, event: CallEvent) -> None:
        """Queue the event for writing; never blocks and never raises."""
        try:
            with self._lock:
                if not self._closed:
                    self._queue.put_nowait(event)
                    self._accepted += 1
                    return
        except queue.Full:
            pass
        self._count_drop(event)

    def _count_drop(self, event: CallEvent) -> None:
        with self._lock:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log < DROP_LOG_INTERVAL_S:
                return
            self._last_drop_log = now
            dropped = self.dropped
        _log.warning(
            "call log dropped %s events so far, queue full or closed (last: %s)",
            dropped,
            event.kind,
        )

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every event emitted so far is written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._progress:
            target = self._accepted
            while self._handled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then stop the writer. Later events are dropped."""
        with self._lock:
            thread = self._thread
            self._closed = True
        if thread is None:
            return
        self.flush(timeout_s)
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            _log.warning("call log writer did not drain in %.1f s", timeout_s)
            return
        thread.join(timeout_s)
        with self._lock:
            self._thread = None

    # --- the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + self._flush_interval_s
            while len(batch) < self._batch_size:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else None
                    if remaining <= 0:
                        item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            with self._progress:
                self._handled += len(batch)
                self._progress.notify_all()

    def _write(self, batch: list[CallEvent]) -> None:
        seq_before = dict(self._seq)
        try:
            with self._factory() as session, session.begin():
                self._store(session, batch)
            self.written += len(batch)
            return
        except Exception as exc:  # any database failure: retry one by one
            self._seq = seq_before
            _log.warning(
                "call log batch of %d failed, retrying singly: %s", len(batch), _describe(exc)
            )
        for event in batch:
            seq_before = dict(self._seq)
            try:
                with self._factory() as session, session.begin():
                    self._store(session, [event])
                self.written += 1
            except Exception as exc:  # the event is lost, the log goes on
                self._seq = seq_before
                self.failed += 1
                _log.error(
                    "call log could not store %s of call %s: %s",
                    event.kind,
                    _clip(mask_numbers_in(event.call_id), 80),
                    _describe(exc),
                )

    def _store(self, session: Session, batch: list[CallEvent]) -> None:
        """Write a batch with a constant number of queries, whatever its size."""
        keys = [call_key(event.call_id) for event in batch]
        call_ids = list(dict.fromkeys(keys))
        calls = {
            row.call_id: row
            for row in session.scalars(select(CallRow).where(CallRow.call_id.in_(call_ids)))
        }
        missing = [(key, event) for key, event in zip(keys, batch, strict=True) if key not in calls]
        for key, event in missing:
            if key not in calls:
                # Events of a call whose start was never seen still get a row to hang on.
                calls[key] = CallRow(call_id=key, started_at=_utc(event.at))
                session.add(calls[key])
        if missing:
            session.flush()  # call rows first: the event rows refer to them
        unknown = [call_id for call_id in call_ids if call_id not in self._seq]
        if unknown:
            stmt = (
                select(CallEventRow.call_id, func.max(CallEventRow.seq))
                .where(CallEventRow.call_id.in_(unknown))
                .group_by(CallEventRow.call_id)
            )
            last = {call_id: seq for call_id, seq in session.execute(stmt)}
            for call_id in unknown:
                self._seq[call_id] = last.get(call_id) or 0
        for key, event in zip(keys, batch, strict=True):
            self._seq[key] += 1
            session.add(
                CallEventRow(
                    call_id=key,
                    seq=self._seq[key],
                    at=_utc(event.at),
                    kind=event.kind,
                    payload=_jsonable(mask_values(event.payload())),  # numbers masked at rest
                )
            )
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(session, calls[key], event)
        for key, event in zip(keys, batch, strict=True):
            if isinstance(event, CallEnded):
                self._seq.pop(key, None)


def call_key(call_id: str) -> str:
    """The stored form of a call id: as is up to 128 characters, else a prefix and a digest.

    SIP Call-IDs have no length limit; the column does. Every event of one call maps to the
    same key, and two long ids sharing a prefix still get different keys.
    """
    if len(call_id) <= _CALL_ID_CHARS:
        return call_id
    digest = hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{call_id[: _CALL_ID_CHARS - 25]}~{digest}"


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as plain JSON values (an unexpected type becomes its text, never an error)."""
    loaded: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return loaded


def _describe(exc: Exception) -> str:
    """First line of an error, numbers masked: database errors quote the refused values."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _clip(mask_numbers_in(text), 300)


# --- per-kind summaries -------------------------------------------------------------------------


def _on_started(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallStarted)
    call.caller = _clip(mask_numbers_in(event.caller), 128)  # the full number is not needed
    call.callee = _clip(event.callee, 128)
    call.codec = _clip(event.codec, 16)
    call.started_at = _utc(event.at)


def _on_answered(session: Session, call: CallRow, event: Any) -> None:
    call.answered_at = _utc(event.at)


def _on_ended(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallEnded)
    call.ended_at = _utc(event.at)
    call.end_reason = _clip(event.reason, 32)
    call.duration_s = event.duration_s


def _on_node(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, NodeEntered)
    call.tree_version = event.tree_version
    call.last_node = _clip(event.node_id, 128)


def _on_input(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, InputReceived)
    session.add(
        CallInputRow(
            call_id=call.call_id,
            at=_utc(event.at),
            node_id=_clip(event.node_id, 128),
            mode=_clip(event.mode, 16),
            value=event.value,
            valid=event.valid,
        )
    )


def _on_speech(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, SpeechRecognized)
    session.add(
        CallInputRow(
            call_id=call.call_id,
            at=_utc(event.at),
            node_id=_clip(event.node_id, 128),
            mode="speech",
            value=event.text,
            valid=event.matched is not None,
            confidence=event.confidence,
            matched=_clip(event.matched, 128) if event.matched is not None else None,
        )
    )


def _on_transfer(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, TransferRequested)
    session.add(
        CallTransferRow(
            call_id=call.call_id,
            requested_at=_utc(event.at),
            node_id=_clip(event.node_id, 128),
            department=_clip(event.department, 64),
            target=_clip(event.target, 255),
            reason=event.reason,
        )
    )


def _on_transfer_result(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, TransferResult)
    stmt = (
        select(CallTransferRow)
        .where(CallTransferRow.call_id == call.call_id, CallTransferRow.result_at.is_(None))
        .order_by(CallTransferRow.id.desc())
    )
    row = session.scalars(stmt).first()
    if row is None:
        row = CallTransferRow(
            call_id=call.call_id, requested_at=_utc(event.at), target=event.target
        )
        session.add(row)
    row.result_at, row.status, row.ok = _utc(event.at), event.status, event.ok


def _on_callback(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallbackRequested)
    session.add(
        CallbackRow(
            call_id=call.call_id,
            requested_at=_utc(event.at),
            node_id=_clip(event.node_id, 128),
            department=_clip(event.department, 64),
            number=_clip(event.number, 64),
        )
    )


def _on_survey(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, SurveyAnswered)
    session.add(
        SurveyAnswerRow(
            call_id=call.call_id,
            at=_utc(event.at),
            node_id=_clip(event.node_id, 128),
            score=event.score,
        )
    )


def _on_error(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallError)
    call.error_code = _clip(str(event.code), 64)


_HANDLERS: dict[type[CallEvent], Callable[[Session, CallRow, Any], None]] = {
    CallStarted: _on_started,
    CallAnswered: _on_answered,
    CallEnded: _on_ended,
    NodeEntered: _on_node,
    InputReceived: _on_input,
    SpeechRecognized: _on_speech,
    TransferRequested: _on_transfer,
    TransferResult: _on_transfer_result,
    CallbackRequested: _on_callback,
    SurveyAnswered: _on_survey,
    CallError: _on_error,
}


# --- reading the log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """One stored event; ``id`` grows with every write, so readers can poll for newer ones."""

    id: int
    call_id: str
    seq: int
    at: datetime
    kind: str
    payload: dict[str, Any]


def events_after(session: Session, *, after_id: int = 0, limit: int = 500) -> list[StoredEvent]:
    """Events stored after event ``after_id``, oldest first (the poll behind live screens)."""
    stmt = (
        select(CallEventRow)
        .where(CallEventRow.id > after_id)
        .order_by(CallEventRow.id)
        .limit(max(0, limit))
    )
    return [
        StoredEvent(row.id, row.call_id, row.seq, _aware(row.at), row.kind, dict(row.payload))
        for row in session.scalars(stmt)
    ]


@dataclass(frozen=True)
class CallSummary:
    """One call as the admin list shows it."""

    call_id: str
    caller: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    end_reason: str
    last_node: str
    error_code: str


def recent_calls(session: Session, *, limit: int = 50) -> list[CallSummary]:
    """The most recently started calls, newest first."""
    stmt = select(CallRow).order_by(CallRow.started_at.desc(), CallRow.call_id).limit(max(0, limit))
    return [
        CallSummary(
            call_id=row.call_id,
            caller=row.caller,
            started_at=_aware(row.started_at),
            ended_at=_aware(row.ended_at) if row.ended_at is not None else None,
            duration_s=row.duration_s,
            end_reason=row.end_reason,
            last_node=row.last_node,
            error_code=row.error_code,
        )
        for row in session.scalars(stmt)
    ]


# --- callbacks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingCallback:
    """A callback an officer still has to make."""

    id: int
    call_id: str
    department: str
    number: str
    requested_at: datetime


def pending_callbacks(
    session: Session, *, department: str | None = None, limit: int = 100
) -> list[PendingCallback]:
    """Callbacks not yet done, oldest first; one department's when `department` is given."""
    stmt = select(CallbackRow).where(CallbackRow.done_at.is_(None))
    if department is not None:
        stmt = stmt.where(CallbackRow.department == department)
    stmt = stmt.order_by(CallbackRow.requested_at, CallbackRow.id).limit(max(0, limit))
    return [
        PendingCallback(row.id, row.call_id, row.department, row.number, _aware(row.requested_at))
        for row in session.scalars(stmt)
    ]


def complete_callback(session: Session, *, callback_id: int, by: str, at: datetime) -> bool:
    """Mark a callback done by an officer; False when it does not exist or was already done."""
    row = session.get(CallbackRow, callback_id)
    if row is None or row.done_at is not None:
        return False
    row.done_at, row.done_by = _utc(at), _clip(by, 64)
    return True


# --- retention ----------------------------------------------------------------------------------


def purge_calls(session: Session, *, before: datetime) -> int:
    """Delete the calls started before `before` with everything recorded about them."""
    before = _utc(before)
    old = select(CallRow.call_id).where(CallRow.started_at < before)
    for table in _CHILD_TABLES:
        # Explicit, not only ON DELETE CASCADE: a SQLite connection may have foreign keys off.
        session.execute(delete(table).where(table.call_id.in_(old)))
    result = session.execute(delete(CallRow).where(CallRow.started_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(factory: sessionmaker[Session], *, retention_days: int, now: datetime) -> int:
    """Apply the retention setting: delete calls older than `retention_days` days."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    with factory() as session, session.begin():
        return purge_calls(session, before=now - timedelta(days=retention_days))


# --- statistics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentTransfers:
    """Transfers to one department in a period."""

    department: str
    requested: int
    succeeded: int


@dataclass(frozen=True)
class SurveySummary:
    """Satisfaction answers in a period."""

    answers: int
    average: float | None


def calls_per_day(
    session: Session, *, start: date, end: date, timezone: str = "Asia/Ho_Chi_Minh"
) -> list[tuple[date, int]]:
    """Calls started on each local day from `start` to `end` inclusive (zeros included)."""
    if end < start:
        return []
    tz = ZoneInfo(timezone)
    lower = _utc(datetime.combine(start, datetime.min.time(), tz))
    upper = _utc(datetime.combine(end + timedelta(days=1), datetime.min.time(), tz))
    counts = {start + timedelta(days=i): 0 for i in range((end - start).days + 1)}
    stmt = select(CallRow.started_at).where(CallRow.started_at >= lower, CallRow.started_at < upper)
    # Bucketed here: SQLite and PostgreSQL have no common way to take a local date in SQL.
    for (started,) in session.execute(stmt):
        local = _aware(started).astimezone(tz).date()
        if local in counts:
            counts[local] += 1
    return sorted(counts.items())


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    """Every stored or compared moment is UTC: SQLite keeps no offset, only the wall time."""
    return _aware(moment).astimezone(UTC)


def average_duration_s(session: Session, *, since: datetime, until: datetime) -> float | None:
    """Mean duration of the calls started in [since, until) that have ended; None if none."""
    since, until = _utc(since), _utc(until)
    stmt = select(func.avg(CallRow.duration_s)).where(
        CallRow.started_at >= since, CallRow.started_at < until, CallRow.duration_s.is_not(None)
    )
    value = session.scalar(stmt)
    return float(value) if value is not None else None


def transfers_per_department(
    session: Session, *, since: datetime, until: datetime
) -> list[DepartmentTransfers]:
    """Transfers requested in [since, until) per department, most requested first."""
    since, until = _utc(since), _utc(until)
    ok_count = func.sum(case((CallTransferRow.ok.is_(True), 1), else_=0))
    stmt = (
        select(CallTransferRow.department, func.count(), ok_count)
        .where(CallTransferRow.requested_at >= since, CallTransferRow.requested_at < until)
        .group_by(CallTransferRow.department)
    )
    rows = [DepartmentTransfers(d, int(n), int(ok or 0)) for d, n, ok in session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r.requested, r.department))


def survey_summary(session: Session, *, since: datetime, until: datetime) -> SurveySummary:
    """Number and mean score of survey answers given in [since, until)."""
    since, until = _utc(since), _utc(until)
    stmt = select(func.count(), func.avg(SurveyAnswerRow.score)).where(
        SurveyAnswerRow.at >= since, SurveyAnswerRow.at < until
    )
    count, average = session.execute(stmt).one()
    return SurveySummary(int(count), float(average) if average is not None else None)
