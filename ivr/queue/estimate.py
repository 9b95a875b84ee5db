"""Estimated wait from recent handle times, and the Vietnamese sentence that announces it."""

from __future__ import annotations

import math
from collections.abc import Sequence


def estimated_wait_s(
    place: int, handle_times_s: Sequence[float], officers_working: int, default_handle_s: float
) -> float:
    """Seconds until the caller at `place` (1-based) is likely served.

    Each officer frees up once per average handle time, so the line moves ``officers_working``
    places per average handle time; with no history the department's default handle time is
    used. The caller at place 1 waits about half a handle time on average.
    """
    recent = [t for t in handle_times_s if t > 0]
    average = sum(recent) / len(recent) if recent else default_handle_s
    servers = max(1, officers_working)
    return max(0.0, (place - 0.5) * average / servers)


def wait_minutes(wait_s: float) -> int:
    """The estimate in whole minutes as announced: the nearest minute, at least 1."""
    return max(1, math.floor(wait_s / 60 + 0.5))


def position_sentence(place: int, wait_s: float) -> str:
    """ "Quý vị đang ở vị trí thứ 3, thời gian chờ dự kiến khoảng 2 phút"."""
    return (
        f"Quý vị đang ở vị trí thứ {place}, "
        f"thời gian chờ dự kiến khoảng {wait_minutes(wait_s)} phút."
    )
