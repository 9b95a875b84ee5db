"""The counters one RTP stream reports (read by the endpoint, the metrics and the benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamStats:
    """Counters of one stream. Gaps are in seconds between packets actually sent."""

    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    malformed: int
    unknown_payload: int
    foreign: int
    lost: int
    late: int
    duplicate: int
    digits: int
    frames_dropped: int
    max_send_gap_s: float
