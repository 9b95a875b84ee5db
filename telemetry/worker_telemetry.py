"""A worker process's metrics: the definitions, the event sink and the sampler, composed."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from telemetry.event_metrics import MetricsSink
from telemetry.metrics import NodeMetrics
from telemetry.worker_metrics import WorkerSampler


class WorkerTelemetry:
    """Give :attr:`sink` to the hotline; :meth:`start` once the worker runs."""

    def __init__(self) -> None:
        # A private registry: in multiprocess mode the values live in the node's metrics
        # directory and the node's endpoint reads them from there, never from this registry.
        self.metrics = NodeMetrics(CollectorRegistry())
        self.sink = MetricsSink(self.metrics)
        self._sampler: WorkerSampler | None = None

    def start(self, worker: Any, hotline: Any) -> None:
        self._sampler = WorkerSampler(
            self.metrics, endpoint=worker.endpoint, clock=worker.clock,
            prompt_stats=hotline.prompt_stats, recognition_pool=hotline.recognition_pool,
            calllog=hotline.calllog,
        )  # fmt: skip
        self._sampler.start()

    async def stop(self) -> None:
        if self._sampler is not None:
            await self._sampler.stop()


def worker_telemetry() -> WorkerTelemetry:
    """The telemetry of the calling worker process."""
    return WorkerTelemetry()
