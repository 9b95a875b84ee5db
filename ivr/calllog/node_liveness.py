"""A node's heartbeat, and the look for other nodes' lost calls, in one background thread.

At start (:meth:`NodeLiveness.start_up`, before the node takes calls) a node closes as lost
the calls it still carried when it last stopped without ending them (killed, or the machine
lost power), at its previous heartbeat; then it beats. While it runs (:meth:`start`) it beats
every ``heartbeat_s`` and closes the calls of any other node whose heartbeat is older than
``lost_after_s``. See :mod:`ivr.calllog.lost_calls`.

Times are each node's own clock (UTC): nodes sharing a database keep their clocks in step
(NTP), and ``lost_after_s`` is several heartbeats long, so a second of skew changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from db import database_unreachable, unit_of_work
from ivr.calllog.lost_calls import beat, last_beat, record_lost_calls, stale_nodes

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NodeLiveness:
    """The heartbeat of ``node_id`` and the search for lost calls.

    ``on_lost(node_id, count)`` is told of every batch of calls this node closed as lost (the
    metrics count them); it runs on the liveness thread, or on the caller's for
    :meth:`start_up` and :meth:`round`.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        node_id: str,
        *,
        heartbeat_s: float,
        lost_after_s: float,
        on_lost: Callable[[str, int], None],
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not node_id:
            raise ValueError("a node needs an id to beat")
        if heartbeat_s <= 0 or lost_after_s <= 0:
            raise ValueError("heartbeat_s and lost_after_s must be positive")
        self.node_id = node_id
        self._factory = factory
        self._heartbeat_s = heartbeat_s
        self._lost_after = timedelta(seconds=lost_after_s)
        self._on_lost = on_lost
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._started_up = False

    def start_up(self) -> int:
        """Close this node's calls left open by its previous run, then beat. Returns how many
        calls were closed as lost."""
        with unit_of_work(self._factory) as session:
            previous = last_beat(session, self.node_id)
            closed = record_lost_calls(session, self.node_id, previous or self._now())
            beat(session, self.node_id, self._now(), starting=True)
        self._started_up = True
        if closed:
            self._on_lost(self.node_id, closed)
        return closed

    def round(self) -> int:
        """Beat once, then close the calls of nodes whose heartbeat is stale. Returns how many
        calls were closed as lost."""
        now = self._now()
        with unit_of_work(self._factory) as session:
            beat(session, self.node_id, now)
        total = 0
        with unit_of_work(self._factory) as session:
            stale = stale_nodes(session, now - self._lost_after, besides=self.node_id)
        for node_id, seen in stale:
            with unit_of_work(self._factory) as session:
                closed = record_lost_calls(session, node_id, seen)
            if closed:
                log.warning(
                    "node %s silent since %s: %d of its calls recorded as lost",
                    node_id, seen.isoformat(timespec="seconds"), closed,
                )  # fmt: skip
                self._on_lost(node_id, closed)
                total += closed
        return total

    def start(self) -> None:
        """Beat and look for lost calls every ``heartbeat_s`` on a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="node-liveness", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (the heartbeat row stays: it tells when the node was last up)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            try:
                if self._started_up:
                    self.round()
                else:  # the database went away at start: this node's old calls come first
                    self.start_up()
            except Exception as exc:  # the database is down or busy: beat again next time
                if not self._failing:
                    how = "unreachable" if database_unreachable(exc) else "refused"
                    log.warning("node %s: heartbeat %s: %s", self.node_id, how, exc)
                self._failing = True
                continue
            if self._failing:
                log.warning("node %s: heartbeat written again", self.node_id)
                self._failing = False
