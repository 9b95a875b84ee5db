"""A fixed-bucket histogram of short durations, cheap enough to feed from a datagram callback.

Percentiles of packet timings (added delay, send intervals) are wanted over minutes of hundreds
of streams: keeping every value would grow without bound, and sorting them would stall the
loop. Values fall into 0.1 ms buckets up to :data:`SPAN_S`; longer ones are counted in a last
bucket, so a percentile that lands there reads as "at least the span".
"""

from __future__ import annotations

RESOLUTION_S = 0.0001
SPAN_S = 0.5
_BUCKETS = int(SPAN_S / RESOLUTION_S)


class LatencyHistogram:
    """Counts of durations in seconds, by 0.1 ms bucket."""

    __slots__ = ("count", "counts", "max_s", "total_s")

    def __init__(self) -> None:
        self.counts = [0] * (_BUCKETS + 1)
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def add(self, seconds: float) -> None:
        """Count one duration (negative ones, from clocks stepping, count as zero)."""
        if seconds < 0.0:
            seconds = 0.0
        index = int(seconds / RESOLUTION_S)
        self.counts[index if index < _BUCKETS else _BUCKETS] += 1
        self.count += 1
        self.total_s += seconds
        if seconds > self.max_s:
            self.max_s = seconds

    def merge(self, other: LatencyHistogram) -> None:
        """Add the counts of `other` to these."""
        for index, n in enumerate(other.counts):
            if n:
                self.counts[index] += n
        self.count += other.count
        self.total_s += other.total_s
        self.max_s = max(self.max_s, other.max_s)

    def percentile(self, q: float) -> float:
        """The upper edge of the bucket holding the `q` quantile (0 < q <= 1); 0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, int(q * self.count + 0.999999))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min((index + 1) * RESOLUTION_S, self.max_s)
        return self.max_s

    @property
    def mean_s(self) -> float:
        """The mean duration; 0 when empty."""
        return self.total_s / self.count if self.count else 0.0
