"""Menu trees to and from plain data (the YAML/JSON file format), with a path in every error."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

from menus.model import (
    BackNode,
    BaseNode,
    CallbackNode,
    CallbackNumber,
    Choice,
    Defaults,
    DossierLookupNode,
    GlobalAction,
    GotoNode,
    HangupNode,
    HoursNode,
    InputMode,
    InputNode,
    InputRule,
    MainMenuNode,
    MenuFormatError,
    MenuNode,
    MenuTree,
    MessageNode,
    Node,
    NodeKind,
    OnFail,
    ProcedureMode,
    ProcedureNode,
    Prompt,
    RepeatNode,
    RuleKind,
    SayNode,
    SurveyNode,
    Topic,
    TransferNode,
)

_E = TypeVar("_E", bound=enum.StrEnum)


# --------------------------------------------------------------------------- to plain data


def _value_to_data(value: Any) -> Any:
    if isinstance(value, Prompt):
        return value.to_data()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Choice):
        out: dict[str, Any] = {}
        if value.key is not None:
            out["key"] = value.key
        if value.keywords:
            out["keywords"] = list(value.keywords)
        out["next"] = value.next
        return out
    if isinstance(value, InputRule):
        if value.kind is RuleKind.DIGITS:
            return {"kind": "digits", "min": value.min_digits, "max": value.max_digits}
        if value.kind is RuleKind.REGEX:
            return {"kind": "regex", "pattern": value.pattern}
        return value.kind.value
    if isinstance(value, tuple):
        return [_value_to_data(v) for v in value]
    return value


def node_to_dict(node: BaseNode) -> dict[str, Any]:
    """One node as plain data (without its id, which is its key in ``nodes``)."""
    out: dict[str, Any] = {"kind": node.kind.value}
    for f in fields(node):
        if f.name == "id":
            continue
        value = getattr(node, f.name)
        if value == f.default:
            continue
        out[f.name] = _value_to_data(value)
    return out


def tree_to_dict(tree: MenuTree) -> dict[str, Any]:
    """A tree as plain data; ``from_dict(to_dict(t)) == t``."""
    d = tree.defaults
    out: dict[str, Any] = {"id": tree.id, "title": tree.title}
    if tree.version is not None:
        out["version"] = tree.version
    if tree.description:
        out["description"] = tree.description
    out["language"] = tree.language
    out["start"] = tree.start
    out["officer_department"] = tree.officer_department
    if tree.officer_node is not None:
        out["officer_node"] = tree.officer_node
    out["global_keys"] = {k: v.value for k, v in tree.global_keys.items()}
    if tree.global_keywords:
        out["global_keywords"] = {k.value: list(v) for k, v in tree.global_keywords.items()}
    out["defaults"] = {
        "timeout_s": d.timeout_s,
        "inter_digit_timeout_s": d.inter_digit_timeout_s,
        "retries": d.retries,
        "on_fail": d.on_fail.value,
        "no_input": d.no_input.to_data(),
        "no_match": d.no_match.to_data(),
    }
    out["nodes"] = {node_id: node_to_dict(node) for node_id, node in tree.nodes.items()}
    return out


# --------------------------------------------------------------------------- from plain data


class _Reader:
    """Typed access to one mapping, raising MenuFormatError with the path of a bad value."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise MenuFormatError("expected a mapping", path)
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            raise MenuFormatError("required field missing", self.at(key))
        return self.data[key]

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise MenuFormatError("expected a string", self.at(key))
        return value

    def opt_text(self, key: str) -> str | None:
        self.seen.add(key)
        return self.text(key) if self.has(key) else None

    def number(self, key: str) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MenuFormatError("expected a number", self.at(key))
        return float(value)

    def opt_number(self, key: str) -> float | None:
        self.seen.add(key)
        return self.number(key) if self.has(key) else None

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise MenuFormatError("expected an integer", self.at(key))
        return value

    def opt_integer(self, key: str) -> int | None:
        self.seen.add(key)
        return self.integer(key) if self.has(key) else None

    def flag(self, key: str, default: bool) -> bool:
        self.seen.add(key)
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise MenuFormatError("expected true or false", self.at(key))
        return value

    def choice(self, key: str, cls: type[_E]) -> _E:
        value = self.raw(key)
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise MenuFormatError(f"expected one of: {allowed}", self.at(key)) from None

    def opt_choice(self, key: str, cls: type[_E]) -> _E | None:
        self.seen.add(key)
        return self.choice(key, cls) if self.has(key) else None

    def prompt(self, key: str) -> Prompt:
        return _prompt(self.raw(key), self.at(key))

    def opt_prompt(self, key: str) -> Prompt | None:
        self.seen.add(key)
        return self.prompt(key) if self.has(key) else None

    def items(self, key: str) -> list[Any]:
        self.seen.add(key)
        if not self.has(key):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            raise MenuFormatError("expected a list", self.at(key))
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise MenuFormatError("expected a string", f"{self.at(key)}[{i}]")
        return tuple(items)

    def reject_unknown(self) -> None:
        unknown = sorted(str(k) for k in self.data if k not in self.seen)
        if unknown:
            raise MenuFormatError(f"unknown field(s): {', '.join(unknown)}", self.path)


def _prompt(value: Any, path: str) -> Prompt:
    if isinstance(value, str):
        return Prompt(value)
    r = _Reader(value, path)
    prompt = Prompt(r.text("text"), r.opt_text("recording"))
    r.reject_unknown()
    return prompt


def _choice(value: Any, path: str) -> Choice:
    r = _Reader(value, path)
    key = r.raw("key") if r.has("key") else None
    r.seen.add("key")
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)  # YAML reads an unquoted 1 as a number
    if key is not None and not isinstance(key, str):
        raise MenuFormatError("expected a key (0-9, * or #)", r.at("key"))
    choice = Choice(next=r.text("next"), key=key, keywords=r.texts("keywords"))
    r.reject_unknown()
    return choice


def _rule(value: Any, path: str) -> InputRule:
    if isinstance(value, str):
        try:
            kind = RuleKind(value)
        except ValueError:
            raise MenuFormatError(f"unknown rule {value!r}", path) from None
        if kind in (RuleKind.DIGITS, RuleKind.REGEX):
            raise MenuFormatError(f"rule {value!r} needs parameters", path)
        return InputRule(kind)
    r = _Reader(value, path)
    kind = r.choice("kind", RuleKind)
    if kind is RuleKind.DIGITS:
        rule = InputRule(kind, min_digits=r.integer("min"), max_digits=r.integer("max"))
    elif kind is RuleKind.REGEX:
        rule = InputRule(kind, pattern=r.text("pattern"))
    else:
        rule = InputRule(kind)
    r.reject_unknown()
    return rule


def _common(r: _Reader, node_id: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "prompt": r.opt_prompt("prompt"),
        "no_input": r.opt_prompt("no_input"),
        "no_match": r.opt_prompt("no_match"),
        "timeout_s": r.opt_number("timeout_s"),
        "retries": r.opt_integer("retries"),
        "on_fail": r.opt_choice("on_fail", OnFail),
    }


def node_from_dict(node_id: str, data: Any, path: str = "") -> Node:
    """One node from plain data; ``path`` prefixes error locations."""
    path = path or f"nodes.{node_id}"
    r = _Reader(data, path)
    kind = r.choice("kind", NodeKind)
    common = _common(r, node_id)
    node: Node
    if kind is NodeKind.MENU:
        choices = tuple(
            _choice(c, f"{r.at('choices')}[{i}]") for i, c in enumerate(r.items("choices"))
        )
        node = MenuNode(**common, choices=choices)
    elif kind is NodeKind.SAY:
        node = SayNode(**common, next=r.text("next"))
    elif kind is NodeKind.INPUT:
        node = InputNode(
            **common,
            variable=r.text("variable"),
            rule=_rule(r.raw("rule"), r.at("rule")),
            next=r.text("next"),
            mode=r.opt_choice("mode", InputMode) or InputMode.BOTH,
            confirm=r.flag("confirm", False),
            confirm_prompt=r.opt_prompt("confirm_prompt"),
            terminator=r.opt_text("terminator") if "terminator" in r.data else "#",
            inter_digit_timeout_s=r.opt_number("inter_digit_timeout_s"),
        )
    elif kind is NodeKind.DOSSIER_LOOKUP:
        node = DossierLookupNode(
            **common,
            variable=r.text("variable"),
            found=r.text("found"),
            not_found=r.text("not_found"),
            failed=r.text("failed"),
            overdue=r.opt_text("overdue"),
            personal_details=r.flag("personal_details", False),
            verify_prompt=r.opt_prompt("verify_prompt"),
        )
    elif kind is NodeKind.PROCEDURE:
        topics_raw = r.texts("topics") if r.has("topics") else tuple(t.value for t in Topic)
        topics: list[Topic] = []
        for i, t in enumerate(topics_raw):
            try:
                topics.append(Topic(t))
            except ValueError:
                raise MenuFormatError(f"unknown topic {t!r}", f"{r.at('topics')}[{i}]") from None
        node = ProcedureNode(
            **common,
            mode=r.choice("mode", ProcedureMode),
            next=r.text("next"),
            department=r.opt_text("department"),
            field=r.opt_text("field"),
            procedure=r.opt_text("procedure"),
            topics=tuple(topics),
            not_found=r.opt_text("not_found"),
        )
    elif kind is NodeKind.TRANSFER:
        r.seen.add("reason")
        node = TransferNode(
            **common,
            department=r.text("department"),
            reason=r.text("reason") if r.has("reason") else "",
            failed=r.opt_text("failed"),
        )
    elif kind is NodeKind.CALLBACK:
        node = CallbackNode(
            **common,
            department=r.text("department"),
            next=r.text("next"),
            number=r.opt_choice("number", CallbackNumber) or CallbackNumber.CALLER_ID,
            variable=r.opt_text("variable"),
        )
    elif kind is NodeKind.MESSAGE:
        node = MessageNode(
            **common,
            department=r.text("department"),
            next=r.text("next"),
            max_s=r.opt_number("max_s"),
        )
    elif kind is NodeKind.HOURS:
        node = HoursNode(
            **common,
            department=r.text("department"),
            open=r.text("open"),
            closed=r.text("closed"),
            holiday=r.opt_text("holiday"),
        )
    elif kind is NodeKind.SURVEY:
        r.seen.add("variable")
        node = SurveyNode(
            **common,
            next=r.text("next"),
            variable=r.text("variable") if r.has("variable") else "survey_score",
        )
    elif kind is NodeKind.GOTO:
        node = GotoNode(**common, target=r.text("target"))
    elif kind is NodeKind.BACK:
        node = BackNode(**common)
    elif kind is NodeKind.REPEAT:
        node = RepeatNode(**common)
    elif kind is NodeKind.MAIN_MENU:
        node = MainMenuNode(**common)
    else:
        node = HangupNode(**common)
    r.reject_unknown()
    return node


def _defaults(value: Any, path: str) -> Defaults:
    base = Defaults()
    r = _Reader(value, path)
    timeout = r.opt_number("timeout_s")
    inter = r.opt_number("inter_digit_timeout_s")
    retries = r.opt_integer("retries")
    defaults = Defaults(
        timeout_s=base.timeout_s if timeout is None else timeout,
        inter_digit_timeout_s=base.inter_digit_timeout_s if inter is None else inter,
        retries=base.retries if retries is None else retries,
        on_fail=r.opt_choice("on_fail", OnFail) or base.on_fail,
        no_input=r.opt_prompt("no_input") or base.no_input,
        no_match=r.opt_prompt("no_match") or base.no_match,
    )
    r.reject_unknown()
    return defaults


def tree_from_dict(data: Mapping[str, Any]) -> MenuTree:
    """A tree from plain data (as loaded from YAML or JSON); raises :class:`MenuFormatError`."""
    r = _Reader(data, "")
    nodes_raw = r.raw("nodes")
    if not isinstance(nodes_raw, Mapping):
        raise MenuFormatError("expected a mapping of node id to node", "nodes")
    nodes: dict[str, Node] = {}
    for node_id, node_data in nodes_raw.items():
        if not isinstance(node_id, str):
            raise MenuFormatError("node ids must be strings", f"nodes.{node_id}")
        nodes[node_id] = node_from_dict(node_id, node_data)

    global_keys: dict[str, GlobalAction] = {}
    r.seen.add("global_keys")
    if r.has("global_keys"):
        keys = _Reader(r.data["global_keys"], "global_keys")
        for key in list(keys.data):
            name = str(key)  # YAML reads an unquoted 9 as a number
            if name in global_keys:
                raise MenuFormatError("duplicate key", f"global_keys.{name}")
            try:
                global_keys[name] = GlobalAction(keys.data[key])
            except (ValueError, TypeError):
                allowed = ", ".join(a.value for a in GlobalAction)
                raise MenuFormatError(
                    f"expected one of: {allowed}", f"global_keys.{name}"
                ) from None

    global_keywords: dict[GlobalAction, tuple[str, ...]] = {}
    r.seen.add("global_keywords")
    if r.has("global_keywords"):
        words = _Reader(r.data["global_keywords"], "global_keywords")
        for action in list(words.data):
            try:
                parsed = GlobalAction(action)
            except (ValueError, TypeError):
                raise MenuFormatError("unknown action", f"global_keywords.{action}") from None
            global_keywords[parsed] = words.texts(action)

    r.seen.add("defaults")
    defaults = _defaults(r.data["defaults"], "defaults") if r.has("defaults") else Defaults()
    r.seen.add("language")
    tree = MenuTree(
        id=r.text("id"),
        title=r.text("title"),
        start=r.text("start"),
        officer_department=r.text("officer_department"),
        nodes=nodes,
        global_keys=global_keys,
        global_keywords=global_keywords,
        officer_node=r.opt_text("officer_node"),
        defaults=defaults,
        description=r.opt_text("description") or "",
        language=r.text("language") if r.has("language") else "vi",
        version=r.opt_integer("version"),
    )
    r.reject_unknown()
    return tree
