"""The published JSON Schema of menu files, schema checking, and YAML/JSON import and export.

The schema describes the shape of a file (field names, types, kinds, ranges a file can be checked
against on its own). Whether the tree makes sense as a hotline (references, reachability, loops,
known departments) is :mod:`menus.validate`'s job.

Round trip: ``parse_tree(load_data(dump_yaml(t))) == t`` and the same through JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from menus.loader import DEFAULT_LIMITS, Format, LoadLimits, load_data, read_file
from menus.model import (
    MAX_MESSAGE_S,
    CallbackNumber,
    GlobalAction,
    InputMode,
    MenuError,
    MenuTree,
    NodeKind,
    OnFail,
    ProcedureMode,
    RuleKind,
    Topic,
)
from menus.patterns import MAX_PATTERN_LENGTH
from menus.tree_data import tree_from_dict

SCHEMA_ID = "https://tongdai.example/schemas/menu-tree.json"
SCHEMA_FILE = Path(__file__).resolve().parent / "menu.schema.json"
"""The schema published as a file for editors (``yaml-language-server: $schema=...``)."""

_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"}
# No dot in node ids: problem paths such as ``nodes.main.choices[0].next`` split unambiguously.
_NODE_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"}
_REF = {"type": "string", "minLength": 1, "maxLength": 64}
_TEXT = {"type": "string", "maxLength": 2000}
_SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 120}
_RETRIES = {"type": "integer", "minimum": 0, "maximum": 10}
_KEY = {
    "oneOf": [
        {"type": "string", "pattern": r"^[0-9*#]$"},
        {"type": "integer", "minimum": 0, "maximum": 9},
    ]
}


def _enum(cls: type[Any]) -> dict[str, Any]:
    return {"enum": [m.value for m in cls]}


def _words() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}}


_COMMON: dict[str, Any] = {
    "kind": _enum(NodeKind),
    "prompt": {"$ref": "#/$defs/prompt"},
    "no_input": {"$ref": "#/$defs/prompt"},
    "no_match": {"$ref": "#/$defs/prompt"},
    "timeout_s": _SECONDS,
    "retries": _RETRIES,
    "on_fail": _enum(OnFail),
}

_KINDS: dict[NodeKind, tuple[dict[str, Any], list[str]]] = {
    NodeKind.MENU: (
        {"choices": {"type": "array", "items": {"$ref": "#/$defs/choice"}, "maxItems": 12}},
        ["choices"],
    ),
    NodeKind.SAY: ({"next": _REF}, ["next"]),
    NodeKind.INPUT: (
        {
            "variable": _ID,
            "rule": {"$ref": "#/$defs/rule"},
            "next": _REF,
            "mode": _enum(InputMode),
            "confirm": {"type": "boolean"},
            "confirm_prompt": {"$ref": "#/$defs/prompt"},
            "terminator": {"type": ["string", "null"], "pattern": r"^[*#]$"},
            "inter_digit_timeout_s": _SECONDS,
        },
        ["variable", "rule", "next"],
    ),
    NodeKind.DOSSIER_LOOKUP: (
        {
            "variable": _ID,
            "found": _REF,
            "not_found": _REF,
            "failed": _REF,
            "overdue": _REF,
            "personal_details": {"type": "boolean"},
            "verify_prompt": {"$ref": "#/$defs/prompt"},
        },
        ["variable", "found", "not_found", "failed"],
    ),
    NodeKind.PROCEDURE: (
        {
            "mode": _enum(ProcedureMode),
            "next": _REF,
            "department": _REF,
            "field": _REF,
            "procedure": _REF,
            "topics": {"type": "array", "items": _enum(Topic), "uniqueItems": True},
            "not_found": _REF,
        },
        ["mode", "next"],
    ),
    NodeKind.TRANSFER: (
        {"department": _REF, "reason": _TEXT, "failed": _REF},
        ["department"],
    ),
    NodeKind.CALLBACK: (
        {"department": _REF, "next": _REF, "number": _enum(CallbackNumber), "variable": _ID},
        ["department", "next"],
    ),
    NodeKind.MESSAGE: (
        {
            "department": _REF,
            "next": _REF,
            "max_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MESSAGE_S},
        },
        ["department", "next"],
    ),
    NodeKind.HOURS: (
        {"department": _REF, "open": _REF, "closed": _REF, "holiday": _REF},
        ["department", "open", "closed"],
    ),
    NodeKind.SURVEY: ({"next": _REF, "variable": _ID}, ["next"]),
    NodeKind.GOTO: ({"target": _REF}, ["target"]),
    NodeKind.BACK: ({}, []),
    NodeKind.REPEAT: ({}, []),
    NodeKind.MAIN_MENU: ({}, []),
    NodeKind.HANGUP: ({}, []),
}


def _node_schema() -> dict[str, Any]:
    branches = []
    for kind, (props, required) in _KINDS.items():
        branches.append(
            {
                "if": {"properties": {"kind": {"const": kind.value}}, "required": ["kind"]},
                "then": {
                    "properties": {**_COMMON, **props},
                    "required": ["kind", *required],
                    "additionalProperties": False,
                },
            }
        )
    return {"type": "object", "required": ["kind"], "properties": _COMMON, "allOf": branches}


def menu_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a menu tree file, YAML or JSON."""
    prompt = {
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": 2000},
            {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 1, "maxLength": 2000},
                    "recording": {"type": "string", "minLength": 1, "maxLength": 200},
                },
                "required": ["text"],
                "additionalProperties": False,
            },
        ]
    }
    rule = {
        "oneOf": [
            {"enum": [RuleKind.DOSSIER_CODE.value, RuleKind.PHONE.value, RuleKind.DATE.value]},
            {
                "type": "object",
                "properties": {
                    "kind": {"enum": [k.value for k in RuleKind]},
                    "min": {"type": "integer", "minimum": 1, "maximum": 40},
                    "max": {"type": "integer", "minimum": 1, "maximum": 40},
                    "pattern": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_PATTERN_LENGTH,
                    },
                },
                "required": ["kind"],
                "additionalProperties": False,
                "allOf": [
                    {
                        "if": {"properties": {"kind": {"const": "digits"}}, "required": ["kind"]},
                        "then": {"required": ["min", "max"]},
                    },
                    {
                        "if": {"properties": {"kind": {"const": "regex"}}, "required": ["kind"]},
                        "then": {"required": ["pattern"]},
                    },
                ],
            },
        ]
    }
    choice = {
        "type": "object",
        "properties": {"key": _KEY, "keywords": _words(), "next": _REF},
        "required": ["next"],
        "anyOf": [{"required": ["key"]}, {"required": ["keywords"]}],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "tongdai menu tree",
        "description": "A hotline menu tree: nodes by id, a start node, global keys, defaults.",
        "type": "object",
        "properties": {
            "id": _ID,
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "version": {"type": "integer", "minimum": 1},
            "description": _TEXT,
            "language": {"type": "string", "pattern": r"^[a-z]{2}(-[A-Z]{2})?$"},
            "start": _REF,
            "officer_department": _REF,
            "officer_node": _REF,
            "global_keys": {
                "type": "object",
                "propertyNames": {"pattern": r"^[0-9*#]$"},
                "additionalProperties": _enum(GlobalAction),
            },
            "global_keywords": {
                "type": "object",
                "propertyNames": _enum(GlobalAction),
                "additionalProperties": _words(),
            },
            "defaults": {
                "type": "object",
                "properties": {
                    "timeout_s": _SECONDS,
                    "inter_digit_timeout_s": _SECONDS,
                    "retries": _RETRIES,
                    "on_fail": _enum(OnFail),
                    "no_input": {"$ref": "#/$defs/prompt"},
                    "no_match": {"$ref": "#/$defs/prompt"},
                },
                "additionalProperties": False,
            },
            "nodes": {
                "type": "object",
                "propertyNames": _NODE_ID,
                "minProperties": 1,
                "maxProperties": 1000,
                "additionalProperties": {"$ref": "#/$defs/node"},
            },
        },
        "required": ["id", "title", "start", "officer_department", "nodes"],
        "additionalProperties": False,
        "$defs": {"prompt": prompt, "rule": rule, "choice": choice, "node": _node_schema()},
    }


@dataclass(frozen=True)
class SchemaIssue:
    """One place where data does not match the schema."""

    path: str
    message: str


class MenuSchemaError(MenuError):
    """Data does not match the menu schema; ``issues`` lists every mismatch."""

    def __init__(self, issues: list[SchemaIssue]) -> None:
        self.issues = issues
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{first.path or '(top)'}: {first.message}{more}")


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _plain(data: Mapping[str, Any]) -> Any:
    # YAML may give integer keys (an unquoted 9); JSON Schema speaks of string keys only.
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


@dataclass(frozen=True)
class _Validators:
    """The schema split for speed: the tree without node bodies, and one validator per kind.

    Checking every node against the published schema's fourteen if/then branches dominates the
    time of a check; dispatching on ``kind`` here gives the same issues several times faster."""

    tree: Draft202012Validator
    kinds: Mapping[str, Draft202012Validator]


@functools.cache
def _validators() -> _Validators:
    # Building validators (and resolving their $refs) costs far more than using them.
    schema = menu_schema()
    defs = schema["$defs"]
    shallow = json.loads(json.dumps(schema))
    shallow["properties"]["nodes"]["additionalProperties"] = {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": _COMMON["kind"]},
    }
    kinds = {}
    for kind, (props, required) in _KINDS.items():
        node_schema = {
            "type": "object",
            "properties": {**_COMMON, **props},
            "required": ["kind", *required],
            "additionalProperties": False,
            "$defs": defs,
        }
        kinds[kind.value] = Draft202012Validator(node_schema)
    return _Validators(Draft202012Validator(shallow), kinds)


def _errors(data: Any) -> Iterator[tuple[list[Any], Any]]:
    """(path prefix, error) pairs: the tree's own, then each node's against its kind."""
    validators = _validators()
    for error in validators.tree.iter_errors(data):
        yield [], error
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        return
    for node_id, node in nodes.items():
        kind = node.get("kind") if isinstance(node, dict) else None
        validator = validators.kinds.get(kind) if isinstance(kind, str) else None
        if validator is not None:
            for error in validator.iter_errors(node):
                yield ["nodes", node_id], error


def schema_issues(data: Mapping[str, Any]) -> list[SchemaIssue]:
    """Every mismatch between ``data`` and the schema, most specific first, by path."""
    issues: list[SchemaIssue] = []
    for prefix, error in _errors(_plain(data)):
        # oneOf/anyOf wrap the useful errors; report the innermost ones.
        for leaf in _leaves(error):
            issues.append(SchemaIssue(_path([*prefix, *leaf.absolute_path]), leaf.message))
    unique = {(i.path, i.message): i for i in issues}
    return sorted(unique.values(), key=lambda i: (i.path, i.message))


def full_schema_issues(data: Mapping[str, Any]) -> list[SchemaIssue]:
    """The same check against the published schema as one document (slower; for tests)."""
    issues = [
        SchemaIssue(_path(leaf.absolute_path), leaf.message)
        for error in Draft202012Validator(menu_schema()).iter_errors(_plain(data))
        for leaf in _leaves(error)
    ]
    unique = {(i.path, i.message): i for i in issues}
    return sorted(unique.values(), key=lambda i: (i.path, i.message))


def _leaves(error: Any) -> list[Any]:
    if error.validator in ("oneOf", "anyOf") and error.context:
        # The branch that got furthest is the most helpful one: deepest path first, then an
        # error that is not a mere type or enum mismatch of the whole value.
        best = max(
            error.context,
            key=lambda e: (len(e.absolute_path), e.validator not in ("type", "enum", "const")),
        )
        deeper = len(best.absolute_path) > len(error.absolute_path)
        if deeper or best.validator not in ("type", "enum", "const"):
            return _leaves(best)
    return [error]


def parse_tree(data: Mapping[str, Any]) -> MenuTree:
    """Check plain data against the schema, then build the tree.

    Raises :class:`MenuSchemaError` (every mismatch) or :class:`menus.model.MenuFormatError`."""
    issues = schema_issues(data)
    if issues:
        raise MenuSchemaError(issues)
    return tree_from_dict(_plain(data))


def load_tree(
    data: bytes | str, *, fmt: Format = "yaml", limits: LoadLimits = DEFAULT_LIMITS
) -> MenuTree:
    """Safely load, schema-check and build a tree from YAML or JSON text."""
    return parse_tree(load_data(data, fmt=fmt, limits=limits))


def read_tree(path: Path, *, limits: LoadLimits = DEFAULT_LIMITS) -> MenuTree:
    """Safely load a tree from a ``.yaml``/``.yml``/``.json`` file."""
    return parse_tree(read_file(path, limits=limits))


def dump_json(tree: MenuTree) -> str:
    """The tree as JSON text (UTF-8, Vietnamese kept readable)."""
    return json.dumps(tree.to_dict(), ensure_ascii=False, indent=2) + "\n"


def dump_yaml(tree: MenuTree) -> str:
    """The tree as YAML text (UTF-8, field order kept)."""
    return yaml.safe_dump(tree.to_dict(), allow_unicode=True, sort_keys=False, width=100)


def dump(tree: MenuTree, fmt: Format) -> str:
    """The tree as text in the given format."""
    return dump_json(tree) if fmt == "json" else dump_yaml(tree)


def schema_json() -> str:
    """The published schema as JSON text."""
    return json.dumps(menu_schema(), ensure_ascii=False, indent=2) + "\n"
