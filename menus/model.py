"""Menu trees as immutable data: the tree and its node kinds (conversion to and from plain data
is in :mod:`menus.tree_data`).

A tree is what admins edit and publish and what the dialog runtime interprets. Everything here is
frozen, so a call can pin the tree it started with while a new version is published.

Conventions the runtime relies on:

- Every node has an ``id`` (its key in ``MenuTree.nodes``) and optional per-node ``prompt``,
  ``no_input`` and ``no_match`` prompts, ``timeout_s``, ``retries`` and ``on_fail``. When a
  per-node value is ``None`` the tree's :class:`Defaults` apply; use the ``MenuTree.*_for``
  helpers to get the effective value.
- Prompt text may contain ``{name}`` placeholders naming call variables (set by input nodes,
  lookups and the runtime), filled in when the prompt is spoken.
- After ``retries`` failed attempts (no input or no match) the caller is never left in a dead end:
  ``on_fail`` is ``officer`` (go to ``MenuTree.officer_node`` if set, else transfer to
  ``MenuTree.officer_department``) or ``main_menu`` (go to ``MenuTree.start``).
- Global keys (``MenuTree.global_keys``, e.g. 9 repeat, * back, 0 officer) work wherever the
  caller may press a key; a menu's own choice keys take precedence over global keys in that menu.
- ``back`` returns to the most recent menu node visited before the current one (the start node
  when there is none); ``repeat`` replays the previous node; ``main_menu`` goes to ``start``.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


class MenuError(Exception):
    """Base of every error raised while reading a menu tree."""


class MenuFormatError(MenuError):
    """A dict does not describe a valid tree; ``path`` locates the offending value."""

    def __init__(self, message: str, path: str = "") -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class NodeKind(enum.StrEnum):
    """The kind of a node, as written in the ``kind`` field."""

    MENU = "menu"
    SAY = "say"
    INPUT = "input"
    DOSSIER_LOOKUP = "dossier_lookup"
    PROCEDURE = "procedure"
    TRANSFER = "transfer"
    CALLBACK = "callback"
    MESSAGE = "message"
    HOURS = "hours"
    SURVEY = "survey"
    GOTO = "goto"
    BACK = "back"
    REPEAT = "repeat"
    MAIN_MENU = "main_menu"
    HANGUP = "hangup"


class OnFail(enum.StrEnum):
    """Where a caller goes after the retries of a node are used up."""

    OFFICER = "officer"
    MAIN_MENU = "main_menu"


class GlobalAction(enum.StrEnum):
    """Actions a global key (or global keyword) triggers anywhere in the tree."""

    REPEAT = "repeat"
    BACK = "back"
    OFFICER = "officer"
    MAIN_MENU = "main_menu"


class InputMode(enum.StrEnum):
    """How an input node accepts its value."""

    DIGITS = "digits"
    SPEECH = "speech"
    BOTH = "both"


class RuleKind(enum.StrEnum):
    """Validation rule of an input value."""

    DOSSIER_CODE = "dossier_code"
    PHONE = "phone"
    DIGITS = "digits"
    DATE = "date"  # a calendar date, keyed DDMMYYYY or spoken
    REGEX = "regex"  # a bounded pattern run by RE2 (menus/patterns.py)


class ProcedureMode(enum.StrEnum):
    """Browse the catalogue (department, then field, then procedure) or find by spoken name."""

    BROWSE = "browse"
    FIND = "find"


class Topic(enum.StrEnum):
    """What to read about a procedure."""

    DOCUMENTS = "documents"
    FEES = "fees"
    PROCESSING_TIME = "processing_time"
    SUBMISSION = "submission"  # online portal, by public post, in person


class CallbackNumber(enum.StrEnum):
    """Where a callback node takes the number to call back."""

    CALLER_ID = "caller_id"
    INPUT = "input"


DTMF_KEYS = frozenset("0123456789*#")
RUNTIME_VARIABLES = frozenset(
    {
        "dossier_code",  # set by a dossier lookup that found the dossier
        "dossier_status",
        "dossier_due",
        "procedure_name",  # set by a procedure node once a procedure is chosen
        "procedure_code",
        "hours_state",  # set by an hours node: open, closed or holiday
    }
)
"""Call variables the runtime sets itself, usable as ``{name}`` in any prompt (besides the
``variable`` of input and survey nodes, and ``{value}`` in an input's ``confirm_prompt``)."""
ALL_TOPICS: tuple[Topic, ...] = tuple(Topic)
MAX_MESSAGE_S = 600.0
"""The longest a message node's ``max_s`` may be, in seconds."""


@dataclass(frozen=True)
class Prompt:
    """Something said to the caller: text (spoken by TTS) and optionally a recorded prompt id."""

    text: str
    recording: str | None = None

    def to_data(self) -> str | dict[str, str]:
        """A bare string when there is no recording (the common, readable case)."""
        if self.recording is None:
            return self.text
        return {"text": self.text, "recording": self.recording}


@dataclass(frozen=True)
class Defaults:
    """Tree-wide values used when a node does not set its own."""

    timeout_s: float = 5.0
    inter_digit_timeout_s: float = 3.0
    retries: int = 2
    on_fail: OnFail = OnFail.OFFICER
    no_input: Prompt = Prompt("Xin lỗi, tôi chưa nghe thấy quý vị nói gì.")
    no_match: Prompt = Prompt("Xin lỗi, tôi chưa nghe rõ lựa chọn của quý vị.")


@dataclass(frozen=True)
class Choice:
    """One option of a menu: a DTMF key and/or spoken keywords (synonyms), leading to ``next``."""

    next: str
    key: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputRule:
    """How an input value is checked: a dossier code, a phone number, digits or a regex."""

    kind: RuleKind
    min_digits: int | None = None  # for kind digits
    max_digits: int | None = None  # for kind digits
    pattern: str | None = None  # for kind regex (full match)


@dataclass(frozen=True, kw_only=True)
class BaseNode:
    """Fields shared by every node kind."""

    kind: ClassVar[NodeKind]
    id: str
    prompt: Prompt | None = None
    no_input: Prompt | None = None
    no_match: Prompt | None = None
    timeout_s: float | None = None
    retries: int | None = None
    on_fail: OnFail | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        """Explicit references to other nodes, as (field path, node id) pairs."""
        return ()


@dataclass(frozen=True, kw_only=True)
class MenuNode(BaseNode):
    """Play the prompt, then wait for a key or a spoken keyword naming one of the choices."""

    kind: ClassVar[NodeKind] = NodeKind.MENU
    choices: tuple[Choice, ...] = ()

    def targets(self) -> tuple[tuple[str, str], ...]:
        return tuple((f"choices[{i}].next", c.next) for i, c in enumerate(self.choices))


@dataclass(frozen=True, kw_only=True)
class SayNode(BaseNode):
    """Play a static prompt, then go to ``next``."""

    kind: ClassVar[NodeKind] = NodeKind.SAY
    next: str

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, kw_only=True)
class InputNode(BaseNode):
    """Ask for a value (keypad and/or speech), check it against ``rule``, optionally read it back
    for confirmation (``confirm_prompt`` with ``{value}``; key 1 yes, 2 retry), store it in the
    call variable ``variable``, then go to ``next``."""

    kind: ClassVar[NodeKind] = NodeKind.INPUT
    variable: str
    rule: InputRule
    next: str
    mode: InputMode = InputMode.BOTH
    confirm: bool = False
    confirm_prompt: Prompt | None = None
    terminator: str | None = "#"
    inter_digit_timeout_s: float | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, kw_only=True)
class DossierLookupNode(BaseNode):
    """Look up the dossier whose code is in call variable ``variable`` and read its status.

    ``found`` follows a successful lookup; ``overdue`` (when set) replaces ``found`` for a dossier
    past its promised return date. Personal details are read only when ``personal_details`` is
    true and the caller passes the privacy check (caller ID equals the dossier's phone, or the
    caller types its last digits when asked with ``verify_prompt``)."""

    kind: ClassVar[NodeKind] = NodeKind.DOSSIER_LOOKUP
    variable: str
    found: str
    not_found: str
    failed: str
    overdue: str | None = None
    personal_details: bool = False
    verify_prompt: Prompt | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        out = [("found", self.found), ("not_found", self.not_found), ("failed", self.failed)]
        if self.overdue is not None:
            out.append(("overdue", self.overdue))
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class ProcedureNode(BaseNode):
    """Procedure guidance from the catalogue.

    ``browse``: the caller picks a department (unless ``department`` is fixed), then a field
    (unless ``field`` is fixed), then a procedure. ``find``: the caller says a procedure's name.
    ``procedure`` fixes one procedure id outright. The runtime then reads ``topics`` and goes
    to ``next``; ``not_found`` (or ``on_fail`` when unset) when nothing matches."""

    kind: ClassVar[NodeKind] = NodeKind.PROCEDURE
    mode: ProcedureMode
    next: str
    department: str | None = None
    field: str | None = None
    procedure: str | None = None
    topics: tuple[Topic, ...] = ALL_TOPICS
    not_found: str | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        out = [("next", self.next)]
        if self.not_found is not None:
            out.append(("not_found", self.not_found))
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class TransferNode(BaseNode):
    """Transfer the caller to an officer of ``department`` (after the prompt, if any); ``reason``
    is shown to the officer. When the transfer fails, go to ``failed`` (main menu if unset)."""

    kind: ClassVar[NodeKind] = NodeKind.TRANSFER
    department: str
    reason: str = ""
    failed: str | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("failed", self.failed),) if self.failed is not None else ()


@dataclass(frozen=True, kw_only=True)
class CallbackNode(BaseNode):
    """Record a callback request for ``department``: the number is the caller ID, or the call
    variable ``variable`` set by an earlier input node (``number: input``). Then ``next``."""

    kind: ClassVar[NodeKind] = NodeKind.CALLBACK
    department: str
    next: str
    number: CallbackNumber = CallbackNumber.CALLER_ID
    variable: str | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, kw_only=True)
class MessageNode(BaseNode):
    """Record a voice message for ``department`` (outside working hours): the prompt (a default
    sentence when unset), a tone, then the caller's voice until ``#``, silence after speech,
    ``max_s`` seconds (the runtime's limit when unset) or hang-up. Then ``next``."""

    kind: ClassVar[NodeKind] = NodeKind.MESSAGE
    department: str
    next: str
    max_s: float | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, kw_only=True)
class HoursNode(BaseNode):
    """Branch on the working hours of ``department``: ``open``, ``closed`` or ``holiday``
    (``closed`` when ``holiday`` is unset)."""

    kind: ClassVar[NodeKind] = NodeKind.HOURS
    department: str
    open: str
    closed: str
    holiday: str | None = None

    def targets(self) -> tuple[tuple[str, str], ...]:
        out = [("open", self.open), ("closed", self.closed)]
        if self.holiday is not None:
            out.append(("holiday", self.holiday))
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class SurveyNode(BaseNode):
    """Ask for a satisfaction score from 1 to 5 (key or word), store it in ``variable``, then
    ``next``. A survey is never forced: a caller who gives no score within the retries also goes
    on to ``next`` (``on_fail`` does not apply)."""

    kind: ClassVar[NodeKind] = NodeKind.SURVEY
    next: str
    variable: str = "survey_score"

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, kw_only=True)
class GotoNode(BaseNode):
    """Go to ``target`` (after the prompt, if any)."""

    kind: ClassVar[NodeKind] = NodeKind.GOTO
    target: str

    def targets(self) -> tuple[tuple[str, str], ...]:
        return (("target", self.target),)


@dataclass(frozen=True, kw_only=True)
class BackNode(BaseNode):
    """Return to the previous menu."""

    kind: ClassVar[NodeKind] = NodeKind.BACK


@dataclass(frozen=True, kw_only=True)
class RepeatNode(BaseNode):
    """Replay the previous node."""

    kind: ClassVar[NodeKind] = NodeKind.REPEAT


@dataclass(frozen=True, kw_only=True)
class MainMenuNode(BaseNode):
    """Go to the tree's start node."""

    kind: ClassVar[NodeKind] = NodeKind.MAIN_MENU


@dataclass(frozen=True, kw_only=True)
class HangupNode(BaseNode):
    """Say goodbye (the prompt) and end the call."""

    kind: ClassVar[NodeKind] = NodeKind.HANGUP


Node = (
    MenuNode
    | SayNode
    | InputNode
    | DossierLookupNode
    | ProcedureNode
    | TransferNode
    | CallbackNode
    | MessageNode
    | HoursNode
    | SurveyNode
    | GotoNode
    | BackNode
    | RepeatNode
    | MainMenuNode
    | HangupNode
)

NODE_CLASSES: Mapping[NodeKind, type[BaseNode]] = types.MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            MenuNode,
            SayNode,
            InputNode,
            DossierLookupNode,
            ProcedureNode,
            TransferNode,
            CallbackNode,
            MessageNode,
            HoursNode,
            SurveyNode,
            GotoNode,
            BackNode,
            RepeatNode,
            MainMenuNode,
            HangupNode,
        )
    }
)
"""Node class for each kind."""

LISTENING_KINDS = frozenset({NodeKind.MENU, NodeKind.INPUT, NodeKind.SURVEY, NodeKind.PROCEDURE})
"""Kinds that wait for the caller, so no-input / no-match retries and ``on_fail`` apply."""


@dataclass(frozen=True)
class MenuTree:
    """A whole menu tree. ``version`` is set by the store for published versions."""

    id: str
    title: str
    start: str
    officer_department: str
    nodes: Mapping[str, Node]
    global_keys: Mapping[str, GlobalAction] = field(default_factory=dict)
    global_keywords: Mapping[GlobalAction, tuple[str, ...]] = field(default_factory=dict)
    officer_node: str | None = None
    defaults: Defaults = field(default_factory=Defaults)
    description: str = ""
    language: str = "vi"
    version: int | None = None

    def __post_init__(self) -> None:
        # Read-only views so a pinned tree cannot be changed under a live call.
        for name in ("nodes", "global_keys", "global_keywords"):
            value = getattr(self, name)
            if not isinstance(value, types.MappingProxyType):
                object.__setattr__(self, name, types.MappingProxyType(dict(value)))

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError if absent; a validated tree has no dangling ids)."""
        return self.nodes[node_id]

    def timeout_for(self, node: BaseNode) -> float:
        """Effective wait for the caller's first key or word, in seconds."""
        return node.timeout_s if node.timeout_s is not None else self.defaults.timeout_s

    def retries_for(self, node: BaseNode) -> int:
        """Effective number of retries after no input or no match."""
        return node.retries if node.retries is not None else self.defaults.retries

    def on_fail_for(self, node: BaseNode) -> OnFail:
        """Effective destination once the retries are used up."""
        return node.on_fail if node.on_fail is not None else self.defaults.on_fail

    def no_input_for(self, node: BaseNode) -> Prompt:
        """Effective prompt when the caller said and pressed nothing."""
        return node.no_input if node.no_input is not None else self.defaults.no_input

    def no_match_for(self, node: BaseNode) -> Prompt:
        """Effective prompt when the caller's answer matched no choice or failed the rule."""
        return node.no_match if node.no_match is not None else self.defaults.no_match

    def inter_digit_timeout_for(self, node: BaseNode) -> float:
        """Effective wait between two keypad digits, in seconds."""
        own = node.inter_digit_timeout_s if isinstance(node, InputNode) else None
        return own if own is not None else self.defaults.inter_digit_timeout_s

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data (the YAML/JSON file format)."""
        from menus.tree_data import tree_to_dict  # the conversion builds on this module

        return tree_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MenuTree:
        """Build a tree from plain data; raises :class:`MenuFormatError` with a path."""
        from menus.tree_data import tree_from_dict  # the conversion builds on this module

        return tree_from_dict(data)
