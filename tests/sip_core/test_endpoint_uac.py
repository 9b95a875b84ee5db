"""The endpoint placing calls (dial), over a fake transport and a virtual clock: the test plays
the callee (an officer's phone, a trunk that challenges)."""

from __future__ import annotations

import asyncio

import pytest

from ivr.sip import sdp
from ivr.sip.auth import DigestClient, digest_response, parse_challenge
from ivr.sip.legs import Leg
from ivr.sip.message import Request, make_response, parse_name_addr
from ivr.sip.uac import DialCancelled, DialFailed, DialTimeout
from tests.sip_core.fakes import FakeCall, Rig, answer, in_dialog, make_rig, sdp_body

TARGET = "sip:officer@127.0.0.1:5099"
FROM = "sip:hotline@127.0.0.1"


async def _dial(rig: Rig, **kwargs: object) -> asyncio.Future[Leg[FakeCall]]:
    options: dict[str, object] = {"from_uri": FROM, "timeout_s": 30.0, **kwargs}
    attempt = asyncio.ensure_future(rig.endpoint.dial(TARGET, **options))  # type: ignore[arg-type]
    await rig.settle(lambda: bool(rig.transport.requests("INVITE")) or attempt.done())
    return attempt


def _last(rig: Rig, method: str) -> Request:
    requests = rig.transport.requests(method)
    assert requests, [m for m in rig.transport.messages()]
    return requests[-1]


async def test_dial_offers_sdp_acks_the_200_and_hands_the_leg_up() -> None:
    rig = await make_rig()
    progress: list[int] = []
    attempt = await _dial(rig, on_progress=lambda r: progress.append(r.status))
    inv = _last(rig, "INVITE")
    offer = sdp.parse(inv.body)
    assert inv.uri == TARGET and inv.headers.get("Content-Type") == "application/sdp"
    assert not parse_name_addr(inv.headers.get("To") or "").tag
    rig.transport.deliver(answer(inv, 100))
    rig.transport.deliver(answer(inv, 180))
    assert progress == [100, 180] and not attempt.done()
    rig.transport.deliver(answer(inv, 200, body=sdp_body(port=42020)))
    leg = await asyncio.wait_for(attempt, 5)
    [ack] = rig.transport.requests("ACK")
    assert ack.headers.get("CSeq") == (inv.headers.get("CSeq") or "").replace("INVITE", "ACK")
    assert parse_name_addr(ack.headers.get("To") or "").tag == "callee1"
    assert ack.uri == "sip:officer@127.0.0.1:5099"  # the callee's Contact
    [call] = rig.calls
    assert leg.call is call and not leg.inbound and leg.confirmed
    assert call.answered_count == 1
    assert leg.stream.remote == ("127.0.0.1", 42020) and leg.stream.sending
    assert offer.media[0].port == leg.stream.local_port and rig.ports.in_use == 1
    assert leg.info.callee == "officer" and leg.info.codec == "PCMA"
    # a retransmitted 200 is acknowledged again, not handed up again
    rig.transport.deliver(answer(inv, 200, body=sdp_body(port=42020)))
    assert len(rig.transport.requests("ACK")) == 2 and len(rig.calls) == 1

    # the officer hangs up
    rig.transport.take()
    rig.transport.deliver(
        in_dialog(
            "BYE",
            call_id=leg.dialog.call_id,
            to_tag=leg.dialog.local_tag,
            from_tag="callee1",
            cseq=1,
            branch="z9hG4bK-obye",
        )
    )
    assert rig.transport.statuses() == [200]
    assert call.end_reason == "caller-bye" and rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_we_hang_up_an_outbound_leg_with_bye() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 200, body=sdp_body()))
    leg = await asyncio.wait_for(attempt, 5)
    hangup = asyncio.ensure_future(leg.hangup())
    await rig.settle(lambda: bool(rig.transport.requests("BYE")))
    bye = _last(rig, "BYE")
    assert parse_name_addr(bye.headers.get("To") or "").tag == "callee1"
    assert parse_name_addr(bye.headers.get("From") or "").tag == leg.dialog.local_tag
    rig.transport.deliver(make_response(bye, 200))
    await hangup
    assert rig.calls[0].end_reason == "ivr-bye"
    await rig.endpoint.stop()


async def test_busy_fails_with_its_status_and_is_acknowledged() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 180))
    rig.transport.deliver(answer(inv, 486))
    with pytest.raises(DialFailed) as failed:
        await asyncio.wait_for(attempt, 5)
    assert failed.value.status == 486
    [ack] = rig.transport.requests("ACK")
    assert ack.headers.get("Via") == inv.headers.get("Via")  # hop-by-hop, same branch
    assert not rig.calls and rig.ports.in_use == 0
    rig.transport.deliver(answer(inv, 486))  # retransmitted: ACKed again
    assert len(rig.transport.requests("ACK")) == 2
    await rig.endpoint.stop()


async def test_a_challenge_is_answered_once_with_digest_credentials() -> None:
    rig = await make_rig()
    auth = DigestClient("hotline", "s3cret")
    attempt = await _dial(rig, auth=auth)
    first = _last(rig, "INVITE")
    challenge = 'Digest realm="trunk", nonce="abc123", qop="auth", algorithm=MD5'
    rig.transport.deliver(answer(first, 401, headers=[("WWW-Authenticate", challenge)]))
    await rig.settle(lambda: len(rig.transport.requests("INVITE")) == 2)
    second = _last(rig, "INVITE")
    assert second.headers.get("Call-ID") == first.headers.get("Call-ID")
    assert second.headers.get("Via") != first.headers.get("Via")  # a new transaction
    assert int((second.headers.get("CSeq") or "").split()[0]) == (
        int((first.headers.get("CSeq") or "").split()[0]) + 1
    )
    header = second.headers.get("Authorization") or ""
    sent = parse_challenge(header)  # the same name=value grammar
    expected = digest_response(
        parse_challenge(challenge),
        username="hotline",
        password="s3cret",
        method="INVITE",
        uri=second.uri,
        qop="auth",
        cnonce=sent.params["cnonce"],
        nonce_count=int(sent.params["nc"], 16),
    )
    assert sent.params["response"] == expected
    rig.transport.deliver(answer(second, 200, body=sdp_body()))
    leg = await asyncio.wait_for(attempt, 5)
    assert leg.confirmed and len(rig.calls) == 1
    assert (_last(rig, "ACK").headers.get("Authorization") or "") == header
    await rig.endpoint.stop()


async def test_a_second_challenge_fails_the_dial() -> None:
    rig = await make_rig()
    attempt = await _dial(rig, auth=DigestClient("hotline", "wrong"))
    challenge = 'Digest realm="trunk", nonce="n1"'
    rig.transport.deliver(
        answer(_last(rig, "INVITE"), 407, headers=[("Proxy-Authenticate", challenge)])
    )
    await rig.settle(lambda: len(rig.transport.requests("INVITE")) == 2)
    assert _last(rig, "INVITE").headers.get("Proxy-Authorization")
    rig.transport.deliver(
        answer(_last(rig, "INVITE"), 407, headers=[("Proxy-Authenticate", challenge)])
    )
    with pytest.raises(DialFailed) as failed:
        await asyncio.wait_for(attempt, 5)
    assert failed.value.status == 407 and rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_cancel_while_ringing_sends_cancel_and_acks_the_487() -> None:
    rig = await make_rig()
    stop = asyncio.Event()
    attempt = await _dial(rig, cancel=stop)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 180))
    stop.set()
    with pytest.raises(DialCancelled):
        await asyncio.wait_for(attempt, 5)
    [cancel] = rig.transport.requests("CANCEL")
    assert cancel.uri == inv.uri and cancel.headers.get("Via") == inv.headers.get("Via")
    assert cancel.headers.get("CSeq") == (inv.headers.get("CSeq") or "").replace("INVITE", "CANCEL")
    rig.transport.deliver(make_response(cancel, 200))
    rig.transport.deliver(answer(inv, 487))
    assert len(rig.transport.requests("ACK")) == 1
    assert not rig.calls and rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_a_200_racing_the_cancel_is_acknowledged_and_hung_up() -> None:
    rig = await make_rig()
    stop = asyncio.Event()
    attempt = await _dial(rig, cancel=stop)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 180))
    stop.set()
    with pytest.raises(DialCancelled):
        await asyncio.wait_for(attempt, 5)
    rig.transport.deliver(answer(inv, 200, body=sdp_body()))
    assert len(rig.transport.requests("ACK")) == 1
    assert len(rig.transport.requests("BYE")) == 1
    assert not rig.calls
    await rig.endpoint.stop()


async def test_cancel_before_any_provisional_waits_for_one() -> None:
    rig = await make_rig()
    stop = asyncio.Event()
    attempt = await _dial(rig, cancel=stop)
    stop.set()
    with pytest.raises(DialCancelled):
        await asyncio.wait_for(attempt, 5)
    assert not rig.transport.requests("CANCEL")  # RFC 3261 §9.1
    rig.transport.deliver(answer(_last(rig, "INVITE"), 100))
    assert len(rig.transport.requests("CANCEL")) == 1
    await rig.endpoint.stop()


async def test_no_answer_within_the_timeout_cancels() -> None:
    rig = await make_rig()
    attempt = await _dial(rig, timeout_s=20.0)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 180))
    rig.clock.advance(19.0)
    await rig.settle()
    assert not attempt.done()
    rig.clock.advance(1.5)
    with pytest.raises(DialTimeout):
        await asyncio.wait_for(attempt, 5)
    assert len(rig.transport.requests("CANCEL")) == 1
    await rig.endpoint.stop()


async def test_silence_from_the_callee_retransmits_then_fails_with_408() -> None:
    rig = await make_rig()
    attempt = await _dial(rig, timeout_s=120.0)
    t1 = rig.endpoint.timers.t1
    rig.clock.advance(t1 * 7 + 0.01)  # Timer A: T1, 2T1, 4T1
    assert len(rig.transport.requests("INVITE")) == 4
    rig.clock.advance(rig.endpoint.timers.timeout)  # Timer B
    with pytest.raises(DialFailed) as failed:
        await asyncio.wait_for(attempt, 5)
    assert failed.value.status == 408 and rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_an_unusable_sdp_answer_is_acknowledged_hung_up_and_fails_488() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 200))  # no SDP at all
    with pytest.raises(DialFailed) as failed:
        await asyncio.wait_for(attempt, 5)
    assert failed.value.status == 488
    assert len(rig.transport.requests("ACK")) == 1 and len(rig.transport.requests("BYE")) == 1
    assert not rig.calls and rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_a_target_that_is_not_sip_is_refused_before_anything_is_sent() -> None:
    rig = await make_rig()
    with pytest.raises(ValueError):
        await rig.endpoint.dial("tel:+84901234567", from_uri=FROM, timeout_s=5)
    assert not rig.transport.sent and rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_stopping_the_endpoint_ends_a_ringing_dial_with_dial_cancelled() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    rig.transport.deliver(answer(_last(rig, "INVITE"), 180))
    await rig.endpoint.stop()
    with pytest.raises(DialCancelled):
        await asyncio.wait_for(attempt, 5)
    assert rig.ports.in_use == 0 and rig.transport.closed


async def test_the_callee_puts_an_outbound_leg_on_hold_with_a_reinvite() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    rig.transport.deliver(answer(_last(rig, "INVITE"), 200, body=sdp_body()))
    leg = await asyncio.wait_for(attempt, 5)
    rig.transport.take()
    rig.transport.deliver(
        in_dialog(
            "INVITE",
            call_id=leg.dialog.call_id,
            to_tag=leg.dialog.local_tag,
            from_tag="callee1",
            cseq=1,
            branch="z9hG4bK-ohold",
            extra="Content-Type: application/sdp\r\n",
            body=sdp_body("sendonly", version=2),
        )
    )
    [ok] = rig.transport.responses()
    assert ok.status == 200 and sdp.direction_of(sdp.parse(ok.body)) == "recvonly"
    assert rig.calls[0].holds == [True] and not leg.stream.sending
    await rig.endpoint.stop()


async def test_cancelling_the_dialling_task_sends_cancel() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    rig.transport.deliver(answer(_last(rig, "INVITE"), 183))
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert len(rig.transport.requests("CANCEL")) == 1
    assert rig.ports.in_use == 0 and not rig.calls
    await rig.endpoint.stop()


async def test_a_second_callee_answering_a_forked_invite_is_acked_and_hung_up() -> None:
    rig = await make_rig()
    attempt = await _dial(rig)
    inv = _last(rig, "INVITE")
    rig.transport.deliver(answer(inv, 200, body=sdp_body()))
    leg = await asyncio.wait_for(attempt, 5)
    rig.transport.take()
    second = answer(inv, 200, to_tag="callee2", body=sdp_body(port=42030))
    rig.transport.deliver(second)
    [ack] = rig.transport.requests("ACK")
    [bye] = rig.transport.requests("BYE")
    for request in (ack, bye):
        assert parse_name_addr(request.headers.get("To") or "").tag == "callee2"
    assert ack.headers.get("CSeq") == (inv.headers.get("CSeq") or "").replace("INVITE", "ACK")
    rig.transport.deliver(second)  # its retransmission: the same ACK again, no second BYE
    assert len(rig.transport.requests("ACK")) == 2 and len(rig.transport.requests("BYE")) == 1
    assert leg.dialog.remote_tag == "callee1" and not leg.terminated
    assert len(rig.calls) == 1 and rig.calls[0].end_reason is None
    await rig.endpoint.stop()
