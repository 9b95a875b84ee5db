"""What ``tongdai serve`` runs around its workers: readiness, the node's HTTP endpoint, the
database wait at start and the database watch afterwards.

Import this module only after :func:`telemetry.multiprocess.prepare_directory` (it imports
``prometheus_client``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from telemetry.database_check import DatabaseWatcher, wait_for_database
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

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self.http is not None:
            self.http.close()
