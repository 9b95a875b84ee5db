"""Acceptance (issue 13): a hijacker who finds a call's RTP port is never heard, its RFC 4733
keys are never seen, and none of the call's audio is sent to it (strict RTP)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from pathlib import Path

import pytest

from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.events import DigitReceived
from ivr.media import rtp
from tests.e2e.harness import dtmf_scenario, run_sipp, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


def _event(seq: int, digit: int, end: bool, duration: int) -> bytes:
    """An RFC 4733 telephone-event packet (payload type 101)."""
    payload = struct.pack("!BBH", digit, (0x80 if end else 0) | 10, duration)
    return rtp.build(101, seq, 8000 * 50, 0x5EED, payload, seq == 0)


async def test_a_hijacker_is_never_heard_nor_obeyed(tmp_path: Path) -> None:
    calls: list[Call] = []

    async def on_call(call: Call) -> None:
        calls.append(call)
        with contextlib.suppress(CallerHungUp):
            while True:
                await call.next_digit(60)

    ivr = await start_ivr(on_call)
    hijacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hijacker.bind(("127.0.0.1", 0))
    hijacker.setblocking(False)
    try:
        # The caller presses 1 at once (its packets lock the stream), then 2 after the attack.
        scenario = dtmf_scenario(
            tmp_path / "caller.xml", [(500, "1"), (2500, "2")], hangup_after_ms=800
        )
        caller = asyncio.create_task(run_sipp(scenario, ivr.port, timeout_s=30))
        for _ in range(50):
            if calls:
                break
            await asyncio.sleep(0.1)
        assert calls, "the call was not answered"
        await asyncio.sleep(1.6)  # the caller's key is in, and then the caller falls silent
        port = calls[0].stream.local_port
        sent = 0
        for seq in range(40):  # a digit 9 pressed for 800 ms, in perfect sequence, and audio
            packet = _event(seq, 9, seq >= 37, 160 * (seq + 1))
            hijacker.sendto(packet, ("127.0.0.1", port))
            hijacker.sendto(rtp.build(8, 1000 + seq, 160 * seq, 0xBAD, b"\xd5" * 160, False),
                            ("127.0.0.1", port))  # fmt: skip
            sent += 2
            await asyncio.sleep(0.02)
        result = await caller
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        digits = [e.digit for e in ivr.sink.of(DigitReceived)]  # type: ignore[attr-defined]
        assert digits == ["1", "2"]  # never the hijacker's 9
        got: list[bytes] = []
        with contextlib.suppress(BlockingIOError):
            while True:
                got.append(hijacker.recv(2048))
        assert got == []  # none of the call's audio went to the hijacker
        stats = calls[0].stream.stats
        assert stats.foreign >= sent, stats
    finally:
        hijacker.close()
        await ivr.worker.stop()
