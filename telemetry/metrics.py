"""Every Prometheus metric a node exposes, defined in one place.

Metric names follow Prometheus conventions (``tongdai_`` prefix, base units, ``_total`` added
by the client for counters). Gauges state how worker processes add up in multiprocess mode.
They are fed by :class:`telemetry.event_metrics.MetricsSink` (typed call events) and by
:class:`telemetry.worker_metrics.WorkerSampler` (the endpoint's, the media clock's and the
streams' own counters), never by calls sprinkled through the call path.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# 20 ms is the packet time: the interesting range is a few ms either side, then the gaps.
SEND_INTERVAL_BUCKETS = (0.0, 0.005, 0.010, 0.015, 0.018, 0.020, 0.022, 0.025, 0.030, 0.040,
                         0.060, 0.100, 0.200, 0.500)  # fmt: skip
DECISION_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.010, 0.020, 0.040, 0.080, 0.160, 0.500)


class NodeMetrics:
    """The metrics of one worker process, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.calls_up = Gauge("tongdai_calls_up", "Calls in progress", registry=r,
                              multiprocess_mode="livesum")  # fmt: skip
        self.calls_started = Counter("tongdai_calls_started", "Calls answered", registry=r)
        self.calls_ended = Counter(
            "tongdai_calls_ended", "Calls ended, by outcome", ["outcome"], registry=r
        )
        self.call_errors = Counter(
            "tongdai_call_errors", "Call errors, by stable code", ["code"], registry=r
        )
        self.digits = Counter("tongdai_digits", "Keys received, by signalling", ["source"],
                              registry=r)  # fmt: skip
        self.transfers = Counter("tongdai_transfers", "Transfers, by result", ["result"],
                                 registry=r)  # fmt: skip
        self.speech_results = Counter(
            "tongdai_speech_results", "Utterances recognised, by whether they matched",
            ["matched"], registry=r,
        )  # fmt: skip
        self.lookups = Counter(
            "tongdai_lookups", "Lookups, by source and result", ["source", "result"], registry=r
        )
        self.lookup_errors = Counter(
            "tongdai_lookup_errors", "Failed lookups, by source and reason",
            ["source", "reason"], registry=r,
        )  # fmt: skip
        self.breaker_open = Gauge(
            "tongdai_breaker_open", "1 while a source's circuit breaker refuses lookups",
            ["source"], registry=r, multiprocess_mode="max",
        )  # fmt: skip
        self.sip_received = Counter("tongdai_sip_messages_received", "SIP messages received",
                                    registry=r)  # fmt: skip
        self.sip_malformed = Counter("tongdai_sip_malformed", "SIP messages that did not parse",
                                     registry=r)  # fmt: skip
        self.sip_rejected = Counter(
            "tongdai_sip_rejected", "Requests rejected, by status", ["status"], registry=r
        )
        self.rtp_packets = Counter(
            "tongdai_rtp_packets", "RTP packets, by direction", ["direction"], registry=r
        )
        self.rtp_late = Counter("tongdai_rtp_late_packets", "RTP packets that arrived too late "
                                "to be played", registry=r)  # fmt: skip
        self.rtp_malformed = Counter("tongdai_rtp_malformed_packets", "RTP packets that did not "
                                     "parse", registry=r)  # fmt: skip
        self.rtp_lost = Counter("tongdai_rtp_lost_packets", "RTP packets never received",
                                registry=r)  # fmt: skip
        self.send_interval = Histogram(
            "tongdai_rtp_send_interval_seconds",
            "Time between the media clock's sends (one packet per call each; catch-up "
            "packets count as 0)", buckets=SEND_INTERVAL_BUCKETS, registry=r,
        )  # fmt: skip
        self.clock_lateness = Histogram(
            "tongdai_media_clock_lateness_seconds", "Media clock wake-up minus its deadline",
            buckets=LATENESS_BUCKETS, registry=r,
        )  # fmt: skip
        self.clock_skipped = Counter("tongdai_media_clock_skipped_ticks", "Periods skipped "
                                     "(too late to catch up)", registry=r)  # fmt: skip
        self.recognition_busy = Gauge(
            "tongdai_recognition_slots_busy", "Recognition slots in use", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.recognition_slots = Gauge(
            "tongdai_recognition_slots", "Recognition slots", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.decision_latency = Histogram(
            "tongdai_speech_decision_seconds", "End of the caller's utterance to its transcript",
            buckets=DECISION_BUCKETS, registry=r,
        )  # fmt: skip
        self.calllog_dropped = Counter(
            "tongdai_calllog_dropped_events", "Call events the call log could not keep "
            "(its writer too far behind: database down or disk full for too long)", registry=r,
        )  # fmt: skip
        self.prompt_cache = Counter(
            "tongdai_prompt_cache_lookups", "Prompt cache lookups, by where the audio came from "
            "(memory, disk, render, fallback-render)", ["result"], registry=r,
        )  # fmt: skip


class LivenessMetrics:
    """What the node's own process (not its workers) counts: calls it recorded as lost."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls_lost = Counter(
            "tongdai_calls_lost", "Calls recorded as lost by this node, by the node that "
            "carried them: that node stopped (its heartbeat went stale) while they were up, "
            "or it is this node, restarted", ["node"], registry=registry,
        )  # fmt: skip
