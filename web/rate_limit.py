"""Per-address request limits: a sliding one-minute window kept in memory per process.

Memory is bounded: past ``max_keys`` addresses the oldest are forgotten, so a flood of forged
addresses costs a fixed amount of memory (and each still meets the limit from then on).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable


class WindowLimiter:
    """At most ``limit`` events per ``window_s`` seconds for each key."""

    def __init__(
        self, limit: int, *, window_s: float, clock: Callable[[], float], max_keys: int = 10000
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) when over the limit."""
        now = self.clock()
        events = self._events.pop(key, None) or deque()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        self._events[key] = events
        if len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def retry_after_s(self, key: str) -> int:
        """Seconds until ``key`` may try again (0 when it may now)."""
        events = self._events.get(key)
        if not events or len(events) < self.limit:
            return 0
        return max(1, int(events[0] + self.window_s - self.clock()) + 1)
