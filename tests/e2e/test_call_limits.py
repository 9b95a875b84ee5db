"""Acceptance (issue 2): capacity (503 + Retry-After), RTP inactivity hang-up, and malformed
RTP mid-call that the call survives (later digits still seen)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from pathlib import Path

import pytest

from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.events import CallEnded, CallError, DigitReceived
from tests.e2e.harness import dtmf_scenario, run_sipp, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]
SCENARIOS = Path(__file__).parent / "scenarios"


async def _listen(call: Call) -> None:
    with contextlib.suppress(CallerHungUp):
        while True:
            await call.next_digit(60)


async def test_busy_line_gets_503_with_retry_after(tmp_path: Path) -> None:
    ivr = await start_ivr(_listen, max_calls=1)
    try:
        first = asyncio.create_task(
            run_sipp(dtmf_scenario(tmp_path / "a.xml", [], hangup_after_ms=4000), ivr.port)
        )
        for _ in range(50):  # until the first call holds the only line
            if ivr.worker.endpoint.active_calls:
                break
            await asyncio.sleep(0.1)
        second = await run_sipp(SCENARIOS / "capacity.xml", ivr.port, timeout_s=15)
        assert second.returncode == 0, second.stdout[-1500:] + second.errors[-1500:]
        assert (await first).returncode == 0
        assert ivr.worker.endpoint.stats.rejected.get(503) == 1
    finally:
        await ivr.worker.stop()


async def test_silent_rtp_hangs_up_the_call(tmp_path: Path) -> None:
    ivr = await start_ivr(_listen, inactivity_timeout_s=1.5)
    try:
        scenario = tmp_path / "wait_bye.xml"
        template = (SCENARIOS / "silent_then_refer.xml").read_text(encoding="iso-8859-1")
        head = template[: template.index('  <recv request="REFER"')]
        scenario.write_text(
            head
            + '  <recv request="BYE" timeout="10000"/>\n'
            + "  <send>\n    <![CDATA[\n      SIP/2.0 200 OK\n      [last_Via:]\n"
            + "      [last_From:]\n      [last_To:]\n      [last_Call-ID:]\n      [last_CSeq:]\n"
            + "      Content-Length: 0\n\n    ]]>\n  </send>\n</scenario>\n",
            encoding="iso-8859-1",
        )
        result = await run_sipp(scenario, ivr.port, timeout_s=20)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        assert [e.reason for e in ivr.sink.of(CallEnded)] == ["media-timeout"]  # type: ignore[attr-defined]
        assert [e.code.value for e in ivr.sink.of(CallError)] == ["media-timeout"]  # type: ignore[attr-defined]
    finally:
        await ivr.worker.stop()


def _malformed() -> list[bytes]:
    header = struct.pack("!BBHII", 0x80, 101, 1, 1000, 0x1234)
    return [
        b"",  # empty datagram
        b"\x80\x08\x00",  # truncated header
        bytes([0x40]) + header[1:] + b"\x00" * 4,  # version 1
        bytes([0x8F]) + header[1:] + b"\x00" * 8,  # 15 CSRCs announced, 2 present
        header + bytes([16, 0x8A, 0x00, 0xA0]),  # telephone-event code 16
        header + bytes([99, 0x0A, 0x00, 0xA0]),  # event code 99
        header[:12] + b"\x01",  # telephone-event payload too short
    ]


async def test_malformed_rtp_mid_call_then_digits_still_seen(tmp_path: Path) -> None:
    ports: list[int] = []
    calls: list[Call] = []

    async def on_call(call: Call) -> None:
        ports.append(call.stream.local_port)
        calls.append(call)
        await _listen(call)

    ivr = await start_ivr(on_call)
    try:
        scenario = dtmf_scenario(
            tmp_path / "digits.xml", [(1000, "12"), (1500, "3#")], hangup_after_ms=800
        )
        caller = asyncio.create_task(run_sipp(scenario, ivr.port, timeout_s=30))
        for _ in range(50):
            if ports:
                break
            await asyncio.sleep(0.1)
        assert ports, "the call was not answered"
        # before the caller's first packet (its keys start 1 s in), so nothing is latched yet
        # and every datagram reaches the parser
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(3):
                for datagram in _malformed():
                    sock.sendto(datagram, ("127.0.0.1", ports[0]))
        result = await caller
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        digits = [e.digit for e in ivr.sink.of(DigitReceived)]  # type: ignore[attr-defined]
        assert digits == ["1", "2", "3", "#"]
        stats = calls[0].stream.stats
        # four datagrams that are not RTP at all, three times each; the well-formed RTP (event
        # codes 16 and 99, a short event payload) comes from a stranger's port, not the
        # caller's: strict RTP drops it unread (tests/e2e/test_strict_rtp.py)
        assert stats.malformed == 12, stats
        assert stats.foreign == 9, stats
        assert [e.reason for e in ivr.sink.of(CallEnded)] == ["caller-bye"]  # type: ignore[attr-defined]
    finally:
        await ivr.worker.stop()
