"""A budget on repeated log lines: a flood of bad packets must not become a flood of log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

Clock = Callable[[], float]


class LogBudget:
    """At most ``per_interval`` lines per key per ``interval_s``; then one line saying how many
    were suppressed. A flood of bad packets must not become a flood of log."""

    def __init__(
        self, *, per_interval: int = 5, interval_s: float = 10.0, clock: Clock = time.monotonic
    ) -> None:
        self.per_interval = per_interval
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}  # key: (start, logged, suppressed)
        self.suppressed = 0

    def allow(self, key: str) -> tuple[bool, int]:
        """Whether to log now, and how many lines of this key were suppressed before."""
        now = self._clock()
        start, logged, suppressed = self._windows.get(key, (now, 0, 0))
        if now - start >= self.interval_s:
            start, logged, earlier = now, 0, suppressed
        else:
            earlier = 0
        if logged < self.per_interval:
            self._windows[key] = (start, logged + 1, 0 if earlier else suppressed)
            return True, earlier
        self._windows[key] = (start, logged, suppressed + 1)
        self.suppressed += 1
        return False, 0

    def log(self, logger: logging.Logger, level: int, key: str, msg: str, *args: object) -> None:
        """Log ``msg`` at ``level`` within the budget of ``key``."""
        ok, earlier = self.allow(key)
        if not ok:
            return
        if earlier:
            msg += " (%d similar lines suppressed)"
            args = (*args, earlier)
        logger.log(level, msg, *args)

    def warning(self, logger: logging.Logger, key: str, msg: str, *args: object) -> None:
        """:meth:`log` at WARNING."""
        self.log(logger, logging.WARNING, key, msg, *args)

    def info(self, logger: logging.Logger, key: str, msg: str, *args: object) -> None:
        """:meth:`log` at INFO."""
        self.log(logger, logging.INFO, key, msg, *args)
