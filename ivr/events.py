"""Typed call events. Every step of a call is reported as one of these to an EventSink.

The call log (database), the officer screen-pop and the metrics all read the same events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from core.errors import ErrorCode


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class CallEvent:
    """Base of every call event."""

    call_id: str
    at: datetime = field(default_factory=_now)

    @property
    def kind(self) -> str:
        """Stable name of the event kind, e.g. ``call-started``."""
        name = type(self).__name__
        return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")

    def payload(self) -> dict[str, Any]:
        """The event's own fields (without call_id and at), JSON-ready."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key in ("call_id", "at"):
                continue
            out[key] = value.value if isinstance(value, enum.Enum) else value
        return out


@dataclass(frozen=True, kw_only=True)
class CallStarted(CallEvent):
    caller: str
    callee: str
    codec: str
    remote_media: str


@dataclass(frozen=True, kw_only=True)
class CallAnswered(CallEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class CallEnded(CallEvent):
    reason: str  # "caller-bye", "ivr-bye", "cancel", "media-timeout", "transferred", "error"
    duration_s: float


@dataclass(frozen=True, kw_only=True)
class DigitReceived(CallEvent):
    digit: str
    source: str  # "rfc4733", "info", "inband"


@dataclass(frozen=True, kw_only=True)
class HoldChanged(CallEvent):
    on_hold: bool


@dataclass(frozen=True, kw_only=True)
class NodeEntered(CallEvent):
    tree_version: int
    node_id: str
    node_kind: str


@dataclass(frozen=True, kw_only=True)
class PromptPlayed(CallEvent):
    node_id: str
    text: str
    interrupted: bool = False


@dataclass(frozen=True, kw_only=True)
class InputReceived(CallEvent):
    node_id: str
    mode: str  # "dtmf" | "speech"
    value: str
    valid: bool = True


@dataclass(frozen=True, kw_only=True)
class SpeechRecognized(CallEvent):
    node_id: str
    text: str
    confidence: float | None  # None: the engine gives no score
    matched: str | None = None
    decision_s: float | None = None  # end of speech to transcript


@dataclass(frozen=True, kw_only=True)
class LookupDone(CallEvent):
    node_id: str
    lookup: str  # "dossier" | "procedure"
    key: str
    found: bool
    ok: bool = True
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class TransferRequested(CallEvent):
    node_id: str
    department: str
    target: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class TransferResult(CallEvent):
    target: str
    status: int
    ok: bool


@dataclass(frozen=True, kw_only=True)
class OfficerRinging(CallEvent):
    """The queue rings `officer`'s phones for this call (the console's screen-pop)."""

    officer: str
    department: str
    waited_s: float  # in the department's line before this ring


@dataclass(frozen=True, kw_only=True)
class BridgeRecorded(CallEvent):
    """The conversation between the caller and `officer` (of `department`) was recorded:
    `recording` names the file in the recordings folder (random letters, nothing from the
    call), `duration_s` is the bridge's length."""

    officer: str
    department: str
    recording: str
    duration_s: float


@dataclass(frozen=True, kw_only=True)
class CallbackRequested(CallEvent):
    node_id: str
    department: str
    number: str


@dataclass(frozen=True, kw_only=True)
class CallbackDone(CallEvent):
    """An officer made a callback: "reached", "no-answer" or "wrong-number"."""

    source: str  # "menu" (a callback node: ``callbacks`` row) or "queue" (a queue entry)
    ref: int  # that row's id
    outcome: str
    by: str


@dataclass(frozen=True, kw_only=True)
class CallbackCalled(CallEvent):
    """tongdai placed a callback for an officer ("call back now", request `request_id`):
    how far it got (``stage``: officer-no-answer, no-answer, wrong-number, reached, failed,
    cancelled), the citizen leg's final SIP status (0: never dialled), the talk time, who
    asked. Appended to the call that asked for the callback."""

    source: str
    ref: int
    request_id: int
    officer: str
    stage: str
    status: int
    talk_s: float
    by: str


@dataclass(frozen=True, kw_only=True)
class VoiceMessageLeft(CallEvent):
    """The caller left a voice message for `department` (queue entry `entry_id`, its audio
    in the messages folder under a name made from that id)."""

    node_id: str
    department: str
    entry_id: int
    duration_s: float


@dataclass(frozen=True, kw_only=True)
class VoiceMessageHandled(CallEvent):
    """An officer heard the call's voice message (queue entry `entry_id`) and dealt with it."""

    entry_id: int
    by: str


@dataclass(frozen=True, kw_only=True)
class SurveyAnswered(CallEvent):
    node_id: str
    score: int


@dataclass(frozen=True, kw_only=True)
class CallerCheck(CallEvent):
    """An outcome of the personal-details check (the lockout is visible in the call log)."""

    node_id: str
    dossier_code: str
    result: str  # "asserted", "passed", "failed", "skipped", "locked-call", "locked-dossier"
    failures: int = 0  # wrong answers so far (in this call, or for the dossier when locked)


@dataclass(frozen=True, kw_only=True)
class CallError(CallEvent):
    code: ErrorCode
    detail: str = ""


class EventSink(Protocol):
    """Receives every call event. Must not block: hand slow work to a queue."""

    def emit(self, event: CallEvent) -> None: ...


class FanoutSink:
    """Sends each event to several sinks; a failing sink never affects the call."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = list(sinks)

    def add(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def emit(self, event: CallEvent) -> None:
        for sink in self._sinks:
            try:
                sink.emit(event)
            except Exception:
                import logging

                logging.getLogger(__name__).exception("event sink failed on %s", event.kind)


class MemorySink:
    """Keeps events in a list (tests, the built-in greeting, metrics snapshots)."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def emit(self, event: CallEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[CallEvent], call_id: str | None = None) -> list[CallEvent]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (call_id is None or e.call_id == call_id)
        ]
