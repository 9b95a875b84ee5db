"""The endpoint answering calls, over a fake transport and a virtual clock: no SIP sockets, no
waits on the wall clock. Each test reads what the endpoint wrote and plays the caller."""

from __future__ import annotations

import asyncio

from ivr.sip import sdp
from ivr.sip.message import Request, Response, parse_name_addr
from tests.sip_core.fakes import (
    Rig,
    cancel,
    in_dialog,
    invite,
    make_rig,
    sdp_body,
)


def _final(rig: Rig, status: int = 200) -> Response:
    finals = [r for r in rig.transport.responses() if r.status == status]
    assert finals, rig.transport.statuses()
    return finals[-1]


def _our_tag(resp: Response) -> str:
    tag = parse_name_addr(resp.headers.get("To") or "").tag
    assert tag
    return tag


async def _answered_call(rig: Rig, call_id: str = "call-1") -> str:
    """INVITE -> 100, 180, 200 -> ACK; returns our tag."""
    rig.transport.deliver(invite(call_id))
    await rig.settle(lambda: 200 in rig.transport.statuses())
    tag = _our_tag(_final(rig))
    rig.transport.deliver(
        in_dialog("ACK", call_id=call_id, to_tag=tag, cseq=1, branch="z9hG4bK-ack1")
    )
    return tag


async def test_invite_rings_answers_with_sdp_and_the_caller_hangs_up() -> None:
    rig = await make_rig()
    tag = await _answered_call(rig)
    assert rig.transport.statuses() == [100, 180, 200]
    ok = _final(rig)
    answer = sdp.parse(ok.body)
    assert answer.media[0].port == rig.calls[0].leg.stream.local_port
    assert rig.ports.in_use == 1
    [call] = rig.calls
    assert call.answered_count == 1 and call.leg.confirmed and call.leg.inbound
    assert call.leg.info.caller == "0901234567" and call.leg.info.codec == "PCMA"

    rig.transport.take()
    rig.transport.deliver(
        in_dialog("BYE", call_id="call-1", to_tag=tag, cseq=2, branch="z9hG4bK-bye1")
    )
    assert rig.transport.statuses() == [200]
    assert call.end_reason == "caller-bye"
    assert rig.ports.in_use == 0
    assert rig.endpoint.active_calls == 0
    # the leg is kept for retransmitted BYEs, then forgotten
    rig.transport.deliver(
        in_dialog("BYE", call_id="call-1", to_tag=tag, cseq=2, branch="z9hG4bK-bye1")
    )
    assert rig.transport.statuses() == [200, 200]
    rig.clock.advance(rig.endpoint.timers.timeout + 1)
    assert len(rig.endpoint.legs) == 0
    await rig.endpoint.stop()


async def test_our_bye_when_the_call_hangs_up() -> None:
    rig = await make_rig()
    await _answered_call(rig)
    [call] = rig.calls
    rig.transport.take()
    hangup = asyncio.ensure_future(call.leg.hangup())
    await rig.settle(lambda: bool(rig.transport.requests("BYE")))
    [bye] = rig.transport.requests("BYE")
    assert bye.headers.get("Call-ID") == "call-1"
    assert parse_name_addr(bye.headers.get("To") or "").tag == "peer1"
    assert call.end_reason == "ivr-bye"
    rig.transport.deliver(_ok(bye))
    await hangup
    await rig.endpoint.stop()


def _ok(req: Request, status: int = 200) -> Response:
    from ivr.sip.message import make_response

    return make_response(req, status)


async def test_cancel_before_answer_gets_487_and_frees_the_port() -> None:
    rig = await make_rig(answer_delay_s=5.0)
    rig.transport.deliver(invite())
    await rig.settle(lambda: 180 in rig.transport.statuses())
    assert rig.ports.in_use == 1
    rig.transport.deliver(cancel())
    assert rig.transport.statuses() == [100, 180, 200, 487]
    responses = rig.transport.responses()
    assert responses[2].headers.get("CSeq") == "1 CANCEL"
    [call] = rig.calls
    assert call.end_reason == "cancel" and call.answered_count == 0
    assert rig.ports.in_use == 0
    rig.clock.advance(5.0)  # the answer delay passes: no 200 after the 487
    await rig.settle()
    to_invite = [r.status for r in rig.transport.responses() if r.headers.get("CSeq") == "1 INVITE"]
    assert to_invite[:3] == [100, 180, 487] and set(to_invite[3:]) <= {487}  # Timer G resends
    assert rig.endpoint.stats.calls_answered == 0
    await rig.endpoint.stop()


async def test_cancel_of_an_unknown_invite_gets_481() -> None:
    rig = await make_rig()
    rig.transport.deliver(cancel("nobody"))
    assert rig.transport.statuses() == [481]
    await rig.endpoint.stop()


async def test_a_200_never_acknowledged_is_retransmitted_then_the_call_ends_with_bye() -> None:
    rig = await make_rig()
    rig.transport.deliver(invite())
    await rig.settle(lambda: 200 in rig.transport.statuses())
    timers = rig.endpoint.timers
    rig.clock.advance(timers.t1 * 7 + 0.01)  # retransmissions at T1, 2T1, 4T1 (doubling)
    assert rig.transport.statuses().count(200) == 4
    rig.clock.advance(timers.timeout)  # Timer L: no ACK
    await rig.settle(lambda: bool(rig.transport.requests("BYE")))
    [call] = rig.calls
    assert call.end_reason == "no-ack" and call.answered_count == 0
    byes = rig.transport.requests("BYE")
    assert len({bye.headers.get("Via") for bye in byes}) == 1  # one BYE (Timer E resends it)
    assert rig.ports.in_use == 0
    await rig.endpoint.stop()


async def test_retransmitted_invite_is_absorbed_not_answered_twice() -> None:
    rig = await make_rig(answer_delay_s=1.0)
    rig.transport.deliver(invite())
    await rig.settle(lambda: 180 in rig.transport.statuses())
    rig.transport.deliver(invite())  # the caller did not hear our 180 yet
    assert rig.transport.statuses() == [100, 180, 180]  # the last provisional, again
    assert len(rig.calls) == 1
    rig.clock.advance(1.0)
    await rig.settle(lambda: 200 in rig.transport.statuses())
    assert rig.transport.statuses().count(200) == 1
    await rig.endpoint.stop()


async def test_reinvite_puts_the_call_on_hold_and_back() -> None:
    rig = await make_rig()
    tag = await _answered_call(rig)
    [call] = rig.calls
    rig.transport.take()
    hold = sdp_body("sendonly", version=2)
    rig.transport.deliver(
        in_dialog(
            "INVITE",
            call_id="call-1",
            to_tag=tag,
            cseq=2,
            branch="z9hG4bK-re1",
            extra="Content-Type: application/sdp\r\n",
            body=hold,
        )
    )
    [ok] = rig.transport.take()
    assert isinstance(ok, Response) and ok.status == 200
    assert sdp.direction_of(sdp.parse(ok.body)) == "recvonly"
    assert call.holds == [True] and not call.leg.stream.sending
    rig.transport.deliver(
        in_dialog("ACK", call_id="call-1", to_tag=tag, cseq=2, branch="z9hG4bK-re1a")
    )
    rig.transport.deliver(
        in_dialog(
            "INVITE",
            call_id="call-1",
            to_tag=tag,
            cseq=3,
            branch="z9hG4bK-re2",
            extra="Content-Type: application/sdp\r\n",
            body=sdp_body("sendrecv", version=3),
        )
    )
    assert call.holds == [True, False] and call.leg.stream.sending
    await rig.endpoint.stop()


async def test_refer_transfers_and_hangs_up_on_the_final_notify() -> None:
    rig = await make_rig()
    tag = await _answered_call(rig)
    [call] = rig.calls
    rig.transport.take()
    transfer = asyncio.ensure_future(call.leg.refer("sip:department@127.0.0.1"))
    await rig.settle(lambda: bool(rig.transport.requests("REFER")))
    [refer] = rig.transport.requests("REFER")
    assert refer.headers.get("Refer-To") == "<sip:department@127.0.0.1>"
    rig.transport.deliver(_ok(refer, 202))
    rig.transport.deliver(
        in_dialog(
            "NOTIFY",
            call_id="call-1",
            to_tag=tag,
            cseq=2,
            branch="z9hG4bK-n1",
            extra="Event: refer\r\nSubscription-State: terminated\r\n"
            "Content-Type: message/sipfrag\r\n",
            body="SIP/2.0 200 OK\r\n",
        )
    )
    await rig.settle(lambda: bool(rig.transport.requests("BYE")))
    [bye] = rig.transport.requests("BYE")
    rig.transport.deliver(_ok(bye))
    outcome = await transfer
    assert outcome.ok and outcome.status == 200
    assert call.end_reason in ("ivr-bye", "transferred")
    await rig.endpoint.stop()


async def test_info_digit_reaches_the_call() -> None:
    rig = await make_rig()
    tag = await _answered_call(rig)
    rig.transport.deliver(
        in_dialog(
            "INFO",
            call_id="call-1",
            to_tag=tag,
            cseq=2,
            branch="z9hG4bK-i1",
            extra="Content-Type: application/dtmf-relay\r\n",
            body="Signal=5\r\nDuration=160\r\n",
        )
    )
    assert rig.calls[0].digits == [("5", "info")]
    await rig.endpoint.stop()


async def test_no_common_codec_is_refused_with_488_and_no_call() -> None:
    rig = await make_rig()
    g722 = (
        sdp_body()
        .replace("RTP/AVP 8 0 101", "RTP/AVP 9")
        .replace("a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:9 G722/8000\r\n")
    )
    rig.transport.deliver(invite(body=g722))
    await rig.settle(lambda: 488 in rig.transport.statuses())
    assert rig.transport.statuses() == [100, 488]
    assert not rig.calls and rig.ports.in_use == 0
    assert rig.endpoint.stats.rejected.get(488) == 1
    await rig.endpoint.stop()


async def test_delayed_offer_takes_the_answer_from_the_ack() -> None:
    rig = await make_rig()
    rig.transport.deliver(invite(body=""))
    await rig.settle(lambda: 200 in rig.transport.statuses())
    ok = _final(rig)
    assert sdp.parse(ok.body).media[0].port > 0  # our offer
    rig.transport.deliver(
        in_dialog(
            "ACK",
            call_id="call-1",
            to_tag=_our_tag(ok),
            cseq=1,
            branch="z9hG4bK-ack1",
            extra="Content-Type: application/sdp\r\n",
            body=sdp_body(port=42010),
        )
    )
    [call] = rig.calls
    assert call.answered_count == 1
    assert call.leg.stream.remote == ("127.0.0.1", 42010)
    await rig.endpoint.stop()


async def test_shutdown_says_bye_to_live_calls() -> None:
    rig = await make_rig()
    await _answered_call(rig)
    rig.transport.take()
    stopping = asyncio.ensure_future(rig.endpoint.stop())
    await rig.settle(lambda: bool(rig.transport.requests("BYE")))
    [bye] = rig.transport.requests("BYE")
    rig.transport.deliver(_ok(bye))
    await stopping
    assert rig.calls[0].end_reason == "ivr-bye"
    assert rig.transport.closed and rig.ports.in_use == 0
