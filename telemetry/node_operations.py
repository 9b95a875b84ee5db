"""What ``tongdai serve`` runs around its workers: readiness, the node's HTTP endpoint, the
database wait at start and the database watch afterwards, and the node's heartbeat with the
search for lost calls (:mod:`ivr.calllog.node_liveness`).

Import this module only after :func:`telemetry.multiprocess.prepare_directory` (it imports
``prometheus_client``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from db import database_unreachable
from ivr.calllog.node_liveness import NodeLiveness
from telemetry.database_check import DatabaseWatcher, one_line, wait_for_database
from telemetry.metrics import LivenessMetrics
from telemetry.multiprocess import aggregating_registry
from telemetry.node_http import NodeHttp
from telemetry.readiness import Readiness

log = logging.getLogger(__name__)


def say(line: str) -> None:
    """One line for the operator on stderr (start-up news that must not hide in the log)."""
    print(f"tongdai: {line}", file=sys.stderr, flush=True)


class NodeOperations:
    """Readiness checks ``database`` and ``sip``, served on ``/readyz`` with ``/metrics``."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.readiness = Readiness("database", "sip")
        self.http: NodeHttp | None = None
        self._watcher: DatabaseWatcher | None = None
        self.liveness: NodeLiveness | None = None
        self._engine: Any = None

    def start(self) -> None:
        """Open the HTTP endpoint (when a port is set), then wait for the database: until it
        answers, ``/readyz`` says why not and no SIP port is opened."""
        node = self.settings.node
        if node.http_port:
            self.http = NodeHttp(
                node.http_host, node.http_port, aggregating_registry(),  # type: ignore[arg-type]
                self.readiness,
            )  # fmt: skip
            say(f"metrics and health on http://{node.http_host}:{self.http.port}/metrics")
        wait_for_database(
            self.settings.database_url,
            self.readiness,
            retry_s=node.database_retry_s,
            wait_max_s=node.database_wait_max_s,
            timeout_s=node.database_timeout_s,
            say=say,
        )
        self._start_liveness()

    def _start_liveness(self) -> None:
        """Close this node's calls left open by a previous run and write its first heartbeat,
        before it takes calls. A database only this process sees has no other nodes."""
        from prometheus_client import CollectorRegistry

        from db import create_engine_from_url, in_memory_database, session_factory

        if in_memory_database(self.settings.database_url):
            return
        node = self.settings.node
        # a private registry: in multiprocess mode the values go to the node's metrics files
        metrics = LivenessMetrics(CollectorRegistry())
        self._engine = create_engine_from_url(self.settings.database_url)
        self.liveness = NodeLiveness(
            session_factory(self._engine), node.id,
            heartbeat_s=node.heartbeat_s, lost_after_s=node.lost_after_s,
            on_lost=lambda node_id, count: metrics.calls_lost.labels(node_id).inc(count),
        )  # fmt: skip
        try:
            closed = self.liveness.start_up()
        except Exception as exc:  # gone again since it answered: the liveness thread retries
            if not database_unreachable(exc):
                raise
            say(f"node {node.id}: heartbeat not written ({one_line(exc)}); retrying")
            closed = 0
        # no connection open while worker processes are forked: the thread opens its own later
        self._engine.dispose()
        if closed:
            say(f"node {node.id}: {closed} calls of its previous run recorded as lost")

    def sip_bound(self) -> None:
        """The SIP port is open and the workers take calls; from now on the database is
        watched (a thread started only now: worker processes are forked before it exists)."""
        self.readiness.passed("sip")
        if self._watcher is None:
            node = self.settings.node
            self._watcher = DatabaseWatcher(
                self.settings.database_url, self.readiness,
                period_s=node.database_check_s, timeout_s=node.database_timeout_s,
            )  # fmt: skip
            self._watcher.start()
        if self.liveness is not None:
            self.liveness.start()

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self.liveness is not None:
            self.liveness.stop()
        if self._engine is not None:
            self._engine.dispose()
        if self.http is not None:
            self.http.close()
