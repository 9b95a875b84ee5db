"""A publish during a live call does not affect it: the call keeps the version it pinned, and
the next call hears the new one. Versions come from the real menu store on a SQLite file."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, migrate, session_factory
from ivr.events import MemorySink, NodeEntered
from ivr.runtime.deps import CallContext, PinnedTree
from ivr.runtime.interpreter import run_call
from menus.model import MenuNode, Prompt
from menus.store import MenuStore
from menus.validate import KnownIds
from tests.runtime.fake_channel import FakeChannel, HangUp, Press, run_virtual
from tests.runtime.fakes import DEPARTMENTS, Backends, hotline_tree, opening

KNOWN = KnownIds(departments=frozenset(d.id for d in DEPARTMENTS))
NEW_MAIN = "Phiên bản mới của menu chính. Để tra cứu hồ sơ, xin nhấn phím 1."


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'menus.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def test_publish_during_a_call_does_not_change_it(sessions: sessionmaker[Session]) -> None:
    store = MenuStore(sessions)
    store.publish(hotline_tree(), author="admin", note="first", known=KNOWN)
    first_number, _ = store.active()
    backends = Backends()
    sink = MemorySink()
    # Call A listens to the main menu, asks to hear it again (9) twice, then hangs up: the
    # publish happens between, while it is in the menu.
    caller_a = FakeChannel(
        [
            Press("9", hear=opening("main"), after_s=10.0),
            Press("9", hear=opening("main"), after_s=10.0),
            HangUp(hear=opening("main"), after_s=3.0),
        ],
        prompts=backends.prompts,
        call_id="call-a",
    )
    caller_b = FakeChannel(
        [HangUp(hear="Phiên bản mới", after_s=1.0)], prompts=backends.prompts, call_id="call-b"
    )

    def pin() -> PinnedTree:
        number, tree = store.active()  # what the call worker does when a call arrives
        return PinnedTree(tree, number)

    def publish_new_main() -> None:
        _, tree = store.active()
        main = tree.nodes["main"]
        assert isinstance(main, MenuNode)
        nodes = {**tree.nodes, "main": dataclasses.replace(main, prompt=Prompt(NEW_MAIN))}
        new = dataclasses.replace(tree, nodes=nodes, version=None)
        store.publish(new, author="admin", note="new main menu", known=KNOWN)

    async def scenario() -> tuple[CallContext, CallContext]:
        call_a = asyncio.create_task(run_call(caller_a, pin(), backends.deps(), sink))
        await asyncio.sleep(20.0)  # call A is in its main menu
        publish_new_main()
        call_b = asyncio.create_task(run_call(caller_b, pin(), backends.deps(), sink))
        results = await asyncio.gather(call_a, call_b)
        await caller_a.close()
        await caller_b.close()
        return results[0], results[1]

    context_a, context_b = run_virtual(scenario())
    second_number, _ = store.active()
    assert second_number > first_number

    assert context_a.tree_version == first_number
    old_main = hotline_tree().nodes["main"].prompt
    assert old_main is not None and caller_a.texts.count(old_main.text) == 3
    assert not caller_a.heard("Phiên bản mới")
    a_versions = {e.tree_version for e in sink.of(NodeEntered, "call-a")}  # type: ignore[attr-defined]
    assert a_versions == {first_number}
    # The publish really happened while call A was running: call B started after it.
    assert caller_a.played[-1].at_s > 20.0

    assert context_b.tree_version == second_number
    assert caller_b.heard("Phiên bản mới")
    b_versions = {e.tree_version for e in sink.of(NodeEntered, "call-b")}  # type: ignore[attr-defined]
    assert b_versions == {second_number}
