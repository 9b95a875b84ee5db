"""Which officers ring for the caller at the head of the line: the distribution strategies.

Pure functions over :class:`~ivr.queue.model.Presence` records, so every store (memory,
database) and every worker decides the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from ivr.queue.model import OfficerState, Presence, QueueEntry

Strategy = Literal["longest_idle", "round_robin", "ring_all"]


def available(officers: Sequence[Presence], now: float) -> list[Presence]:
    """Officers free to take a call at `now`."""
    return [p for p in officers if p.current(now) is OfficerState.AVAILABLE]


def choose_officers(officers: Sequence[Presence], strategy: Strategy, now: float) -> list[str]:
    """The extensions to ring, best first; empty when nobody is free.

    longest_idle: the one free the longest (``app_queue``'s ``leastrecent``);
    round_robin: the one offered a call longest ago, so turns go around the team;
    ring_all: every free officer at once, the first to answer wins.
    """
    free = available(officers, now)
    if not free:
        return []
    if strategy == "ring_all":
        return [p.extension for p in sorted(free, key=lambda p: (p.free_since(), p.extension))]
    if strategy == "round_robin":
        best = min(free, key=lambda p: (p.last_offered_at, p.extension))
    else:
        best = min(free, key=lambda p: (p.free_since(), p.extension))
    return [best.extension]


def line(entries: Sequence[QueueEntry]) -> list[QueueEntry]:
    """The entries still in line, in the order they are served (ticket, then arrival)."""
    return sorted((e for e in entries if e.in_line), key=lambda e: (e.ticket, e.id))


def position(entries: Sequence[QueueEntry], entry_id: int) -> int:
    """1-based place of `entry_id` in line; 0 when it is no longer in line."""
    for place, entry in enumerate(line(entries), start=1):
        if entry.id == entry_id:
            return place
    return 0
