"""The default Vietnamese hotline tree passes validation and has the branches callers need."""

from __future__ import annotations

import unicodedata

import pytest

from config.settings import MenuSettings
from menus.model import (
    DossierLookupNode,
    GlobalAction,
    HangupNode,
    HoursNode,
    MenuNode,
    MenuTree,
    NodeKind,
    ProcedureNode,
    SayNode,
    SurveyNode,
    TransferNode,
)
from menus.schema import dump_json, load_tree, read_tree
from menus.validate import ProblemCode, validate

DEPARTMENTS = {"so-cong-thuong", "so-tn-mt", "ubnd-xa", "tong-dai"}


@pytest.fixture(scope="module")
def tree() -> MenuTree:
    return read_tree(MenuSettings().default_tree)


def test_default_tree_passes_validation(tree: MenuTree) -> None:
    assert validate(tree, departments=DEPARTMENTS, procedures=set()) == []


def test_default_tree_refers_only_to_known_departments(tree: MenuTree) -> None:
    problems = validate(tree, departments=DEPARTMENTS - {"so-tn-mt"}, procedures=set())
    assert [(p.node_id, p.code) for p in problems] == [
        ("procedures_environment", ProblemCode.UNKNOWN_DEPARTMENT)
    ]


def test_greeting_announces_recording_then_main_menu(tree: MenuTree) -> None:
    greeting = tree.node(tree.start)
    assert isinstance(greeting, SayNode) and greeting.prompt is not None
    assert "ghi âm" in greeting.prompt.text
    main = tree.node(greeting.next)
    assert isinstance(main, MenuNode)
    by_key = {c.key: c.next for c in main.choices}
    assert set(by_key) == {"1", "2", "3", "0"}
    assert tree.node(by_key["1"]).kind is NodeKind.INPUT
    assert tree.node(by_key["2"]).kind is NodeKind.MENU
    assert by_key["0"] == tree.officer_node
    assert tree.global_keys == {
        "9": GlobalAction.REPEAT,
        "*": GlobalAction.BACK,
        "0": GlobalAction.OFFICER,
    }


def test_dossier_branch_checks_the_caller_and_apologises_when_overdue(tree: MenuTree) -> None:
    lookup = tree.node("dossier_lookup")
    assert isinstance(lookup, DossierLookupNode)
    assert lookup.personal_details and lookup.verify_prompt is not None
    overdue = tree.node(lookup.overdue or "")
    assert isinstance(overdue, MenuNode) and overdue.prompt is not None
    # the runtime reads the apology with the days late; the menu offers an officer first
    assert overdue.choices[0].key == "0" and overdue.choices[0].next == tree.officer_node
    assert "phím 0" in overdue.prompt.text.split(".")[0]


def test_procedure_branch_covers_the_three_departments_and_search(tree: MenuTree) -> None:
    procedures = [n for n in tree.nodes.values() if isinstance(n, ProcedureNode)]
    assert {p.department for p in procedures} == {"so-cong-thuong", "so-tn-mt", "ubnd-xa", None}
    assert {p.mode.value for p in procedures} == {"browse", "find"}
    for p in procedures:
        assert [t.value for t in p.topics] == ["documents", "fees", "processing_time", "submission"]


def test_officer_branch_follows_working_hours(tree: MenuTree) -> None:
    hours = tree.node(tree.officer_node or "")
    assert isinstance(hours, HoursNode)
    assert isinstance(tree.node(hours.open), TransferNode)
    for branch in (hours.closed, hours.holiday or ""):
        menu = tree.node(branch)
        assert isinstance(menu, MenuNode)
        assert tree.on_fail_for(menu).value == "main_menu"  # no loop back into closed hours
        assert any(tree.node(c.next).kind is NodeKind.CALLBACK for c in menu.choices)


def test_calls_end_with_a_survey_and_a_goodbye(tree: MenuTree) -> None:
    survey = tree.node("survey")
    assert isinstance(survey, SurveyNode)
    assert isinstance(tree.node(survey.next), HangupNode)


def test_prompts_are_vietnamese_with_diacritics(tree: MenuTree) -> None:
    prompts = [n.prompt.text for n in tree.nodes.values() if n.prompt is not None]
    assert len(prompts) >= 25
    for text in prompts:
        assert text == unicodedata.normalize("NFC", text)
        assert any(ord(ch) > 127 for ch in text), text
        # courteous wording: the caller is addressed as "quý vị", requests begin with "xin"
        assert "quý vị" in text.lower() or "xin" in text.lower(), text


def test_default_tree_round_trips_through_json(tree: MenuTree) -> None:
    assert load_tree(dump_json(tree), fmt="json") == tree
