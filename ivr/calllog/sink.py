"""The call log: every call event persisted to the database, off the event loop.

:class:`DbCallLog` implements :class:`ivr.events.EventSink`. ``emit()`` only puts the event on a
bounded in-memory queue and returns; a background thread takes events in batches and writes
each batch in one transaction: the raw event (``call_events``) plus the summary tables (``calls``,
``call_inputs``, ``call_transfers``, ``callbacks``, ``survey_answers``). A full queue drops the
event and counts it rather than delay a call; a batch the database refuses is retried event by
event so one bad event cannot lose its neighbours.

Log lines never carry phone or ID numbers: database errors (whose text may quote parameters)
are passed through :func:`integrations.privacy.mask_numbers_in`.

Reading the log is in :mod:`ivr.calllog.queries`, retention in :mod:`ivr.calllog.retention`,
statistics in :mod:`ivr.calllog.stats`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db import database_unreachable
from integrations.privacy import mask_numbers_in, mask_values
from ivr.calllog.moments import utc as _utc
from ivr.calllog.rollup import roll_up
from ivr.calllog.tables import (
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
OUTAGE_FIRST_RETRY_S = 0.1
OUTAGE_MAX_RETRY_S = 2.0
"""While the database is unusable the batch in hand is retried, waiting up to this long."""
_CALL_ID_CHARS = 128  # calls.call_id column length


def clip(text: str, limit: int) -> str:
    """`text` cut to the column length `limit`."""
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
        node_id: str = "",
    ) -> None:
        """``node_id``: the node carrying the calls, stored with each (see
        :mod:`ivr.calllog.lost_calls`); empty for calls no node carries (web visits)."""
        if batch_size < 1 or flush_interval_s <= 0 or max_queue < 1:
            raise ValueError("batch_size, flush_interval_s and max_queue must be positive")
        self._factory = factory
        self._node_id = clip(node_id, 128)
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
        self._outage = False
        self.outages = 0
        """Times the database became unusable while events were waiting."""
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

    @property
    def room(self) -> int:
        """Events the queue can still take before new ones are dropped."""
        return self._queue.maxsize - self._queue.qsize()

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
        pause_s = OUTAGE_FIRST_RETRY_S
        while True:
            seq_before = dict(self._seq)
            try:
                with self._factory() as session, session.begin():
                    self._store(session, batch)
                self.written += len(batch)
                if self._outage:
                    self._outage = False
                    _log.warning("call log: database back, held events written")
                return
            except Exception as exc:
                self._seq = seq_before
                if self._closed or not database_unreachable(exc):
                    break
                # The database is down, restarting or full: hold the batch (the queue behind
                # it holds the rest, up to max_queue) and try again, instead of losing it.
                if not self._outage:
                    self._outage = True
                    self.outages += 1
                    _log.error("call log: database unusable, holding events: %s", _describe(exc))
                time.sleep(pause_s)
                pause_s = min(2 * pause_s, OUTAGE_MAX_RETRY_S)
        # any other failure (or closing during an outage): retry one by one
        _log.warning("call log batch of %d failed, retrying singly", len(batch))
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
                    clip(mask_numbers_in(event.call_id), 80),
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
                calls[key] = CallRow(
                    call_id=key, started_at=_utc(event.at), carried_by=self._node_id
                )
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
                    payload=_jsonable(_at_rest(event)),
                )
            )
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(session, calls[key], event)
        ended = [
            key for key, event in zip(keys, batch, strict=True) if isinstance(event, CallEnded)
        ]
        if ended:
            session.flush()  # the end and the children are in the database for the counts
            roll_up(session, ended)
        for key in ended:
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


# Event fields that may carry a phone number, masked at rest. Only these are scanned: the
# writer stores thousands of events a second and must not fall behind.
_NUMBER_FIELDS: dict[str, tuple[str, ...]] = {
    "call-started": ("caller",),
    "callback-requested": ("number",),  # the callback row keeps the full number
    "speech-recognized": ("text",),
    "prompt-played": ("text",),
    "input-received": ("value",),
}


def _at_rest(event: CallEvent) -> dict[str, Any]:
    """The payload to store: phone-like numbers masked in the fields that may hold them."""
    return mask_values(event.payload(), _NUMBER_FIELDS.get(event.kind, ()))


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as plain JSON values (an unexpected type becomes its text, never an error)."""
    loaded: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return loaded


def _describe(exc: Exception) -> str:
    """First line of an error, numbers masked: database errors quote the refused values."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return clip(mask_numbers_in(text), 300)


# --- per-kind summaries -------------------------------------------------------------------------


def _on_started(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallStarted)
    call.caller = clip(mask_numbers_in(event.caller), 128)  # the full number is not needed
    call.callee = clip(event.callee, 128)
    call.codec = clip(event.codec, 16)
    call.started_at = _utc(event.at)


def _on_answered(session: Session, call: CallRow, event: Any) -> None:
    call.answered_at = _utc(event.at)


def _on_ended(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallEnded)
    call.ended_at = _utc(event.at)
    call.end_reason = clip(event.reason, 32)
    call.duration_s = event.duration_s


def _on_node(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, NodeEntered)
    call.tree_version = event.tree_version
    call.last_node = clip(event.node_id, 128)


def _on_input(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, InputReceived)
    session.add(
        CallInputRow(
            call_id=call.call_id,
            at=_utc(event.at),
            node_id=clip(event.node_id, 128),
            mode=clip(event.mode, 16),
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
            node_id=clip(event.node_id, 128),
            mode="speech",
            value=event.text,
            valid=event.matched is not None,
            confidence=event.confidence,
            matched=clip(event.matched, 128) if event.matched is not None else None,
        )
    )


def _on_transfer(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, TransferRequested)
    session.add(
        CallTransferRow(
            call_id=call.call_id,
            requested_at=_utc(event.at),
            node_id=clip(event.node_id, 128),
            department=clip(event.department, 64),
            target=clip(event.target, 255),
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
            node_id=clip(event.node_id, 128),
            department=clip(event.department, 64),
            number=clip(event.number, 64),
        )
    )


def _on_survey(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, SurveyAnswered)
    session.add(
        SurveyAnswerRow(
            call_id=call.call_id,
            at=_utc(event.at),
            node_id=clip(event.node_id, 128),
            score=event.score,
        )
    )


def _on_error(session: Session, call: CallRow, event: Any) -> None:
    assert isinstance(event, CallError)
    call.error_code = clip(str(event.code), 64)


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
