"""Prometheus multiprocess mode for ``tongdai serve``: every worker process writes its metrics
to memory-mapped files in one directory, and the node's endpoint adds them up.

The directory must be named in ``PROMETHEUS_MULTIPROC_DIR`` before ``prometheus_client`` is
first imported in the process (the client picks its value store at import), so
:func:`prepare_directory` runs first thing in ``serve``; forked workers inherit it.
See docs/decisions/0030-metrics-multiprocess-mode.md.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_directory(data_dir: Path) -> Path:
    """A fresh, empty metrics directory for this node (one per serving process id), named in
    the environment. Files of an earlier run would add stale counts, so it is emptied."""
    directory = (data_dir / "metrics" / str(os.getpid())).resolve()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[ENV] = str(directory)
    return directory


def remove_directory(directory: Path) -> None:
    """Remove the node's metrics files when it stops."""
    shutil.rmtree(directory, ignore_errors=True)
    if os.environ.get(ENV) == str(directory):
        del os.environ[ENV]


def aggregating_registry() -> object:
    """A registry that reads every process's files (the node endpoint's view)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
