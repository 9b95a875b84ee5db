"""Timer values of RFC 3261 (§17, table 4) and the injected scheduler the transactions use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class TimerHandle(Protocol):
    """What a scheduled callback returns: it can be cancelled (asyncio.TimerHandle fits)."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Schedules callbacks; asyncio's event loop fits, tests inject a virtual clock."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle: ...

    def time(self) -> float: ...


@dataclass(frozen=True)
class SipTimers:
    """T1 (RTT estimate), T2 (maximum retransmit interval), T4 (network lifetime), seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J and L."""
        return 64 * self.t1

    def next_interval(self, current: float, *, cap: bool = True) -> float:
        """Doubling retransmission interval, capped at T2 (Timers A, E, G)."""
        doubled = current * 2
        return min(doubled, self.t2) if cap else doubled
