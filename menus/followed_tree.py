"""The published tree as a running node sees it, without a database query per call.

Every new call pins the active version of the tree at its start. Asking the database for it on
each call costs a thread hop and a query while the media clock of hundreds of calls ticks on
the same event loop (and in the same interpreter lock); at 50 calls a second that is 50 hops a
second at exactly the moment calls are set up. Instead the node keeps the active version in
memory and checks the database for a newer one every ``check_s`` seconds, from a task of its
own: a publish (made by the web app, another process) reaches new calls within that period,
and calls in progress keep the version they pinned, as before.

While the database cannot be reached, new calls run the last version seen: the hotline keeps
answering with the menu it had rather than failing every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from menus.model import MenuTree
from menus.store import PublishedTrees

log = logging.getLogger(__name__)

CHECK_S = 1.0  # how often the database is asked whether a newer version was published


class FollowedTree:
    """The active published tree, kept current by a background check.

    :meth:`start` reads it once (so the first call already has it) and starts following;
    :meth:`current` is then a plain attribute read, safe on the event loop."""

    def __init__(self, trees: PublishedTrees, *, check_s: float = CHECK_S) -> None:
        self._trees = trees
        self._check_s = check_s
        self._tree: MenuTree | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self) -> None:
        """Read the active tree and follow it from now on."""
        self._tree = await asyncio.to_thread(self._trees.current)
        self._task = asyncio.get_running_loop().create_task(self._follow())

    def current(self) -> MenuTree:
        """The tree a call starting now pins (its ``version`` set once published)."""
        if self._tree is None:
            raise RuntimeError("FollowedTree.start() was not awaited")
        return self._tree

    async def close(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            await self.check()

    async def check(self) -> None:
        """Ask the database now (the store caches trees by version: an unchanged version
        costs one small query)."""
        try:
            tree = await asyncio.to_thread(self._trees.current)
        except Exception as exc:  # keep the last version: calls go on with the menu they had
            if not self._failing:
                log.warning("menu tree check failed (%s): new calls keep version %s",
                            exc, self._tree.version if self._tree else None)  # fmt: skip
            self._failing = True
            return
        if self._failing:
            log.info("menu tree check works again")
            self._failing = False
        if self._tree is None or tree.version != self._tree.version:
            log.info("menu tree: new calls run version %s", tree.version)
        self._tree = tree
