"""Metrics from the typed call events: an :class:`~ivr.events.EventSink` like the call log."""

from __future__ import annotations

from ivr.events import (
    CallEnded,
    CallError,
    CallEvent,
    CallStarted,
    DigitReceived,
    LookupDone,
    SpeechRecognized,
    TransferResult,
)
from telemetry.metrics import NodeMetrics

BREAKER_OPEN = "breaker-open"  # the reason a source gives while its breaker refuses lookups


class MetricsSink:
    """Counts calls, outcomes, errors, keys, lookups and transfers as their events pass."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def emit(self, event: CallEvent) -> None:
        m = self.metrics
        if isinstance(event, CallStarted):
            m.calls_started.inc()
            m.calls_up.inc()
        elif isinstance(event, CallEnded):
            m.calls_up.dec()
            m.calls_ended.labels(event.reason).inc()
        elif isinstance(event, CallError):
            m.call_errors.labels(str(event.code)).inc()
        elif isinstance(event, DigitReceived):
            m.digits.labels(event.source).inc()
        elif isinstance(event, LookupDone):
            self._lookup(event)
        elif isinstance(event, SpeechRecognized):
            m.speech_results.labels("yes" if event.matched else "no").inc()
            if event.decision_s is not None:
                m.decision_latency.observe(event.decision_s)
        elif isinstance(event, TransferResult):
            m.transfers.labels("ok" if event.ok else "failed").inc()

    def _lookup(self, event: LookupDone) -> None:
        m = self.metrics
        if event.ok:
            m.lookups.labels(event.lookup, "found" if event.found else "not-found").inc()
            m.breaker_open.labels(event.lookup).set(0)
            return
        m.lookups.labels(event.lookup, "error").inc()
        m.lookup_errors.labels(event.lookup, event.detail or "unknown").inc()
        m.breaker_open.labels(event.lookup).set(1 if event.detail == BREAKER_OPEN else 0)
