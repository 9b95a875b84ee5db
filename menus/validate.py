"""Checks a menu tree makes sense as a hotline before it may be published.

:func:`validate` returns every :class:`Problem` (node id, field path, stable code, message); an
empty list means the tree may be published. The checks:

- references: dangling node references, ``start``/``officer_node`` that do not exist, variables
  read by lookups and callbacks that no input node sets;
- reachability: nodes no caller can reach from ``start`` (or ``officer_node``);
- menus: empty menus, keys that are not DTMF keys, duplicate keys, spoken keywords that collide
  within one menu (or with a global keyword) once case and Vietnamese diacritics are folded;
- prompts: missing or blank prompts where the caller must hear something;
- loops: cycles from which neither an officer nor a hang-up can be reached, and cycles in which no
  node waits for the caller (they would spin or talk forever);
- depth: more menu levels than callers can bear;
- data: unknown departments and procedures (the known ids are injected), timeouts and retries
  outside sane bounds, input rules that cannot work.

Edges the runtime adds implicitly are part of the graph: ``main_menu`` goes to ``start``; ``back``
to ``start`` or any menu before it; ``repeat`` to the node before it; a listening node whose
retries run out goes to the officer (``officer_node`` when set) or to ``start``; a transfer that
fails without ``failed`` goes to ``start``; the officer global key reaches an officer from any
listening node.
"""

from __future__ import annotations

import enum
import re
import string
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from integrations.base import OfficerDirectory, ProcedureCatalogue
from menus.graph import Graph as _Graph
from menus.graph import names as _names
from menus.loader import DEFAULT_LIMITS as DEFAULT_LOAD_LIMITS
from menus.loader import Format, LoadLimits, MenuLoadError, load_data
from menus.model import (
    DTMF_KEYS,
    LISTENING_KINDS,
    MAX_MESSAGE_S,
    RUNTIME_VARIABLES,
    CallbackNode,
    CallbackNumber,
    DossierLookupNode,
    HangupNode,
    HoursNode,
    InputNode,
    MenuFormatError,
    MenuNode,
    MenuTree,
    MessageNode,
    Node,
    NodeKind,
    ProcedureNode,
    Prompt,
    RuleKind,
    SayNode,
    SurveyNode,
    TransferNode,
)
from menus.patterns import pattern_problem
from menus.schema import MenuSchemaError, parse_tree


class ProblemCode(enum.StrEnum):
    """Stable codes of validation problems."""

    DANGLING_REFERENCE = "dangling-reference"
    UNREACHABLE = "unreachable"
    EMPTY_MENU = "empty-menu"
    BAD_KEY = "bad-key"
    DUPLICATE_KEY = "duplicate-key"
    KEYWORD_COLLISION = "keyword-collision"
    MISSING_PROMPT = "missing-prompt"
    LOOP_WITHOUT_EXIT = "loop-without-exit"
    LOOP_WITHOUT_INPUT = "loop-without-input"
    DEPTH_EXCEEDED = "depth-exceeded"
    UNKNOWN_DEPARTMENT = "unknown-department"
    UNKNOWN_PROCEDURE = "unknown-procedure"
    UNKNOWN_VARIABLE = "unknown-variable"
    BAD_TIMEOUT = "bad-timeout"
    BAD_RETRIES = "bad-retries"
    BAD_RULE = "bad-rule"
    BAD_ID = "bad-id"
    UNKNOWN_PLACEHOLDER = "unknown-placeholder"  # {name} no node or the runtime ever sets
    LOAD_ERROR = "load-error"  # the file itself was refused (syntax, size, depth, aliases …)
    SCHEMA = "schema"  # the data does not match the published JSON Schema
    FORMAT = "format"  # the data matches the schema but still cannot form a tree


@dataclass(frozen=True)
class Problem:
    """One reason a tree cannot be published. ``node_id`` is None for tree-level fields."""

    node_id: str | None
    field: str
    code: ProblemCode
    message: str

    def __str__(self) -> str:
        where = self.node_id if self.node_id is not None else "(tree)"
        return f"{where}: {self.field or '-'}: {self.message} [{self.code.value}]"


@dataclass(frozen=True)
class ValidationLimits:
    """Bounds a publishable tree must respect."""

    max_menu_depth: int = 5  # menu levels a caller passes through, the start menu included
    min_timeout_s: float = 1.0
    max_timeout_s: float = 30.0
    max_retries: int = 5


DEFAULT_LIMITS = ValidationLimits()
MIN_MESSAGE_S = 5.0  # a shorter voice message could hardly say who called and why


_NEEDS_PROMPT = (
    MenuNode,
    SayNode,
    InputNode,
    SurveyNode,
    HangupNode,
    CallbackNode,
    ProcedureNode,
)


@dataclass(frozen=True)
class KnownIds:
    """The department and procedure ids a tree may refer to."""

    departments: frozenset[str] = frozenset()
    procedures: frozenset[str] = frozenset()


async def known_ids(directory: OfficerDirectory, catalogue: ProcedureCatalogue) -> KnownIds:
    """Known ids read through the officer directory and the procedure catalogue."""
    departments = await directory.departments()
    procedures: set[str] = set()
    for department in departments:
        procedures.update(p.code for p in await catalogue.by_department(department.id))
    return KnownIds(frozenset(d.id for d in departments), frozenset(procedures))


def fold(text: str) -> str:
    """Case-, diacritic- and spacing-insensitive form of a keyword (``Hồ  Sơ`` -> ``ho so``)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    words = re.findall(r"\w+", bare.casefold())
    return " ".join(words)


def validate(
    tree: MenuTree,
    *,
    departments: Collection[str],
    procedures: Collection[str],
    limits: ValidationLimits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Every problem of ``tree``, in node order. ``departments`` and ``procedures`` are the ids
    that exist (from the officer directory and the procedure catalogue)."""
    checker = _Checker(tree, set(departments), set(procedures), limits)
    return checker.run()


class _Checker:
    def __init__(
        self,
        tree: MenuTree,
        departments: set[str],
        procedures: set[str],
        limits: ValidationLimits,
    ) -> None:
        self.tree = tree
        self.departments = departments
        self.procedures = procedures
        self.limits = limits
        self.problems: list[Problem] = []

    def add(self, node_id: str | None, field: str, code: ProblemCode, message: str) -> None:
        self.problems.append(Problem(node_id, field, code, message))

    def run(self) -> list[Problem]:
        self.check_tree_fields()
        for node_id, node in self.tree.nodes.items():
            if node.id != node_id:
                self.add(node_id, "id", ProblemCode.BAD_ID, f"node says its id is {node.id!r}")
            self.check_references(node_id, node)
            self.check_prompts(node_id, node)
            self.check_timing(node_id, node)
            self.check_departments(node_id, node)
            if isinstance(node, MenuNode):
                self.check_menu(node_id, node)
            if isinstance(node, InputNode):
                self.check_rule(node_id, node)
        self.check_variables()
        self.check_placeholders()
        graph = _Graph(self.tree)
        self.check_reachable(graph)
        self.check_loops(graph)
        self.check_depth(graph)
        order = {node_id: i for i, node_id in enumerate(self.tree.nodes)}
        return sorted(
            self.problems,
            key=lambda p: (-1 if p.node_id is None else order.get(p.node_id, len(order)), p.field),
        )

    # ------------------------------------------------------------------ tree and references

    def check_tree_fields(self) -> None:
        tree = self.tree
        if tree.start not in tree.nodes:
            self.add(None, "start", ProblemCode.DANGLING_REFERENCE, f"no node {tree.start!r}")
        if tree.officer_node is not None and tree.officer_node not in tree.nodes:
            msg = f"no node {tree.officer_node!r}"
            self.add(None, "officer_node", ProblemCode.DANGLING_REFERENCE, msg)
        if tree.officer_department not in self.departments:
            msg = f"unknown department {tree.officer_department!r}"
            self.add(None, "officer_department", ProblemCode.UNKNOWN_DEPARTMENT, msg)
        for key in tree.global_keys:
            if key not in DTMF_KEYS:
                self.add(None, f"global_keys.{key}", ProblemCode.BAD_KEY, f"{key!r} is no key")
        defaults = tree.defaults
        for name, prompt in (("no_input", defaults.no_input), ("no_match", defaults.no_match)):
            if not prompt.text.strip():
                self.add(None, f"defaults.{name}", ProblemCode.MISSING_PROMPT, "blank prompt")
        self.check_seconds(None, "defaults.timeout_s", defaults.timeout_s)
        self.check_seconds(None, "defaults.inter_digit_timeout_s", defaults.inter_digit_timeout_s)
        self.check_retries(None, "defaults.retries", defaults.retries)

    def check_references(self, node_id: str, node: Node) -> None:
        for field, target in node.targets():
            if target not in self.tree.nodes:
                self.add(node_id, field, ProblemCode.DANGLING_REFERENCE, f"no node {target!r}")

    def check_placeholders(self) -> None:
        variables = set(RUNTIME_VARIABLES)
        for node in self.tree.nodes.values():
            if isinstance(node, InputNode | SurveyNode):
                variables.add(node.variable)
        defaults = self.tree.defaults
        for name, fallback in (("no_input", defaults.no_input), ("no_match", defaults.no_match)):
            self.check_template(None, f"defaults.{name}", fallback, variables)
        for node_id, node in self.tree.nodes.items():
            for name in ("prompt", "no_input", "no_match", "confirm_prompt", "verify_prompt"):
                allowed = variables | {"value"} if name == "confirm_prompt" else variables
                self.check_template(node_id, name, getattr(node, name, None), allowed)

    def check_template(
        self, node_id: str | None, field: str, prompt: Prompt | None, variables: set[str]
    ) -> None:
        if prompt is None:
            return
        try:
            parts = list(string.Formatter().parse(prompt.text))
        except ValueError as exc:
            msg = f"malformed placeholder ({exc}); write {{{{ and }}}} for literal braces"
            self.add(node_id, field, ProblemCode.UNKNOWN_PLACEHOLDER, msg)
            return
        for _literal, name, _spec, _conversion in parts:
            if name is None:
                continue
            base = re.split(r"[.\[]", name, maxsplit=1)[0]
            if base not in variables:
                msg = f"{{{name}}} names no call variable (it would be spoken as nothing)"
                self.add(node_id, field, ProblemCode.UNKNOWN_PLACEHOLDER, msg)

    def check_variables(self) -> None:
        known = {n.variable for n in self.tree.nodes.values() if isinstance(n, InputNode)}
        for node_id, node in self.tree.nodes.items():
            if isinstance(node, DossierLookupNode) and node.variable not in known:
                msg = f"no input node sets {node.variable!r}"
                self.add(node_id, "variable", ProblemCode.UNKNOWN_VARIABLE, msg)
            if isinstance(node, CallbackNode) and node.number is CallbackNumber.INPUT:
                if node.variable is None:
                    msg = "number: input needs the variable holding the number"
                    self.add(node_id, "variable", ProblemCode.UNKNOWN_VARIABLE, msg)
                elif node.variable not in known:
                    msg = f"no input node sets {node.variable!r}"
                    self.add(node_id, "variable", ProblemCode.UNKNOWN_VARIABLE, msg)

    def check_departments(self, node_id: str, node: Node) -> None:
        department: str | None = None
        if isinstance(node, TransferNode | CallbackNode | MessageNode | HoursNode | ProcedureNode):
            department = node.department
        if department is not None and department not in self.departments:
            msg = f"unknown department {department!r}"
            self.add(node_id, "department", ProblemCode.UNKNOWN_DEPARTMENT, msg)
        procedure = node.procedure if isinstance(node, ProcedureNode) else None
        if procedure is not None and procedure not in self.procedures:
            msg = f"unknown procedure {procedure!r}"
            self.add(node_id, "procedure", ProblemCode.UNKNOWN_PROCEDURE, msg)

    # ------------------------------------------------------------------ prompts and timing

    def check_prompts(self, node_id: str, node: Node) -> None:
        if isinstance(node, _NEEDS_PROMPT) and _blank(node.prompt):
            what = "goodbye prompt" if isinstance(node, HangupNode) else "prompt"
            self.add(node_id, "prompt", ProblemCode.MISSING_PROMPT, f"{node.kind} needs a {what}")
        for name in ("no_input", "no_match"):
            prompt = getattr(node, name)
            if prompt is not None and not prompt.text.strip():
                self.add(node_id, name, ProblemCode.MISSING_PROMPT, "blank prompt")
        if isinstance(node, InputNode) and node.confirm and _blank(node.confirm_prompt):
            msg = "confirm needs a confirm_prompt that reads the value back ({value})"
            self.add(node_id, "confirm_prompt", ProblemCode.MISSING_PROMPT, msg)
        lookup = node if isinstance(node, DossierLookupNode) else None
        if lookup is not None and lookup.personal_details and _blank(lookup.verify_prompt):
            msg = "personal details need a verify_prompt for the caller's check"
            self.add(node_id, "verify_prompt", ProblemCode.MISSING_PROMPT, msg)

    def check_timing(self, node_id: str, node: Node) -> None:
        if node.timeout_s is not None:
            self.check_seconds(node_id, "timeout_s", node.timeout_s)
        if isinstance(node, InputNode) and node.inter_digit_timeout_s is not None:
            self.check_seconds(node_id, "inter_digit_timeout_s", node.inter_digit_timeout_s)
        if node.retries is not None:
            self.check_retries(node_id, "retries", node.retries)
        max_s = node.max_s if isinstance(node, MessageNode) else None
        if max_s is not None and not MIN_MESSAGE_S <= max_s <= MAX_MESSAGE_S:
            msg = f"{max_s:g} s is outside {MIN_MESSAGE_S:g}–{MAX_MESSAGE_S:g} s"
            self.add(node_id, "max_s", ProblemCode.BAD_TIMEOUT, msg)

    def check_seconds(self, node_id: str | None, field: str, value: float) -> None:
        low, high = self.limits.min_timeout_s, self.limits.max_timeout_s
        if not low <= value <= high:
            msg = f"{value:g} s is outside {low:g}–{high:g} s"
            self.add(node_id, field, ProblemCode.BAD_TIMEOUT, msg)

    def check_retries(self, node_id: str | None, field: str, value: int) -> None:
        if not 0 <= value <= self.limits.max_retries:
            msg = f"{value} retries is outside 0–{self.limits.max_retries}"
            self.add(node_id, field, ProblemCode.BAD_RETRIES, msg)

    # ------------------------------------------------------------------ menus and inputs

    def check_menu(self, node_id: str, node: MenuNode) -> None:
        if not node.choices:
            self.add(node_id, "choices", ProblemCode.EMPTY_MENU, "a menu needs choices")
        keys: dict[str, int] = {}
        words: dict[str, tuple[int, str]] = {}
        global_words = {
            fold(w): action for action, ws in self.tree.global_keywords.items() for w in ws
        }
        for i, choice in enumerate(node.choices):
            if choice.key is None and not choice.keywords:
                msg = "a choice needs a key or keywords"
                self.add(node_id, f"choices[{i}]", ProblemCode.EMPTY_MENU, msg)
            if choice.key is not None:
                if choice.key not in DTMF_KEYS:
                    msg = f"{choice.key!r} is not a phone key"
                    self.add(node_id, f"choices[{i}].key", ProblemCode.BAD_KEY, msg)
                elif choice.key in keys:
                    msg = f"key {choice.key} is also choice {keys[choice.key]}"
                    self.add(node_id, f"choices[{i}].key", ProblemCode.DUPLICATE_KEY, msg)
                else:
                    keys[choice.key] = i
            for k, word in enumerate(choice.keywords):
                folded = fold(word)
                field = f"choices[{i}].keywords[{k}]"
                if not folded:
                    self.add(node_id, field, ProblemCode.KEYWORD_COLLISION, "empty keyword")
                    continue
                if folded in global_words:
                    action = global_words[folded].value
                    msg = f"{word!r} is also a global keyword ({action})"
                    self.add(node_id, field, ProblemCode.KEYWORD_COLLISION, msg)
                other = words.get(folded)
                if other is not None and other[0] != i:
                    msg = f"{word!r} sounds like {other[1]!r} of choice {other[0]}"
                    self.add(node_id, field, ProblemCode.KEYWORD_COLLISION, msg)
                elif other is None:
                    words[folded] = (i, word)

    def check_rule(self, node_id: str, node: InputNode) -> None:
        rule = node.rule
        if rule.kind is RuleKind.DIGITS:
            low, high = rule.min_digits, rule.max_digits
            if low is None or high is None or not 1 <= low <= high:
                msg = f"digits need 1 <= min <= max (got {low}, {high})"
                self.add(node_id, "rule", ProblemCode.BAD_RULE, msg)
        elif rule.kind is RuleKind.REGEX:
            problem = pattern_problem(rule.pattern or "")
            if problem is not None:
                self.add(node_id, "rule.pattern", ProblemCode.BAD_RULE, f"bad regex: {problem}")

    # ------------------------------------------------------------------ graph checks

    def check_reachable(self, graph: _Graph) -> None:
        roots = [r for r in (self.tree.start, self.tree.officer_node) if r is not None]
        roots = [r for r in roots if r in self.tree.nodes]
        seen = graph.reach(roots)
        for node_id in self.tree.nodes:
            if node_id not in seen:
                msg = "no caller can reach this node"
                self.add(node_id, "", ProblemCode.UNREACHABLE, msg)

    def check_loops(self, graph: _Graph) -> None:
        can_exit = graph.reverse_reach(graph.exits)
        trapped: set[str] = set()
        for component in graph.cycles():
            if any(n in can_exit for n in component):
                continue
            trapped |= component
            first = min(component, key=graph.order.__getitem__)
            field = graph.field_into(first, component)
            msg = f"loop through {_names(component, graph)} never reaches an officer or hang-up"
            self.add(first, field, ProblemCode.LOOP_WITHOUT_EXIT, msg)
        # Loops among nodes that never wait for the caller spin or talk forever, even when a
        # branch elsewhere in the loop could lead out (e.g. an hours node while closed).
        silent = {
            n for n, node in self.tree.nodes.items() if node.kind not in LISTENING_KINDS
        } - trapped
        for component in graph.cycles(within=silent):
            first = min(component, key=graph.order.__getitem__)
            field = graph.field_into(first, component)
            msg = f"loop through {_names(component, graph)} never waits for the caller"
            self.add(first, field, ProblemCode.LOOP_WITHOUT_INPUT, msg)

    def check_depth(self, graph: _Graph) -> None:
        if self.tree.start not in self.tree.nodes:
            return
        depth = graph.menu_depths(self.tree.start)
        for node_id, levels in depth.items():
            if levels > self.limits.max_menu_depth and self.tree.nodes[node_id].kind in (
                NodeKind.MENU,
                NodeKind.PROCEDURE,
            ):
                msg = f"{levels} menu levels deep (limit {self.limits.max_menu_depth})"
                self.add(node_id, "", ProblemCode.DEPTH_EXCEEDED, msg)


def _blank(prompt: Prompt | None) -> bool:
    return prompt is None or not prompt.text.strip()


def is_publishable(problems: Iterable[Problem]) -> bool:
    """True when there is nothing to fix."""
    return not any(True for _ in problems)


def split_path(path: str) -> tuple[str | None, str]:
    """``nodes.main.choices[0].next`` -> (``main``, ``choices[0].next``); tree fields -> None."""
    if path.startswith("nodes."):
        node_id, _, rest = path[len("nodes.") :].partition(".")
        return node_id, rest
    return None, path


def problems_from_error(error: MenuLoadError | MenuSchemaError | MenuFormatError) -> list[Problem]:
    """The problems a loading, schema or format error stands for."""
    if isinstance(error, MenuLoadError):
        field = f"line {error.line}" if error.line is not None else ""
        return [Problem(None, field, ProblemCode.LOAD_ERROR, error.message)]
    if isinstance(error, MenuSchemaError):
        out = []
        for issue in error.issues:
            node_id, field = split_path(issue.path)
            out.append(Problem(node_id, field, ProblemCode.SCHEMA, issue.message))
        return out
    node_id, field = split_path(error.path)
    return [Problem(node_id, field, ProblemCode.FORMAT, error.message)]


def check_text(
    data: bytes | str,
    *,
    fmt: Format,
    departments: Collection[str],
    procedures: Collection[str],
    limits: ValidationLimits = DEFAULT_LIMITS,
    load_limits: LoadLimits = DEFAULT_LOAD_LIMITS,
) -> tuple[MenuTree | None, list[Problem]]:
    """Load, schema-check, build and validate a menu file in one go.

    Returns the tree (None when it could not be built) and every problem found; a file that
    cannot be loaded or fails the schema is reported the same way as a tree that fails
    validation, so the CLI and the API print one kind of list."""
    try:
        tree = parse_tree(load_data(data, fmt=fmt, limits=load_limits))
    except (MenuLoadError, MenuSchemaError, MenuFormatError) as error:
        return None, problems_from_error(error)
    problems = validate(tree, departments=departments, procedures=procedures, limits=limits)
    return tree, problems
