"""What the dialog runtime is given and what it builds: injected dependencies, timings, the
pinned tree, and the call context officers see.

Every backend is a Protocol or a plain callable, so the real engines (prompt cache, recogniser,
voice detector, dossier source, catalogue, officer directory, callback store) plug in by
injection and tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from integrations.base import DossierSource, OfficerDirectory, ProcedureCatalogue
from integrations.privacy import DisclosurePolicy
from integrations.verification import CheckFailures, CheckLimits, MemoryCheckFailures
from ivr.channel import Audio
from ivr.queue.messages import LeftMessage
from ivr.queue.waiting import QueueDoor
from menus.model import MenuTree
from speech.asr import Recognizer
from speech.vad import VadEvent

PromptSource = Callable[[str], Awaitable[Audio]]
"""Text to telephone-ready audio (the prompt cache's render, or a fake in tests)."""


class VoiceDetector(Protocol):
    """A per-turn speech detector fed 20 ms frames (``speech.vad.SpeechDetector``)."""

    def feed(self, frame: bytes) -> VadEvent | None:
        """One frame; a speech-start or speech-end event at a boundary."""
        ...

    @property
    def pause_s(self) -> float:
        """Quiet time so far within the current utterance (0 outside one)."""
        ...


class WorkingDays(Protocol):
    """Working-day arithmetic (``integrations.calendar_vn.HolidayCalendar``)."""

    def overdue_by(self, due: date, today: date) -> int:
        """Working days a dossier due on ``due`` is late on ``today``."""
        ...


@dataclass(frozen=True, kw_only=True)
class CallbackRequest:
    """A caller's request to be called back by an officer."""

    call_id: str
    department: str
    number: str
    reason: str
    requested_at: datetime
    context: Mapping[str, Any] = field(default_factory=dict)


class MessageBox(Protocol):
    """Where callers' voice messages go (``ivr.queue.messages.VoiceMessageBox``)."""

    async def leave(self, department: str, *, call_id: str, caller: str, pcm: bytes) -> LeftMessage:
        """Store 16-bit PCM at the line rate for `department`; raise on failure (the runtime
        apologises to the caller)."""
        ...


class CallbackStore(Protocol):
    """Where callback requests go (a database table, an officer queue)."""

    async def record(self, request: CallbackRequest) -> None:
        """Store the request; raise on failure (the runtime apologises to the caller)."""
        ...


@dataclass(frozen=True)
class RuntimeTiming:
    """Limits of the dialog runtime, in named units. Menu timeouts come from the tree."""

    max_utterance_s: float = 12.0  # a spoken answer is cut after this long
    preroll_s: float = 0.3  # caller audio kept from before the detected speech onset
    # At a pause this long the transcript so far is checked; when it already is a complete
    # answer (an option's keywords, yes or no, every digit asked for) the turn ends there
    # instead of waiting for the detector's full trailing silence (VoiceXML's
    # completetimeout against incompletetimeout).
    complete_pause_s: float = 0.3
    integration_timeout_s: float = 6.0  # a dossier or catalogue query gives up after this
    confirm_timeout_s: float = 5.0  # wait for a yes/no after a read-back
    verify_timeout_s: float = 8.0  # wait for the phone digits of the privacy check
    max_node_visits: int = 400  # a runaway tree is stopped with an apology
    max_call_s: float = 1800.0  # a call is ended (with a goodbye) after this long
    max_failed_rounds: int = 2  # consecutive fruitless rounds through the main menu
    list_page_size: int = 8  # keypad list entries per page (9 turns the page)
    message_max_s: float = 120.0  # a voice message stops at this length (a node may shorten)
    message_silence_end_s: float = 5.0  # ... or after this much silence following speech
    message_no_speech_s: float = 10.0  # ... and is dropped with no speech in this long
    speech_rms: int = 300  # frame level (16-bit RMS) counted as speech, not line noise


@dataclass(frozen=True, kw_only=True)
class RuntimeDeps:
    """Everything the runtime uses, injected once per worker (shared by its calls)."""

    prompts: PromptSource
    dossiers: DossierSource
    catalogue: ProcedureCatalogue
    officers: OfficerDirectory
    calendar: WorkingDays
    now: Callable[[], datetime]
    transfer_targets: Mapping[str, str] = field(default_factory=dict)
    # None: the CallbackRequested event is the record (the call log files it as a callback).
    callbacks: CallbackStore | None = None
    recognizer: Recognizer | None = None
    voice_detector: Callable[[], VoiceDetector] | None = None
    disclosure: DisclosurePolicy = field(default_factory=DisclosurePolicy)
    # Failed personal-details checks shared by every call (the database in a worker).
    check_failures: CheckFailures = field(default_factory=MemoryCheckFailures)
    check_limits: CheckLimits = field(default_factory=CheckLimits)
    timing: RuntimeTiming = field(default_factory=RuntimeTiming)
    # None: "an officer" is a REFER to the department's target; set: its queue and the bridge
    queue: QueueDoor | None = None
    # None: no voice messages (a message node apologises and offers a callback)
    messages: MessageBox | None = None

    @property
    def speech_enabled(self) -> bool:
        """Spoken answers need both a recogniser and a voice detector."""
        return self.recognizer is not None and self.voice_detector is not None


@dataclass(frozen=True)
class PinnedTree:
    """The published tree version a call started with; later publishes never change it."""

    tree: MenuTree
    version: int

    @classmethod
    def of(cls, tree: MenuTree) -> PinnedTree:
        """Pin a tree at its own version (0 for an unpublished draft)."""
        return cls(tree, tree.version if tree.version is not None else 0)


@dataclass(frozen=True)
class LookupRecord:
    """One lookup made during the call, as an officer would want to see it."""

    kind: str  # "dossier" | "procedure"
    key: str
    found: bool
    summary: str = ""


@dataclass
class CallContext:
    """What happened in the call so far: shown to the officer a call is transferred to."""

    call_id: str
    caller: str
    tree_id: str
    tree_version: int
    path: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    recognized: list[str] = field(default_factory=list)
    lookups: list[LookupRecord] = field(default_factory=list)
    department: str | None = None
    reason: str = ""
    survey_score: int | None = None
    check_failures: int = 0  # wrong answers to the personal-details check in this call
    outcome: str = ""  # "hangup", "transferred", "caller-hung-up", "error"

    def summary(self) -> dict[str, Any]:
        """JSON-ready view for the officer screen."""
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "tree": f"{self.tree_id}@{self.tree_version}",
            "path": list(self.path),
            "inputs": dict(self.inputs),
            "recognized": list(self.recognized),
            "lookups": [vars(lookup) for lookup in self.lookups],
            "department": self.department,
            "reason": self.reason,
            "survey_score": self.survey_score,
            "outcome": self.outcome,
        }
