"""The published schema: valid JSON Schema, precise issues, YAML <-> JSON <-> model round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from menus.loader import load_json, load_yaml
from menus.schema import (
    SCHEMA_FILE,
    MenuSchemaError,
    dump_json,
    dump_yaml,
    full_schema_issues,
    load_tree,
    menu_schema,
    parse_tree,
    read_tree,
    schema_issues,
    schema_json,
)
from tests.menus.test_model import every_kind


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(menu_schema())
    assert schema_issues(every_kind()) == []


def test_yaml_json_model_round_trip(tmp_path: Path) -> None:
    tree = parse_tree(every_kind())
    as_yaml = dump_yaml(tree)
    as_json = dump_json(tree)
    assert "gặp cán bộ" in as_yaml and "gặp cán bộ" in as_json  # readable Vietnamese
    from_yaml = load_tree(as_yaml.encode())
    from_json = load_tree(as_json.encode(), fmt="json")
    assert from_yaml == tree == from_json
    assert dump_json(from_yaml) == as_json and dump_yaml(from_json) == as_yaml
    assert load_yaml(as_yaml) == load_json(as_json)
    (tmp_path / "t.yml").write_text(as_yaml, encoding="utf-8")
    (tmp_path / "t.json").write_text(as_json, encoding="utf-8")
    assert read_tree(tmp_path / "t.yml") == read_tree(tmp_path / "t.json") == tree


def _set(path: str, value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = d
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


_DELETE = object()

SCHEMA_CASES = [
    ("nodes/m/choices/0/next", 5, "nodes.m.choices[0].next", "not of type 'string'"),
    ("nodes/m/choices/0/key", "12", "nodes.m.choices[0].key", "does not match"),
    ("nodes/m/choices/1/keywords", _DELETE, "nodes.m.choices[1]", "required property"),
    ("nodes/m/prompt", {"txt": "a"}, "nodes.m.prompt", "'text' is a required property"),
    ("nodes/m/prompt", "", "nodes.m.prompt", "should be non-empty"),
    ("nodes/say/kind", "dance", "nodes.say.kind", "is not one of"),
    ("nodes/say/colour", "red", "nodes.say", "'colour' was unexpected"),
    ("nodes/look/found", _DELETE, "nodes.look", "'found' is a required property"),
    ("nodes/code/rule", {"kind": "digits", "min": 1}, "nodes.code.rule", "'max' is a required"),
    ("nodes/code/timeout_s", -1, "nodes.code.timeout_s", "less than or equal to the minimum"),
    ("nodes/code/retries", 99, "nodes.code.retries", "greater than the maximum"),
    ("nodes/proc/topics", ["gossip"], "nodes.proc.topics[0]", "is not one of"),
    ("global_keys/x", "back", "global_keys", "does not match"),
    ("global_keys/5", "dance", "global_keys.5", "is not one of"),
    ("defaults/on_fail", "nowhere", "defaults.on_fail", "is not one of"),
    ("start", _DELETE, "", "'start' is a required property"),
    ("nodes/bad id!", {"kind": "back"}, "nodes", "does not match"),
]


@pytest.mark.parametrize(("where", "value", "path", "words"), SCHEMA_CASES)
def test_schema_issue_has_path_and_message(where: str, value: Any, path: str, words: str) -> None:
    data = every_kind()
    _set(where, value)(data)
    issues = schema_issues(data)
    assert any(i.path == path and words in i.message for i in issues), issues
    assert full_schema_issues(data) == issues  # the fast path agrees with the published schema
    with pytest.raises(MenuSchemaError) as err:
        parse_tree(data)
    assert err.value.issues == issues


def test_published_schema_is_json() -> None:
    text = json.dumps(menu_schema())
    assert json.loads(text)["$defs"]["node"]["properties"]["kind"]["enum"][0] == "menu"


def test_published_schema_file_is_current() -> None:
    """menus/menu.schema.json (for editors) is exactly what `tongdai menus schema` prints."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json(), (
        "regenerate with: tongdai menus schema > menus/menu.schema.json"
    )
