"""The call-event sink's counts, read back from a real Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ivr.events import (
    CallEnded,
    CallError,
    CallStarted,
    DigitReceived,
    ErrorCode,
    LookupDone,
    SpeechRecognized,
    TransferResult,
)
from telemetry.event_metrics import MetricsSink
from telemetry.metrics import NodeMetrics


def test_events_become_counts() -> None:
    registry = CollectorRegistry()
    sink = MetricsSink(NodeMetrics(registry))
    started = {"caller": "0901234567", "callee": "hotline", "codec": "PCMA", "remote_media": ""}
    for n in range(3):
        sink.emit(CallStarted(call_id=f"c{n}", **started))
    sink.emit(CallEnded(call_id="c0", reason="caller-bye", duration_s=12.0))
    sink.emit(CallEnded(call_id="c1", reason="media-timeout", duration_s=30.0))
    sink.emit(CallError(call_id="c1", code=ErrorCode.MEDIA_TIMEOUT))
    sink.emit(DigitReceived(call_id="c2", digit="1", source="rfc4733"))
    sink.emit(LookupDone(call_id="c2", node_id="n", lookup="dossier", key="k", found=True))
    sink.emit(LookupDone(call_id="c2", node_id="n", lookup="dossier", key="k", found=False,
                         ok=False, detail="breaker-open"))  # fmt: skip
    sink.emit(SpeechRecognized(call_id="c2", node_id="n", text="hồ sơ", confidence=None,
                               matched="1", decision_s=0.4))  # fmt: skip
    sink.emit(TransferResult(call_id="c2", target="sip:x", status=202, ok=True))

    def get(name: str, **labels: str) -> float:
        found = registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    assert get("tongdai_calls_started_total") == 3
    assert get("tongdai_calls_up") == 1
    assert get("tongdai_calls_ended_total", outcome="caller-bye") == 1
    assert get("tongdai_calls_ended_total", outcome="media-timeout") == 1
    assert get("tongdai_call_errors_total", code="media-timeout") == 1
    assert get("tongdai_digits_total", source="rfc4733") == 1
    assert get("tongdai_lookups_total", source="dossier", result="found") == 1
    assert get("tongdai_lookups_total", source="dossier", result="error") == 1
    assert get("tongdai_lookup_errors_total", source="dossier", reason="breaker-open") == 1
    assert get("tongdai_breaker_open", source="dossier") == 1
    assert get("tongdai_speech_results_total", matched="yes") == 1
    assert get("tongdai_speech_decision_seconds_count") == 1
    assert get("tongdai_speech_decision_seconds_bucket", le="0.5") == 1
    assert get("tongdai_speech_decision_seconds_bucket", le="0.3") == 0
    assert get("tongdai_transfers_total", result="ok") == 1
    sink.emit(LookupDone(call_id="c2", node_id="n", lookup="dossier", key="k", found=True))
    assert get("tongdai_breaker_open", source="dossier") == 0
