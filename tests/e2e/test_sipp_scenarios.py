"""Acceptance: one sipp scenario each for CANCEL while ringing, OPTIONS, INVITE without SDP,
INFO digits, hold and unhold re-INVITEs, BYE from the caller (real UDP and TCP)."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest

from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.events import CallAnswered, CallEnded, CallStarted, DigitReceived, HoldChanged
from tests.e2e.harness import Capture, run_sipp, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]
SCENARIOS = Path(__file__).parent / "scenarios"


async def _wait_for_hangup(call: Call) -> None:
    """A handler that just listens: digits are logged by the call itself."""
    with contextlib.suppress(CallerHungUp):
        while True:
            await call.next_digit(60)


def _kinds(events: list[object], kind: type) -> list[object]:
    return [e for e in events if isinstance(e, kind)]


async def test_cancel_while_ringing() -> None:
    ivr = await start_ivr(_wait_for_hangup, answer_delay_s=3.0)
    try:
        result = await run_sipp(SCENARIOS / "cancel.xml", ivr.port, timeout_s=20)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-1500:]
        ended = ivr.sink.of(CallEnded)
        assert [e.reason for e in ended] == ["cancel"]  # type: ignore[attr-defined]
        assert not ivr.sink.of(CallAnswered)
        assert ivr.worker.endpoint.stats.calls_answered == 0  # no 200 after the 487
        assert ivr.worker.ports.in_use == 0
    finally:
        await ivr.worker.stop()


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_options_udp_and_tcp(transport: str) -> None:
    ivr = await start_ivr(_wait_for_hangup)
    try:
        result = await run_sipp(SCENARIOS / "options.xml", ivr.port, transport=transport)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-1500:]
    finally:
        await ivr.worker.stop()


async def test_invite_without_sdp_offer_in_200_answer_in_ack() -> None:
    ivr = await start_ivr(_wait_for_hangup)
    try:
        result = await run_sipp(SCENARIOS / "delayed_offer.xml", ivr.port, timeout_s=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-1500:]
        assert [e.digit for e in ivr.sink.of(DigitReceived)] == ["5"]  # type: ignore[attr-defined]
        assert [e.reason for e in ivr.sink.of(CallEnded)] == ["caller-bye"]  # type: ignore[attr-defined]
    finally:
        await ivr.worker.stop()


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_info_digits_and_bye_from_caller(transport: str) -> None:
    ivr = await start_ivr(_wait_for_hangup)
    try:
        result = await run_sipp(SCENARIOS / "info.xml", ivr.port, transport=transport)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-1500:]
        digits = ivr.sink.of(DigitReceived)
        assert [(e.digit, e.source) for e in digits] == [("7", "info"), ("#", "info")]  # type: ignore[attr-defined]
        started = ivr.sink.of(CallStarted)
        assert started[0].caller == "0901234567"  # type: ignore[attr-defined]
        assert [e.reason for e in ivr.sink.of(CallEnded)] == ["caller-bye"]  # type: ignore[attr-defined]
        assert ivr.worker.ports.in_use == 0
    finally:
        await ivr.worker.stop()


async def test_hold_stops_our_audio_and_unhold_resumes_it() -> None:
    rtp_ports: list[int] = []

    async def on_call(call: Call) -> None:
        rtp_ports.append(call.stream.local_port)
        await _wait_for_hangup(call)

    ivr = await start_ivr(on_call)
    try:
        lo, hi = ivr.media
        async with Capture(f"udp and src portrange {lo}-{hi}") as cap:
            result = await run_sipp(SCENARIOS / "hold.xml", ivr.port, timeout_s=30)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-1500:]
        holds = [e.on_hold for e in ivr.sink.of(HoldChanged)]  # type: ignore[attr-defined]
        assert holds == [True, False]
        times = [t for t, source, *_ in cap.udp_packets() if source == rtp_ports[0]]
        assert times, "no RTP sent"
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # 1 s before hold, ~2 s on hold with nothing sent, ~1 s after unhold
        assert max(gaps) > 1.5, f"audio went on during hold (largest gap {max(gaps):.2f} s)"
        assert times[-1] - times[0] > 3.0
    finally:
        await ivr.worker.stop()
