"""Readiness of a node: named checks, each either passing or failing with a reason.

``/readyz`` answers 200 only when every check passes; a load balancer or Kamailio's dispatcher
then sends calls elsewhere. Checks are set from the threads that know (the start-up sequence,
the database watcher), so the object is guarded by a lock.
"""

from __future__ import annotations

import threading


class Readiness:
    """Named checks; a check never set counts as failing ("not checked yet")."""

    def __init__(self, *names: str) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, str | None] = dict.fromkeys(names, "not checked yet")

    def passed(self, name: str) -> None:
        """Mark ``name`` as passing."""
        with self._lock:
            self._problems[name] = None

    def failed(self, name: str, problem: str) -> None:
        """Mark ``name`` as failing because of ``problem``."""
        with self._lock:
            self._problems[name] = problem

    @property
    def ready(self) -> bool:
        """True when every check passes."""
        with self._lock:
            return all(problem is None for problem in self._problems.values())

    def report(self) -> dict[str, str]:
        """Each check's state: ``ok`` or its problem."""
        with self._lock:
            return {name: problem or "ok" for name, problem in self._problems.items()}
