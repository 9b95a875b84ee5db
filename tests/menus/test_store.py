"""Drafts, publish, active version pinning, rollback and diff on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from db import Base, downgrade, migrate
from menus.loader import MenuLoadError
from menus.model import MenuTree, Prompt, SayNode
from menus.schema import dump_json, load_tree, read_tree
from menus.store import (
    MenuNotFound,
    MenuStore,
    PublishedTrees,
    PublishRefused,
    content_hash,
    diff_trees,
    publish_default,
)
from menus.validate import KnownIds, ProblemCode
from tests.menus.conftest import SAMPLE_KNOWN

PUBLISHERS = 4
MENU_TABLES = {"menu_drafts", "menu_versions", "menu_active"}


def test_migration_matches_tables_and_downgrades(db: Engine) -> None:
    with db.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if any(t in repr(d) for t in MENU_TABLES)]
    assert ours == []
    downgrade(db, "0002_catalogue_calls")
    assert not MENU_TABLES & set(inspect(db).get_table_names())
    migrate(db)
    assert set(inspect(db).get_table_names()) >= MENU_TABLES


def test_drafts_crud(sessions: sessionmaker[Session], hotline_yaml: str) -> None:
    store = MenuStore(sessions)
    draft = store.create_draft(hotline_yaml.encode(), fmt="yaml", author="admin")
    assert (draft.tree_id, draft.fmt, draft.author) == ("hotline", "yaml", "admin")
    assert "# The default menu tree" in store.draft(draft.id).source  # comments are kept
    broken = hotline_yaml.replace("start: greeting", "start: nowhere")
    updated = store.update_draft(draft.id, broken, fmt="yaml", author="editor")
    assert updated.author == "editor" and updated.updated_at >= draft.updated_at
    assert [d.id for d in store.drafts()] == [draft.id]
    with pytest.raises(MenuLoadError):
        store.update_draft(draft.id, "a: &x 1\nb: *x\n", fmt="yaml", author="x")
    assert store.draft(draft.id).source == broken  # a refused update changes nothing
    store.delete_draft(draft.id)
    with pytest.raises(MenuNotFound):
        store.draft(draft.id)


def test_invalid_draft_is_refused_with_problems(
    sessions: sessionmaker[Session], hotline_yaml: str
) -> None:
    store = MenuStore(sessions)
    broken = hotline_yaml.replace("department: so-tn-mt", "department: so-khong-co")
    draft = store.create_draft(broken, fmt="yaml", author="admin")
    tree, problems = store.check_draft(draft.id, SAMPLE_KNOWN)
    assert tree is not None
    assert [(p.node_id, p.field, p.code) for p in problems] == [
        ("procedures_environment", "department", ProblemCode.UNKNOWN_DEPARTMENT)
    ]
    with pytest.raises(PublishRefused) as refused:
        store.publish_draft(draft.id, author="admin", note="x", known=SAMPLE_KNOWN)
    assert refused.value.problems == problems
    assert store.versions() == []
    schema_broken = store.create_draft('{"id": "x"}', fmt="json", author="admin")
    tree, problems = store.check_draft(schema_broken.id, SAMPLE_KNOWN)
    assert tree is None and {p.code for p in problems} == {ProblemCode.SCHEMA}


def test_publish_pin_rollback_diff(sessions: sessionmaker[Session], hotline_yaml: str) -> None:
    store = MenuStore(sessions)
    draft = store.create_draft(hotline_yaml, fmt="yaml", author="an")
    v1 = store.publish_draft(draft.id, author="an", note="first", known=SAMPLE_KNOWN)
    number, pinned = store.active("hotline")
    assert (number, pinned.version, v1.active, v1.rollback_of) == (1, 1, True, None)
    assert v1.content_hash == content_hash(load_tree(hotline_yaml))

    # v2: a new greeting, one node removed, one added; a call pinned to v1 is unaffected
    greeting = pinned.node("greeting")
    assert isinstance(greeting, SayNode)
    nodes = dict(pinned.nodes)
    nodes["greeting"] = dataclasses.replace(greeting, prompt=Prompt("Xin chào quý vị."))
    nodes["dossier_failed"] = SayNode(
        id="dossier_failed", prompt=Prompt("Xin lỗi, hệ thống đang bận."), next="officer"
    )
    del nodes["to_main"]
    nodes["main_again"] = dataclasses.replace(pinned.node("to_main"), id="main_again")
    for node_id, node in list(nodes.items()):
        if getattr(node, "choices", None):
            choices = tuple(
                dataclasses.replace(c, next="main_again") if c.next == "to_main" else c
                for c in node.choices  # type: ignore[union-attr]
            )
            nodes[node_id] = dataclasses.replace(node, choices=choices)  # type: ignore[arg-type]
    v2_tree = dataclasses.replace(pinned, nodes=nodes, title="Tổng đài 1022")
    v2 = store.publish(v2_tree, author="binh", note="new greeting", known=SAMPLE_KNOWN)
    assert v2.number == 2
    assert pinned.node("greeting") == greeting  # the pinned tree is immutable
    number, current = store.active()
    assert number == 2 and current.node("greeting").prompt == Prompt("Xin chào quý vị.")

    diff = store.diff(1, 2)
    assert diff.tree_fields == ("title",)
    changes = {c.node_id: c for c in diff.nodes}
    assert changes["greeting"].change == "changed" and changes["greeting"].fields == ("prompt",)
    assert changes["dossier_failed"].fields == ("prompt",)
    assert changes["to_main"].change == "removed" and changes["main_again"].change == "added"
    assert "choices[1].next" in changes["dossier_after"].fields
    assert store.diff(2, 2).empty

    # rollback publishes v1's content again as v3
    v3 = store.rollback(1, author="an", note="")
    assert (v3.number, v3.rollback_of, v3.active) == (3, 1, True)
    assert v3.note == "rollback to version 1" and v3.content_hash == v1.content_hash
    assert store.active()[0] == 3 and store.diff(1, 3).empty
    listed = store.versions("hotline")
    assert [(v.number, v.active) for v in listed] == [(3, True), (2, False), (1, False)]
    assert [v.author for v in listed] == ["an", "binh", "an"]
    assert store.version(2).note == "new greeting" and not store.version(2).active

    # a second store (another process) reads the same history
    other = MenuStore(sessions)
    assert other.tree(2) == store.tree(2) and other.active()[0] == 3

    # editing a published version starts from its exact content
    again = other.draft_from_version(2, fmt="json", author="an")
    assert load_tree(again.source, fmt="json") == dataclasses.replace(store.tree(2), version=2)


def test_publish_refuses_invalid_tree(sessions: sessionmaker[Session], hotline_yaml: str) -> None:
    store = MenuStore(sessions)
    tree = load_tree(hotline_yaml)
    with pytest.raises(PublishRefused) as refused:
        store.publish(tree, author="a", note="", known=KnownIds(departments=frozenset()))
    assert all(p.code is ProblemCode.UNKNOWN_DEPARTMENT for p in refused.value.problems)
    with pytest.raises(MenuNotFound):
        store.active("hotline")
    with pytest.raises(MenuNotFound):
        store.rollback(7, author="a")
    with pytest.raises(MenuNotFound):
        store.diff(1, 2)


def test_diff_trees_reports_tree_fields() -> None:
    base = MenuTree.from_dict(
        {
            "id": "t",
            "title": "T",
            "start": "a",
            "officer_department": "tong-dai",
            "global_keys": {"0": "officer"},
            "nodes": {"a": {"kind": "hangup", "prompt": "Tạm biệt"}},
        }
    )
    changed = MenuTree.from_dict({**base.to_dict(), "global_keys": {"0": "officer", "9": "repeat"}})
    diff = diff_trees(base, changed)
    assert diff.tree_fields == ("global_keys.9",) and diff.nodes == ()
    assert content_hash(base) == content_hash(load_tree(dump_json(base), fmt="json"))


def test_concurrent_publishes_leave_the_newest_active(
    sessions: sessionmaker[Session], hotline_yaml: str
) -> None:
    tree = load_tree(hotline_yaml)
    barrier = threading.Barrier(PUBLISHERS)

    def publish(i: int) -> int:
        store = MenuStore(sessions)  # one store per worker process in production
        barrier.wait(timeout=10)
        return store.publish(tree, author=f"admin{i}", note="", known=SAMPLE_KNOWN).number

    with ThreadPoolExecutor(PUBLISHERS) as pool:
        numbers = sorted(pool.map(publish, range(PUBLISHERS)))
    # every publish got its own number (a retried one may leave a gap in the sequence)
    assert len(set(numbers)) == PUBLISHERS
    store = MenuStore(sessions)
    assert store.active()[0] == numbers[-1]
    assert [v.active for v in store.versions()] == [True] + [False] * (PUBLISHERS - 1)


def test_published_trees_fall_back_to_the_default_file(sessions: sessionmaker[Session]) -> None:
    store = MenuStore(sessions)
    path = MenuSettings().default_tree
    source = PublishedTrees(store, fallback=path)
    before = source.current()
    assert before.version is None and before == read_tree(path)
    with pytest.raises(MenuNotFound):
        PublishedTrees(store).current()  # no fallback: nothing to run

    first = publish_default(store, path, known=SAMPLE_KNOWN)
    assert first is not None and first.note == "default tree from hotline.yaml"
    assert publish_default(store, path, known=SAMPLE_KNOWN) is None  # only once
    pinned = source.current()
    assert pinned.version == first.number

    greeting = pinned.node("greeting")
    changed = dataclasses.replace(
        pinned,
        nodes={**pinned.nodes, "greeting": dataclasses.replace(greeting, prompt=Prompt("Chào."))},
    )
    second = store.publish(changed, author="an", note="", known=SAMPLE_KNOWN)
    assert source.current().version == second.number
    assert pinned.node("greeting") == greeting  # a call that pinned the first keeps it


def test_diff_draft_against_active(sessions: sessionmaker[Session], hotline_yaml: str) -> None:
    store = MenuStore(sessions)
    draft = store.create_draft(hotline_yaml, fmt="yaml", author="an")
    fresh = store.diff_draft(draft.id, SAMPLE_KNOWN)
    assert (fresh.old, fresh.new) == (0, 0)
    assert len(fresh.nodes) == 31 and {c.change for c in fresh.nodes} == {"added"}
    store.publish_draft(draft.id, author="an", note="", known=SAMPLE_KNOWN)
    assert store.diff_draft(draft.id, SAMPLE_KNOWN).empty
    store.update_draft(
        draft.id, hotline_yaml.replace("retries: 1\n", "retries: 2\n"), fmt="yaml", author="an"
    )
    changed = store.diff_draft(draft.id, SAMPLE_KNOWN)
    assert changed.old == 1 and [(c.node_id, c.fields) for c in changed.nodes] == [
        ("survey", ("retries",))
    ]
