"""Per-source limits on an injected clock: rates, bans, TCP caps, log budget, reflection, and
framing that does not rescan a header dripped a byte at a time."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from ivr.log_budget import LogBudget
from ivr.settings import SourceLimitSettings
from ivr.sip.source_limits import (
    ReflectionGuard,
    SourceGuard,
    TcpBudget,
    Verdict,
    early_dialogs_from,
    too_many_media_lines,
)
from ivr.sip.transport import SipTransport, _TcpConnection


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


INVITE = b"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n\r\n"
OPTIONS = b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n\r\n"


def test_invite_flood_is_dropped_then_banned_and_the_ban_ends() -> None:
    clock = Clock()
    limits = SourceLimitSettings(invite_rate_per_s=5, invite_burst=20, strikes_to_ban=10, ban_s=60)
    guard = SourceGuard(limits, clock=clock)
    verdicts = [guard.admit("127.0.0.2", INVITE) for _ in range(30)]
    assert verdicts[:20] == [Verdict.ADMIT] * 20 and verdicts[20:] == [Verdict.DROP] * 10
    assert guard.banned("127.0.0.2") and guard.stats.bans == 1
    assert guard.admit("127.0.0.2", OPTIONS) is Verdict.BANNED  # everything, while banned
    assert guard.admit("127.0.0.1", INVITE) is Verdict.ADMIT  # other sources are untouched
    assert guard.admit("127.0.0.2", b"SIP/2.0 200 OK\r\n\r\n") is Verdict.ADMIT  # answers to us
    clock.now += 61
    assert not guard.banned("127.0.0.2")
    assert guard.admit("127.0.0.2", INVITE) is Verdict.ADMIT


def test_a_steady_caller_within_the_rate_is_never_dropped() -> None:
    clock = Clock()
    guard = SourceGuard(SourceLimitSettings(), clock=clock)
    for _ in range(500):  # 4 INVITEs and 40 other requests a second, for 125 s
        clock.now += 0.25
        assert guard.admit("10.0.0.9", INVITE) is Verdict.ADMIT
        for _ in range(10):
            assert guard.admit("10.0.0.9", OPTIONS) is Verdict.ADMIT


def test_exempt_sources_and_the_source_table_bound() -> None:
    clock = Clock()
    limits = SourceLimitSettings(exempt=["10.1.0.0/16"], invite_burst=1, max_sources=16)
    guard = SourceGuard(limits, clock=clock)
    assert all(guard.admit("10.1.2.3", INVITE) is Verdict.ADMIT for _ in range(100))
    for i in range(100):
        guard.admit(f"192.0.2.{i}", INVITE)
    assert len(guard._sources) <= 17


def test_early_dialogs_and_media_lines() -> None:
    assert early_dialogs_from(["a", "b", "a"], "a") == 2
    sdp = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"
    assert not too_many_media_lines(sdp)
    assert too_many_media_lines(b"v=0\r\n" + b"m=audio 4000 RTP/AVP 0\r\n" * 1000)


def test_tcp_budget_per_address_and_total() -> None:
    budget = TcpBudget(per_address=2, total=3)
    assert budget.acquire("a") and budget.acquire("a") and not budget.acquire("a")
    assert budget.acquire("b") and not budget.acquire("c")  # total reached
    budget.release("a")
    assert budget.acquire("c") and budget.refused == 2
    assert TcpBudget.from_settings(SourceLimitSettings()).total <= 1000


def test_log_budget_suppresses_and_then_summarises(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    budget = LogBudget(per_interval=3, interval_s=10, clock=clock)
    logger = logging.getLogger("tests.flood")
    with caplog.at_level(logging.INFO, logger="tests.flood"):
        for i in range(1000):
            budget.info(logger, "k", "bad packet %d", i)
        clock.now += 11
        budget.info(logger, "k", "bad packet %d", 1000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4
    assert lines[-1] == "bad packet 1000 (997 similar lines suppressed)"


def test_reflection_guard_limits_optional_answers_to_unverified_sources() -> None:
    guard = ReflectionGuard(capacity=16)
    addr = ("198.51.100.7", 5060)
    request = b"INVITE " + b"x" * 400
    guard.observe(request, addr)
    trying = b"SIP/2.0 100 Trying\r\n" + b"h" * 300
    ringing = b"SIP/2.0 180 Ringing\r\n" + b"h" * 300
    final = b"SIP/2.0 200 OK\r\n" + b"h" * 800
    assert guard.may_send(trying, addr)  # required
    assert guard.may_send(ringing, addr)  # within the bytes the source sent
    assert not guard.may_send(ringing, addr)  # beyond them: withheld
    assert guard.may_send(final, addr) and guard.may_send(final, addr)  # required, retransmitted
    guard.observe(b"ACK sip:x SIP/2.0\r\n\r\n", addr)
    assert guard.may_send(ringing, addr)  # verified now


async def test_a_header_dripped_byte_by_byte_costs_linear_time() -> None:
    transport = SipTransport(lambda data, peer: received.append(data))
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    theirs = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    loop = asyncio.get_running_loop()
    _, conn = await loop.connect_accepted_socket(lambda: _TcpConnection(transport), ours)
    assert isinstance(conn, _TcpConnection) and conn.counted
    head = (
        b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.9;branch=z9hG4bKd\r\n"
        + b"X-Padding: "
        + b"p" * 60_000
        + b"\r\nContent-Length: 0\r\n\r\n"
    )
    started = time.process_time()
    for i in range(len(head)):
        conn.data_received(head[i : i + 1])
    spent = time.process_time() - started
    assert received == [head]
    assert spent < 0.6, f"{spent:.2f} s of CPU for a dripped 60 KB header"
    theirs.close()
    conn.transport.close()  # type: ignore[union-attr]
