"""Acceptance (issue 13): one hostile source cannot take the hotline from everyone else.

Over real UDP on loopback: a flood of unACKed INVITEs from 127.0.0.2 while a caller on
127.0.0.1 is answered within a second; the flood draws few answers and no reflection; an offer
with 1000 m= lines is refused with 488."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from ivr.call import Call
from ivr.channel import CallerHungUp
from tests.e2e.harness import start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


async def _idle(call: Call) -> None:
    with contextlib.suppress(CallerHungUp):
        while not call.ended:
            await asyncio.sleep(0.2)


def invite(sock: socket.socket, n: int, *, media_lines: int = 1) -> bytes:
    host, port = sock.getsockname()
    sdp = (
        f"v=0\r\no=- {n} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        + f"m=audio {40000 + n % 1000 * 2} RTP/AVP 8 0\r\n" * media_lines
    ).encode()
    head = (
        f"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-{host}-{n};rport\r\n"
        f"From: <sip:0912345678@{host}>;tag=f{n}\r\nTo: <sip:hotline@127.0.0.1>\r\n"
        f"Call-ID: flood-{n}@{host}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{host}:{port}>\r\n"
        f"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
    ).encode()
    return head + sdp


def udp_from(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


async def answered_within(sock: socket.socket, port: int, n: int, limit_s: float) -> float:
    """Send one INVITE and return how long its 200 took (fails past ``limit_s``)."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    sock.sendto(invite(sock, n), ("127.0.0.1", port))
    marker = f"flood-{n}@".encode()
    while (left := started + limit_s - time.monotonic()) > 0:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), left)
        except TimeoutError:
            break
        if marker in data and data.startswith(b"SIP/2.0 200"):
            return time.monotonic() - started
    raise AssertionError(f"INVITE {n} from {sock.getsockname()[0]} not answered in {limit_s} s")


async def test_a_flood_from_one_source_does_not_keep_others_from_being_answered() -> None:
    ivr = await start_ivr(_idle, media_size=600)
    attacker, caller = udp_from("127.0.0.2"), udp_from("127.0.0.1")
    loop = asyncio.get_running_loop()
    drawn: list[bytes] = []

    async def flood() -> int:
        sent = 0
        for i in range(600):  # 600 INVITEs, never ACKed, in 4 s
            data = invite(attacker, i)
            attacker.sendto(data, ("127.0.0.1", ivr.port))
            sent += len(data)
            if i % 15 == 14:
                await asyncio.sleep(0.1)
        return sent

    async def drain() -> None:
        while True:
            drawn.append(await loop.sock_recv(attacker, 65536))

    drainer = loop.create_task(drain())
    try:
        flooding = loop.create_task(flood())
        await asyncio.sleep(1.0)
        during = await answered_within(caller, ivr.port, 10_001, 1.0)
        sent = await flooding
        after = await answered_within(caller, ivr.port, 10_002, 1.0)
        await asyncio.sleep(1.0)
        finals = [d for d in drawn if d.startswith(b"SIP/2.0 200")]
        distinct = {d.split(b"Call-ID: ")[1].split(b"\r\n")[0] for d in finals}
        print(
            f"answered in {during:.3f} s during and {after:.3f} s after the flood; "
            f"flood {sent} bytes drew {sum(map(len, drawn))} bytes, {len(distinct)} calls"
        )
        assert len(distinct) <= 20  # early dialogs per source (and the rate) hold it
        assert sum(map(len, drawn)) < sent  # no amplification
        assert ivr.worker.endpoint.active_calls <= 22
    finally:
        drainer.cancel()
        attacker.close()
        caller.close()
        await ivr.worker.stop()


async def test_an_offer_with_a_thousand_media_lines_is_refused_small() -> None:
    ivr = await start_ivr(_idle)
    sock = udp_from("127.0.0.1")
    loop = asyncio.get_running_loop()
    try:
        request = invite(sock, 7, media_lines=1000)
        sock.sendto(request, ("127.0.0.1", ivr.port))
        answers: list[bytes] = []
        with contextlib.suppress(TimeoutError):
            while True:
                answers.append(await asyncio.wait_for(loop.sock_recv(sock, 65536), 1.5))
        finals = [a for a in answers if not a.startswith(b"SIP/2.0 1")]
        assert finals and all(a.startswith(b"SIP/2.0 488") for a in finals), answers[:2]
        assert max(map(len, answers)) < 1000 < len(request)
        assert ivr.worker.ports.in_use == 0
    finally:
        sock.close()
        await ivr.worker.stop()
