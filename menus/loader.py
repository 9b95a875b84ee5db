"""Safe loading of menu files (YAML and JSON) into plain data.

Menu files come from admins' uploads, so they are treated as hostile. Every refusal is a
:class:`MenuLoadError` with a message and, where known, a 1-based line number:

- more than ``max_bytes`` bytes, or bytes that are not UTF-8;
- nesting deeper than ``max_depth`` (checked while reading events or brackets, so even
  10,000-deep input never reaches a recursive parser);
- YAML anchors and aliases (no alias bombs: they are simply not allowed), merge keys, several
  documents, and any tag beyond the plain core ones (``!!python/...``, ``!!binary``, ``!custom``);
- duplicate mapping keys, in YAML and in JSON; non-scalar mapping keys; NaN and Infinity in JSON.

YAML is read from the parser's event stream (libyaml when available) and built iteratively here,
never through PyYAML's recursive composer or its object constructors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from menus.model import MenuError

Format = Literal["yaml", "json"]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP = f"{_CORE}timestamp"
_BOOL = f"{_CORE}bool"
# An unquoted * or # key (a DTMF key) reads as an alias or a comment in YAML.
_BARE_KEY = re.compile(r"(^|[\s{,\-])[*#]\s*:")
_MAP_TAG = f"{_CORE}map"
_SEQ_TAG = f"{_CORE}seq"

try:  # libyaml is faster; both parsers are iterative state machines
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader


class MenuLoadError(MenuError):
    """A menu file was refused; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class LoadLimits:
    """Bounds on what a menu file may be."""

    max_bytes: int = 1_000_000
    max_depth: int = 40


DEFAULT_LIMITS = LoadLimits()


def _decode(data: bytes | str, limits: LoadLimits) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > limits.max_bytes:
        raise MenuLoadError(f"file too large: {len(raw)} bytes (limit {limits.max_bytes})")
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MenuLoadError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line
        ) from None
    return text.removeprefix("\ufeff")


# ----------------------------------------------------------------------------------- YAML


class _Scalars(yaml.SafeLoader):
    """Only used to resolve and convert single scalars (never to compose documents)."""


def _scalar(event: yaml.ScalarEvent, resolver: _Scalars) -> Any:
    line = _line(event)
    tag = event.tag
    if tag is None or tag == "!":
        resolved: str = resolver.resolve(  # type: ignore[no-untyped-call]
            yaml.ScalarNode, event.value, event.implicit
        )
        tag = resolved
        if tag == _TIMESTAMP:
            return event.value  # dates stay text: menus carry none, JSON has no date type
        if tag == _BOOL and event.value.lower() not in ("true", "false"):
            return event.value  # YAML 1.2 booleans only: yes/no/on/off stay words (as in JSON)
    if tag not in _SCALAR_TAGS:
        raise MenuLoadError(f"tag {event.tag or tag!r} is not allowed", line)
    node = yaml.ScalarNode(tag, event.value, None, None, event.style)
    try:
        return resolver.construct_object(node)
    except yaml.YAMLError as exc:
        kind = tag.removeprefix(_CORE)
        raise MenuLoadError(f"bad {kind} value {event.value!r}: {exc}", line) from None


class _Frame:
    """One open mapping or sequence while building YAML data iteratively."""

    __slots__ = ("container", "has_key", "key", "line")

    def __init__(self, container: dict[Any, Any] | list[Any], line: int | None) -> None:
        self.container = container
        self.line = line
        self.key: Any = None
        self.has_key = False


def _check_collection_tag(event: yaml.CollectionStartEvent, expected: str) -> None:
    if event.tag is not None and event.tag not in (expected, "!"):
        raise MenuLoadError(f"tag {event.tag!r} is not allowed", _line(event))


def _check_anchor(event: yaml.NodeEvent) -> None:
    if isinstance(event, yaml.AliasEvent):
        raise MenuLoadError(f"YAML aliases are not allowed (*{event.anchor})", _line(event))
    if event.anchor is not None:
        raise MenuLoadError(f"YAML anchors are not allowed (&{event.anchor})", _line(event))


def load_yaml(data: bytes | str, *, limits: LoadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Safely read one YAML document whose top level is a mapping."""
    text = _decode(data, limits)
    resolver = _Scalars("")
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    done = False

    def add(value: Any, line: int | None) -> None:
        nonlocal root, done
        if not stack:
            root, done = value, True
            return
        top = stack[-1]
        if isinstance(top.container, list):
            top.container.append(value)
        elif not top.has_key:
            if isinstance(value, dict | list):
                raise MenuLoadError("mapping keys must be plain values", line)
            if value in top.container:
                raise MenuLoadError(f"duplicate key {value!r}", line)
            top.key, top.has_key = value, True
        else:
            top.container[top.key] = value
            top.has_key = False

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise MenuLoadError("only one YAML document is allowed", _line(event))
                continue
            if isinstance(event, yaml.StreamStartEvent | yaml.StreamEndEvent):
                continue
            if isinstance(event, yaml.DocumentEndEvent):
                continue
            if isinstance(event, yaml.NodeEvent):
                _check_anchor(event)
            if isinstance(event, yaml.ScalarEvent):
                if event.tag == f"{_CORE}merge" or (
                    event.tag is None and stack and _merge_key(event, stack[-1])
                ):
                    raise MenuLoadError("YAML merge keys (<<) are not allowed", _line(event))
                add(_scalar(event, resolver), _line(event))
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                is_map = isinstance(event, yaml.MappingStartEvent)
                _check_collection_tag(event, _MAP_TAG if is_map else _SEQ_TAG)
                if len(stack) >= limits.max_depth:
                    raise MenuLoadError(
                        f"nesting deeper than {limits.max_depth} levels", _line(event)
                    )
                container: dict[Any, Any] | list[Any] = {} if is_map else []
                if stack and isinstance(stack[-1].container, dict) and not stack[-1].has_key:
                    raise MenuLoadError("mapping keys must be plain values", _line(event))
                stack.append(_Frame(container, _line(event)))
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                frame = stack.pop()
                add(frame.container, frame.line)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if _bare_key_near(text, line):
            message += " (quote the * and # keys: '*': back)"
        raise MenuLoadError(message, line) from None
    except yaml.YAMLError as exc:
        raise MenuLoadError(f"YAML error: {exc}") from None
    if not done or root is None:
        raise MenuLoadError("the file is empty")
    if not isinstance(root, dict):
        raise MenuLoadError("the top level must be a mapping (id, title, nodes …)", 1)
    return root


def _bare_key_near(text: str, line: int | None) -> bool:
    if line is None:
        return False
    lines = text.split("\n")
    return any(_BARE_KEY.search(lines[i]) for i in range(max(0, line - 2), min(len(lines), line)))


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else None


def _merge_key(event: yaml.ScalarEvent, top: _Frame) -> bool:
    return (
        isinstance(top.container, dict)
        and not top.has_key
        and event.value == "<<"
        and event.implicit[0]
    )


# ----------------------------------------------------------------------------------- JSON

_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _json_depth_check(text: str, limits: LoadLimits) -> None:
    """Refuse deep nesting before json's recursive scanner sees it."""
    depth = 0
    for lineno, raw_line in enumerate(text.split("\n"), start=1):
        stripped = _JSON_STRING.sub('""', raw_line)
        for ch in stripped:
            if ch in "[{":
                depth += 1
                if depth > limits.max_depth:
                    raise MenuLoadError(f"nesting deeper than {limits.max_depth} levels", lineno)
            elif ch in "]}":
                depth -= 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def load_json(data: bytes | str, *, limits: LoadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Safely read a JSON document whose top level is an object."""
    text = _decode(data, limits)
    _json_depth_check(text, limits)
    try:
        root = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKey as exc:
        line = _find_line(text, f'"{exc.key}"')
        raise MenuLoadError(f"duplicate key {exc.key!r}", line) from None
    except json.JSONDecodeError as exc:
        raise MenuLoadError(f"JSON syntax error: {exc.msg}", exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise MenuLoadError(f"JSON error: {exc}") from None
    if not isinstance(root, dict):
        raise MenuLoadError("the top level must be an object (id, title, nodes …)", 1)
    return root


def _find_line(text: str, needle: str) -> int | None:
    # The duplicate is the last occurrence of the key text (the first one was accepted).
    index = text.rfind(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else None


# ----------------------------------------------------------------------------------- any


def format_for(path: Path | str) -> Format:
    """The format a file name implies: JSON for ``.json``, YAML otherwise."""
    return "json" if str(path).lower().endswith(".json") else "yaml"


def load_data(
    data: bytes | str, *, fmt: Format = "yaml", limits: LoadLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Safely read menu data in the given format."""
    if fmt == "json":
        return load_json(data, limits=limits)
    return load_yaml(data, limits=limits)


def read_file(path: Path, *, limits: LoadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Safely read a menu file (format from the suffix), refusing oversized files unread."""
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise MenuLoadError(f"file too large: {size} bytes (limit {limits.max_bytes})")
        raw = path.read_bytes()
    except OSError as exc:
        raise MenuLoadError(f"cannot read {path}: {exc.strerror}") from None
    return load_data(raw, fmt=format_for(path), limits=limits)
