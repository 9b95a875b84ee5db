"""The log sink: one line per call event, numbers that identify people masked, figures kept."""

from __future__ import annotations

import logging

import pytest

from ivr import events as ev
from ivr.hotline import LogSink


def test_durations_stay_readable_and_phone_numbers_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = LogSink()
    with caplog.at_level(logging.INFO, logger="ivr.hotline"):
        sink.emit(ev.CallEnded(call_id="c-1", reason="caller-bye", duration_s=100.01234567891))
        sink.emit(
            ev.CallbackRequested(
                call_id="c-1", node_id="cb", department="so-tn-mt", number="0912345678"
            )
        )
    ended, callback = caplog.messages
    assert "'duration_s': 100.012" in ended and "*" not in ended
    assert "0912345678" not in callback and "091*****78" in callback
