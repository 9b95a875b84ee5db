"""Table-driven validation: each problem class is caught with the right node and field."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from menus.model import MenuTree, Prompt, SayNode
from menus.validate import Problem, ProblemCode, ValidationLimits, fold, validate

DEPARTMENTS = {"tong-dai", "so-cong-thuong", "so-tn-mt", "ubnd-xa"}
PROCEDURES = {"1.001234", "2.000889"}


def base() -> dict[str, Any]:
    """A small tree with no problems at all."""
    return {
        "id": "t",
        "title": "T",
        "start": "hello",
        "officer_department": "tong-dai",
        "global_keys": {"9": "repeat", "*": "back", "0": "officer"},
        "global_keywords": {"officer": ["gặp cán bộ"]},
        "nodes": {
            "hello": {"kind": "say", "prompt": "Xin chào", "next": "main"},
            "main": {
                "kind": "menu",
                "prompt": "Mời chọn",
                "choices": [
                    {"key": "1", "keywords": ["hồ sơ"], "next": "code"},
                    {"key": "2", "keywords": ["thủ tục"], "next": "proc"},
                    {"key": "3", "keywords": ["kết thúc"], "next": "bye"},
                ],
            },
            "code": {
                "kind": "input",
                "prompt": "Nhập mã",
                "variable": "dossier_code",
                "rule": "dossier_code",
                "next": "look",
            },
            "look": {
                "kind": "dossier_lookup",
                "variable": "dossier_code",
                "found": "bye",
                "not_found": "main",
                "failed": "xfer",
            },
            "proc": {
                "kind": "procedure",
                "mode": "browse",
                "prompt": "Chọn lĩnh vực",
                "department": "so-cong-thuong",
                "next": "main",
            },
            "xfer": {"kind": "transfer", "department": "tong-dai"},
            "bye": {"kind": "hangup", "prompt": "Tạm biệt"},
        },
    }


Mutation = Callable[[dict[str, Any]], None]


def node(node_id: str, **changes: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d["nodes"].setdefault(node_id, {}).update(changes)

    return mutate


def drop(node_id: str, field: str) -> Mutation:
    return lambda d: d["nodes"][node_id].pop(field)


def choice(i: int, **changes: Any) -> Mutation:
    return lambda d: d["nodes"]["main"]["choices"][i].update(changes)


def tree_field(**changes: Any) -> Mutation:
    return lambda d: d.update(changes)


def both(*mutations: Mutation) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)

    return mutate


def menu_chain(length: int) -> Mutation:
    """main -> m0 -> m1 -> ... -> bye: ``length`` more menu levels below main."""

    def mutate(d: dict[str, Any]) -> None:
        d["nodes"]["main"]["choices"][2]["next"] = "m0"
        for i in range(length):
            nxt = f"m{i + 1}" if i + 1 < length else "bye"
            d["nodes"][f"m{i}"] = {
                "kind": "menu",
                "prompt": f"Cấp {i}",
                "choices": [{"key": "1", "next": nxt}],
            }

    return mutate


def no_escape(d: dict[str, Any]) -> None:
    """A menu that only leads to a say that leads back: no officer key, on_fail main menu."""
    d["global_keys"] = {}
    d["global_keywords"] = {}
    d["defaults"] = {"on_fail": "main_menu"}
    d["nodes"] = {
        "hello": {"kind": "say", "prompt": "Xin chào", "next": "main"},
        "main": {"kind": "menu", "prompt": "Mời chọn", "choices": [{"key": "1", "next": "info"}]},
        "info": {"kind": "say", "prompt": "Thông tin", "next": "main"},
    }


def closed_loop(d: dict[str, Any]) -> None:
    """When closed, the hours node and a say chase each other without waiting for the caller."""
    d["nodes"]["main"]["choices"][2]["next"] = "hours"
    d["nodes"]["hours"] = {
        "kind": "hours",
        "department": "tong-dai",
        "open": "xfer",
        "closed": "closed_msg",
    }
    d["nodes"]["closed_msg"] = {"kind": "say", "prompt": "Ngoài giờ", "next": "hours"}


def repeat_say(d: dict[str, Any]) -> None:
    d["nodes"]["hello"]["next"] = "again"
    d["nodes"]["again"] = {"kind": "repeat"}


CASES: list[tuple[str, Mutation, str | None, str, ProblemCode]] = [
    ("dangling choice", choice(0, next="nowhere"), "main", "choices[0].next",
     ProblemCode.DANGLING_REFERENCE),
    ("dangling lookup branch", node("look", failed="gone"), "look", "failed",
     ProblemCode.DANGLING_REFERENCE),
    ("dangling start", tree_field(start="nope"), None, "start", ProblemCode.DANGLING_REFERENCE),
    ("dangling officer node", tree_field(officer_node="desk"), None, "officer_node",
     ProblemCode.DANGLING_REFERENCE),
    ("unreachable", node("orphan", kind="say", prompt="x", next="main"), "orphan", "",
     ProblemCode.UNREACHABLE),
    ("duplicate key", choice(1, key="1"), "main", "choices[1].key", ProblemCode.DUPLICATE_KEY),
    ("bad key", choice(2, key="A"), "main", "choices[2].key", ProblemCode.BAD_KEY),
    ("bad global key", tree_field(global_keys={"x": "back"}), None, "global_keys.x",
     ProblemCode.BAD_KEY),
    ("keyword case and diacritics", choice(1, keywords=["thủ tục", "HỒ  SƠ"]), "main",
     "choices[1].keywords[1]", ProblemCode.KEYWORD_COLLISION),
    ("keyword without tones", choice(2, keywords=["ho so"]), "main", "choices[2].keywords[0]",
     ProblemCode.KEYWORD_COLLISION),
    ("keyword d-stroke", both(choice(0, keywords=["đất đai"]), choice(1, keywords=["dat dai"])),
     "main", "choices[1].keywords[0]", ProblemCode.KEYWORD_COLLISION),
    ("keyword vs global keyword", choice(2, keywords=["Gặp cán bộ!"]), "main",
     "choices[2].keywords[0]", ProblemCode.KEYWORD_COLLISION),
    ("menu without choices", node("main", choices=[]), "main", "choices", ProblemCode.EMPTY_MENU),
    ("missing menu prompt", drop("main", "prompt"), "main", "prompt", ProblemCode.MISSING_PROMPT),
    ("blank goodbye", node("bye", prompt="   "), "bye", "prompt", ProblemCode.MISSING_PROMPT),
    ("missing input prompt", drop("code", "prompt"), "code", "prompt",
     ProblemCode.MISSING_PROMPT),
    ("blank no_match", node("main", no_match=" "), "main", "no_match",
     ProblemCode.MISSING_PROMPT),
    ("blank default no_input", tree_field(defaults={"no_input": " "}), None, "defaults.no_input",
     ProblemCode.MISSING_PROMPT),
    ("confirm without read-back", node("code", confirm=True), "code", "confirm_prompt",
     ProblemCode.MISSING_PROMPT),
    ("personal details without check", node("look", personal_details=True), "look",
     "verify_prompt", ProblemCode.MISSING_PROMPT),
    ("loop without exit", no_escape, "hello", "next", ProblemCode.LOOP_WITHOUT_EXIT),
    ("loop without input", closed_loop, "hours", "closed", ProblemCode.LOOP_WITHOUT_INPUT),
    ("goto self loop", both(choice(2, next="spin"), node("spin", kind="goto", target="spin")),
     "spin", "target", ProblemCode.LOOP_WITHOUT_EXIT),
    ("repeat of a say", repeat_say, "hello", "next", ProblemCode.LOOP_WITHOUT_EXIT),
    ("too deep", menu_chain(6), "m4", "", ProblemCode.DEPTH_EXCEEDED),
    ("unknown transfer department", node("xfer", department="so-xyz"), "xfer", "department",
     ProblemCode.UNKNOWN_DEPARTMENT),
    ("unknown procedure department", node("proc", department="so-abc"), "proc", "department",
     ProblemCode.UNKNOWN_DEPARTMENT),
    ("unknown officer department", tree_field(officer_department="nobody"), None,
     "officer_department", ProblemCode.UNKNOWN_DEPARTMENT),
    ("unknown procedure", node("proc", procedure="9.999999"), "proc", "procedure",
     ProblemCode.UNKNOWN_PROCEDURE),
    ("lookup of an unset variable", node("look", variable="ma_ho_so"), "look", "variable",
     ProblemCode.UNKNOWN_VARIABLE),
    ("callback number from nowhere",
     both(choice(2, next="cb"), node("cb", kind="callback", prompt="Sẽ gọi lại",
                                      department="tong-dai", number="input", next="bye")),
     "cb", "variable", ProblemCode.UNKNOWN_VARIABLE),
    ("timeout too short", node("main", timeout_s=0.2), "main", "timeout_s",
     ProblemCode.BAD_TIMEOUT),
    ("timeout too long", node("code", inter_digit_timeout_s=100), "code",
     "inter_digit_timeout_s", ProblemCode.BAD_TIMEOUT),
    ("default timeout", tree_field(defaults={"timeout_s": 0}), None, "defaults.timeout_s",
     ProblemCode.BAD_TIMEOUT),
    ("too many retries", node("main", retries=9), "main", "retries", ProblemCode.BAD_RETRIES),
    ("negative retries", node("code", retries=-1), "code", "retries", ProblemCode.BAD_RETRIES),
    ("digits min above max", node("code", rule={"kind": "digits", "min": 5, "max": 2}), "code",
     "rule", ProblemCode.BAD_RULE),
    ("unknown placeholder", node("look", prompt="Mã {dosier_code}"), "look", "prompt",
     ProblemCode.UNKNOWN_PLACEHOLDER),
    ("value outside confirm", node("main", no_match="Bạn nói {value}"), "main", "no_match",
     ProblemCode.UNKNOWN_PLACEHOLDER),
    ("malformed placeholder", node("bye", prompt="Tạm biệt {"), "bye", "prompt",
     ProblemCode.UNKNOWN_PLACEHOLDER),
    ("broken regex", node("code", rule={"kind": "regex", "pattern": "(["}), "code",
     "rule.pattern", ProblemCode.BAD_RULE),
    ("redos regex", node("code", rule={"kind": "regex", "pattern": "(0*)*1"}), "code",
     "rule.pattern", ProblemCode.BAD_RULE),
    ("unbounded regex", node("code", rule={"kind": "regex", "pattern": "[0-9]+"}), "code",
     "rule.pattern", ProblemCode.BAD_RULE),
]  # fmt: skip


def test_base_tree_has_no_problems() -> None:
    tree = MenuTree.from_dict(base())
    assert validate(tree, departments=DEPARTMENTS, procedures=PROCEDURES) == []


@pytest.mark.parametrize(
    ("name", "mutate", "node_id", "field", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_problem_caught_at_node_and_field(
    name: str, mutate: Mutation, node_id: str | None, field: str, code: ProblemCode
) -> None:
    data = base()
    mutate(data)
    problems = validate(MenuTree.from_dict(data), departments=DEPARTMENTS, procedures=PROCEDURES)
    found = {(p.node_id, p.field, p.code) for p in problems}
    assert (node_id, field, code) in found, [str(p) for p in problems]
    for p in problems:
        assert p.message and (p.node_id or "(tree)") in str(p)


def test_node_id_must_match_its_key() -> None:
    tree = MenuTree.from_dict(base())
    nodes = dict(tree.nodes)
    nodes["hello"] = SayNode(id="other", prompt=Prompt("Xin chào"), next="main")
    broken = dataclasses.replace(tree, nodes=nodes)
    problems = validate(broken, departments=DEPARTMENTS, procedures=PROCEDURES)
    assert [(p.node_id, p.field, p.code) for p in problems] == [("hello", "id", ProblemCode.BAD_ID)]


def test_known_placeholders_pass() -> None:
    data = base()
    node("code", confirm=True, confirm_prompt="Mã {value}, đúng không?")(data)
    node("look", prompt="Đang tra cứu mã {dossier_code}. {{không phải biến}}")(data)
    node("bye", prompt="Hồ sơ {dossier_code}: {dossier_status}, hẹn trả {dossier_due}.")(data)
    tree = MenuTree.from_dict(data)
    assert validate(tree, departments=DEPARTMENTS, procedures=PROCEDURES) == []


def test_depth_limit_is_configurable() -> None:
    data = base()
    menu_chain(2)(data)
    tree = MenuTree.from_dict(data)
    assert validate(tree, departments=DEPARTMENTS, procedures=PROCEDURES) == []
    problems = validate(
        tree,
        departments=DEPARTMENTS,
        procedures=PROCEDURES,
        limits=ValidationLimits(max_menu_depth=2),
    )
    assert [(p.node_id, p.code) for p in problems] == [("m1", ProblemCode.DEPTH_EXCEEDED)]


def test_officer_escape_or_on_fail_breaks_a_loop() -> None:
    data = base()
    no_escape(data)
    data["global_keys"] = {"0": "officer"}  # the caller can always ask for an officer
    assert validate(MenuTree.from_dict(data), departments=DEPARTMENTS, procedures=set()) == []
    no_escape(data)
    data["defaults"] = {"on_fail": "officer"}  # retries used up: an officer takes over
    assert validate(MenuTree.from_dict(data), departments=DEPARTMENTS, procedures=set()) == []


def test_problems_come_in_tree_order() -> None:
    data = base()
    node("xfer", department="x")(data)
    drop("main", "prompt")(data)
    tree_field(officer_department="y")(data)
    problems = validate(MenuTree.from_dict(data), departments=DEPARTMENTS, procedures=set())
    assert [(p.node_id, p.field) for p in problems] == [
        (None, "officer_department"),
        ("main", "prompt"),
        ("xfer", "department"),
    ]
    assert isinstance(problems[0], Problem)


def test_fold() -> None:
    assert fold("  Hồ  Sơ, ĐẤT đai! ") == "ho so dat dai"
    assert fold("Ủy ban") == fold("uy ban") == fold("Uỷ ban")


def test_spoken_officer_keyword_is_an_escape_too() -> None:
    data = base()
    no_escape(data)
    data["global_keywords"] = {"officer": ["gặp cán bộ"]}
    assert validate(MenuTree.from_dict(data), departments=DEPARTMENTS, procedures=set()) == []
