"""The tree a node's new calls pin: read once, followed in the background on the real store
(SQLite file, and PostgreSQL when available); a publish reaches new calls within the check
period; an unreachable database leaves new calls on the last version seen."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from db import create_engine_from_url, migrate, session_factory
from menus.followed_tree import FollowedTree
from menus.model import MenuTree, Prompt
from menus.store import MenuStore, PublishedTrees, publish_default
from tests.menus.conftest import SAMPLE_KNOWN


def _with_greeting(tree: MenuTree, text: str) -> MenuTree:
    greeting = tree.node("greeting")
    nodes = {**tree.nodes, "greeting": dataclasses.replace(greeting, prompt=Prompt(text))}
    return dataclasses.replace(tree, nodes=nodes, version=None)


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


async def test_a_publish_reaches_new_calls_within_the_check_period(
    sessions: sessionmaker[Session],
) -> None:
    store = MenuStore(sessions)
    path = MenuSettings().default_tree
    followed = FollowedTree(PublishedTrees(store, fallback=path), check_s=0.05)
    with pytest.raises(RuntimeError):
        followed.current()  # not started: nothing read yet
    await followed.start()
    try:
        assert followed.current().version is None  # nothing published: the default file
        first = await asyncio.to_thread(publish_default, store, path, known=SAMPLE_KNOWN)
        assert first is not None
        await _until(lambda: followed.current().version == first.number)
        pinned = followed.current()  # what a call starting now keeps for its whole length

        changed = _with_greeting(pinned, "Xin chào, phiên bản hai.")
        second = await asyncio.to_thread(
            store.publish, changed, author="an", note="", known=SAMPLE_KNOWN
        )
        await _until(lambda: followed.current().version == second.number)
        assert followed.current().node("greeting").prompt == Prompt("Xin chào, phiên bản hai.")
        assert pinned.version == first.number  # the earlier call's tree is untouched
        assert followed.current() is followed.current()  # a plain read: no query per call
    finally:
        await followed.close()


async def test_an_unreachable_database_keeps_the_last_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_file = tmp_path / "menus.db"
    engine = create_engine_from_url(f"sqlite:///{db_file}")
    migrate(engine)
    store = MenuStore(session_factory(engine))
    path = MenuSettings().default_tree
    first = publish_default(store, path, known=SAMPLE_KNOWN)
    assert first is not None
    followed = FollowedTree(PublishedTrees(MenuStore(session_factory(engine))), check_s=3600)
    await followed.start()
    try:
        assert followed.current().version == first.number
        # The database file goes away: SQLite opens an empty one where the tables are missing.
        engine.dispose()
        db_file.rename(tmp_path / "elsewhere.db")
        await followed.check()
        assert followed.current().version == first.number
        assert "menu tree check failed" in caplog.text
        engine.dispose()
        (tmp_path / "elsewhere.db").replace(db_file)  # back: the next check reads it again
        second = store.publish(
            _with_greeting(followed.current(), "Chào."), author="an", note="", known=SAMPLE_KNOWN
        )
        await followed.check()
        assert followed.current().version == second.number
    finally:
        await followed.close()
        engine.dispose()
