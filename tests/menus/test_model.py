"""The tree model: every node kind survives to_dict/from_dict, bad shapes give a path."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from menus.model import (
    CallbackNode,
    CallbackNumber,
    DossierLookupNode,
    GlobalAction,
    InputNode,
    InputRule,
    MenuFormatError,
    MenuNode,
    MenuTree,
    NodeKind,
    OnFail,
    ProcedureNode,
    Prompt,
    RuleKind,
    Topic,
)


def every_kind() -> dict[str, Any]:
    """A small tree using each node kind once (valid shape, not necessarily a good tree)."""
    return {
        "id": "t",
        "title": "Tree",
        "start": "m",
        "officer_department": "tong-dai",
        "officer_node": "xfer",
        "global_keys": {9: "repeat", "*": "back", "0": "officer"},
        "global_keywords": {"officer": ["gặp cán bộ"]},
        "defaults": {"timeout_s": 4, "retries": 1, "on_fail": "main_menu"},
        "nodes": {
            "m": {
                "kind": "menu",
                "prompt": {"text": "Chọn", "recording": "rec-1"},
                "no_match": "Không rõ",
                "timeout_s": 6.5,
                "retries": 3,
                "on_fail": "officer",
                "choices": [
                    {"key": 1, "keywords": ["hồ sơ"], "next": "code"},
                    {"keywords": ["thủ tục"], "next": "proc"},
                    {"key": "3", "next": "say"},
                ],
            },
            "code": {
                "kind": "input",
                "prompt": "Nhập mã",
                "variable": "dossier_code",
                "rule": "dossier_code",
                "confirm": True,
                "confirm_prompt": "Mã {value}",
                "terminator": None,
                "next": "look",
            },
            "phone": {
                "kind": "input",
                "prompt": "Số",
                "variable": "phone",
                "mode": "digits",
                "rule": {"kind": "digits", "min": 9, "max": 11},
                "next": "cb",
            },
            "rx": {
                "kind": "input",
                "prompt": "x",
                "variable": "v",
                "rule": {"kind": "regex", "pattern": "[0-9]{4}"},
                "next": "bye",
            },
            "look": {
                "kind": "dossier_lookup",
                "variable": "dossier_code",
                "found": "survey",
                "not_found": "m",
                "failed": "xfer",
                "overdue": "xfer",
                "personal_details": True,
                "verify_prompt": "Bốn số cuối",
            },
            "proc": {
                "kind": "procedure",
                "mode": "browse",
                "department": "so-cong-thuong",
                "topics": ["fees", "documents"],
                "next": "back",
            },
            "xfer": {"kind": "transfer", "department": "tong-dai", "reason": "hỏi", "failed": "cb"},
            "cb": {
                "kind": "callback",
                "department": "tong-dai",
                "number": "input",
                "variable": "phone",
                "next": "bye",
            },
            "msg": {"kind": "message", "department": "tong-dai", "max_s": 60, "next": "bye"},
            "hours": {
                "kind": "hours",
                "department": "tong-dai",
                "open": "xfer",
                "closed": "cb",
                "holiday": "msg",
            },
            "survey": {"kind": "survey", "prompt": "1 đến 5", "next": "bye"},
            "say": {"kind": "say", "prompt": "Xin chào", "next": "go"},
            "go": {"kind": "goto", "target": "hours"},
            "back": {"kind": "back"},
            "again": {"kind": "repeat"},
            "top": {"kind": "main_menu"},
            "bye": {"kind": "hangup", "prompt": "Tạm biệt"},
        },
    }


def test_every_kind_round_trips_through_dict_and_json() -> None:
    tree = MenuTree.from_dict(every_kind())
    assert {n.kind for n in tree.nodes.values()} == set(NodeKind)
    again = MenuTree.from_dict(json.loads(json.dumps(tree.to_dict(), ensure_ascii=False)))
    assert again == tree
    assert again.to_dict() == tree.to_dict()


def test_parsed_values_and_effective_defaults() -> None:
    tree = MenuTree.from_dict(every_kind())
    menu = tree.node("m")
    assert isinstance(menu, MenuNode)
    assert [c.key for c in menu.choices] == ["1", None, "3"]
    assert menu.prompt == Prompt("Chọn", "rec-1")
    assert tree.global_keys == {
        "9": GlobalAction.REPEAT,
        "*": GlobalAction.BACK,
        "0": GlobalAction.OFFICER,
    }
    assert tree.timeout_for(menu) == 6.5 and tree.retries_for(menu) == 3
    assert tree.on_fail_for(menu) is OnFail.OFFICER
    code = tree.node("code")
    assert isinstance(code, InputNode)
    assert code.terminator is None and code.confirm
    assert tree.timeout_for(code) == 4.0 and tree.retries_for(code) == 1
    assert tree.on_fail_for(code) is OnFail.MAIN_MENU
    assert tree.no_match_for(menu) == Prompt("Không rõ")
    assert tree.no_input_for(menu) == tree.defaults.no_input
    assert tree.inter_digit_timeout_for(code) == 3.0
    phone = tree.node("phone")
    assert isinstance(phone, InputNode)
    assert phone.rule == InputRule(RuleKind.DIGITS, min_digits=9, max_digits=11)
    look = tree.node("look")
    assert isinstance(look, DossierLookupNode)
    assert dict(look.targets()) == {
        "found": "survey",
        "not_found": "m",
        "failed": "xfer",
        "overdue": "xfer",
    }
    proc = tree.node("proc")
    assert isinstance(proc, ProcedureNode)
    assert proc.topics == (Topic.FEES, Topic.DOCUMENTS)
    callback = tree.node("cb")
    assert isinstance(callback, CallbackNode)
    assert callback.number is CallbackNumber.INPUT


def test_tree_is_immutable() -> None:
    tree = MenuTree.from_dict(every_kind())
    with pytest.raises(TypeError):
        tree.nodes["x"] = tree.node("m")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.start = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.pop("start"), "start"),
        (lambda d: d["nodes"]["m"].update(kind="dance"), "nodes.m.kind"),
        (lambda d: d["nodes"]["m"].update(colour="red"), "nodes.m"),
        (lambda d: d["nodes"]["m"]["choices"][0].update(key=[1]), "nodes.m.choices[0].key"),
        (lambda d: d["nodes"]["say"].pop("next"), "nodes.say.next"),
        (lambda d: d["nodes"]["say"].update(timeout_s="slow"), "nodes.say.timeout_s"),
        (lambda d: d["nodes"]["say"].update(retries=True), "nodes.say.retries"),
        (lambda d: d["nodes"]["code"].update(rule="digits"), "nodes.code.rule"),
        (lambda d: d["nodes"]["code"].update(rule="shoe size"), "nodes.code.rule"),
        (lambda d: d["nodes"]["proc"].update(topics=["gossip"]), "nodes.proc.topics[0]"),
        (lambda d: d["global_keys"].update({"5": "dance"}), "global_keys.5"),
        (lambda d: d.update(nodes=[1, 2]), "nodes"),
        (lambda d: d["nodes"].update(x="text"), "nodes.x"),
        (lambda d: d["defaults"].update(retries="two"), "defaults.retries"),
    ],
)
def test_bad_shapes_raise_format_error_with_path(mutate: Any, path: str) -> None:
    data = every_kind()
    mutate(data)
    with pytest.raises(MenuFormatError) as err:
        MenuTree.from_dict(data)
    assert err.value.path == path
