"""Metrics of one worker process read from the counters its parts already keep.

The endpoint (:class:`~ivr.sip.endpoint.EndpointStats`), each call's RTP stream
(:class:`~ivr.media.stream.StreamStats`), the prompt cache and the recognition pool count for
themselves; :class:`WorkerSampler` turns their growth into Prometheus counters once a second.
The media clock reports each wake-up through its ``on_wakeup`` hook (lateness and send
interval histograms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telemetry.metrics import NodeMetrics

log = logging.getLogger(__name__)

SAMPLE_PERIOD_S = 1.0
_STREAM_FIELDS = ("packets_in", "packets_out", "late", "malformed", "lost")
_CACHE_FIELDS = {"memory_hits": "memory", "disk_hits": "disk", "renders": "render",
                 "fallback_renders": "fallback-render"}  # fmt: skip


class WorkerSampler:
    """Copies the growth of a worker's own counters into ``metrics`` every second."""

    def __init__(self, metrics: NodeMetrics, *, endpoint: Any, clock: Any,
                 prompt_stats: Any = None, recognition_pool: Any = None,
                 calllog: Any = None) -> None:  # fmt: skip
        self.metrics = metrics
        self._endpoint = endpoint
        self._clock = clock
        self._prompt_stats = prompt_stats
        self._pool = recognition_pool
        self._calllog = calllog
        self._seen: dict[str, int] = {}
        self._streams: dict[int, tuple[Any, dict[str, int]]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Hook the clock and start sampling on the running loop."""
        self._clock.on_wakeup = self._on_wakeup
        if self._pool is not None:
            self.metrics.recognition_slots.set(self._pool.max_streams)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics-sampler")

    async def stop(self) -> None:
        self._clock.on_wakeup = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()

    def _on_wakeup(self, lateness_s: float, interval_s: float, ticks: int) -> None:
        self.metrics.clock_lateness.observe(lateness_s)
        self.metrics.send_interval.observe(interval_s)
        for _ in range(ticks - 1):  # catch-up packets leave right behind the first
            self.metrics.send_interval.observe(0.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_PERIOD_S)
            try:
                self.sample()
            except Exception:  # metrics must never hurt a call
                log.exception("sampling worker metrics failed")

    def _grow(self, key: str, value: int) -> int:
        """How much the counter named ``key`` grew since the last sample."""
        grown = value - self._seen.get(key, 0)
        self._seen[key] = value
        return max(0, grown)

    def sample(self) -> None:
        """Copy what grew since the last sample."""
        m = self.metrics
        stats = self._endpoint.stats
        m.sip_received.inc(self._grow("received", stats.received))
        m.sip_malformed.inc(self._grow("malformed", stats.malformed))
        for status, count in list(stats.rejected.items()):
            grown = self._grow(f"rejected-{status}", count)
            if grown:
                m.sip_rejected.labels(str(status)).inc(grown)
        m.clock_skipped.inc(self._grow("skipped", self._clock.stats.skipped))
        self._sample_streams()
        if self._prompt_stats is not None:
            for name, result in _CACHE_FIELDS.items():
                grown = self._grow(f"cache-{name}", getattr(self._prompt_stats, name))
                if grown:
                    m.prompt_cache.labels(result).inc(grown)
        if self._pool is not None:
            m.recognition_busy.set(self._pool.in_use)
        if self._calllog is not None:
            m.calllog_dropped.inc(self._grow("calllog-dropped", self._calllog.dropped))

    def _sample_streams(self) -> None:
        """Per-stream growth; a leg stays in the endpoint's table for a while after its call
        ended, so its last packets are counted before it is forgotten."""
        m = self.metrics
        totals = dict.fromkeys(_STREAM_FIELDS, 0)
        alive: dict[int, tuple[Any, dict[str, int]]] = {}
        for leg in list(self._endpoint.legs.values()):
            stream = leg.stream
            _, before = self._streams.get(id(stream), (stream, dict.fromkeys(_STREAM_FIELDS, 0)))
            now = stream.stats
            after = {name: getattr(now, name) for name in _STREAM_FIELDS}
            for name in _STREAM_FIELDS:
                totals[name] += max(0, after[name] - before[name])
            alive[id(stream)] = (stream, after)  # the stream is kept so its id stays unique
        self._streams = alive
        m.rtp_packets.labels("in").inc(totals["packets_in"])
        m.rtp_packets.labels("out").inc(totals["packets_out"])
        m.rtp_late.inc(totals["late"])
        m.rtp_malformed.inc(totals["malformed"])
        m.rtp_lost.inc(totals["lost"])
