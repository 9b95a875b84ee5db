"""The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026) on a virtual clock."""

from __future__ import annotations

from ivr.sip.invite_client import TIMER_D_UNRELIABLE_S, InviteClientTransaction
from ivr.sip.message import Request, Response, make_response, parse
from ivr.sip.timers import SipTimers
from ivr.sip.transaction import State, TransactionTable
from tests.sip_core.virtual_clock import VirtualClock

INVITE = (
    b"INVITE sip:officer@127.0.0.1:5099 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-out1;rport\r\n"
    b"Route: <sip:proxy@127.0.0.1;lr>\r\n"
    b"From: <sip:hotline@127.0.0.1>;tag=ours\r\n"
    b"To: <sip:officer@127.0.0.1>\r\n"
    b"Call-ID: out-1@127.0.0.1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)
T = SipTimers(t1=0.5, t2=4.0, t4=5.0)


def _rig(*, reliable: bool = False):
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    clock, sent, seen, timeouts = VirtualClock(), [], [], []
    table = TransactionTable.empty()
    tx = InviteClientTransaction(
        msg,
        send=sent.append,
        scheduler=clock,
        reliable=reliable,
        timers=T,
        on_response=seen.append,
        on_timeout=lambda: timeouts.append(True),
        on_terminated=table.drop_client,
    )
    table.client[tx.key] = tx
    tx.start()
    return msg, tx, clock, sent, seen, timeouts, table


def _resp(req: Request, status: int) -> Response:
    return make_response(req, status, to_tag="theirs" if status > 100 else None)


def test_error_response_is_acked_hop_by_hop_until_timer_d() -> None:
    req, tx, clock, sent, seen, _, table = _rig()
    tx.receive_response(_resp(req, 180))
    tx.receive_response(_resp(req, 603))
    assert [r.status for r in seen] == [180, 603] and tx.state is State.COMPLETED
    ack = parse(sent[-1])
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.uri == req.uri and ack.headers.get("Via") == req.headers.get("Via")
    assert ack.headers.get("Route") == "<sip:proxy@127.0.0.1;lr>"
    assert ack.headers.get("CSeq") == "7 ACK" and "tag=theirs" in (ack.headers.get("To") or "")
    tx.receive_response(_resp(req, 603))  # retransmitted: ACKed, not passed up
    assert sent[-1] == sent[-2] and len(seen) == 2
    clock.advance(TIMER_D_UNRELIABLE_S - 0.1)
    assert tx.key in table.client
    clock.advance(0.2)
    assert tx.state is State.TERMINATED and not table.client


def test_every_2xx_goes_up_until_timer_m() -> None:
    req, tx, clock, sent, seen, timeouts, table = _rig()
    tx.receive_response(_resp(req, 200))
    assert tx.state is State.ACCEPTED and len(sent) == 1  # the TU sends the ACK of a 2xx
    clock.advance(10)
    tx.receive_response(_resp(req, 200))
    assert [r.status for r in seen] == [200, 200] and len(sent) == 1  # no INVITE resent
    clock.advance(T.timeout)
    assert tx.state is State.TERMINATED and not table.client and not timeouts


def test_over_tcp_nothing_is_retransmitted_and_timer_b_still_fires() -> None:
    _, tx, clock, sent, _, timeouts, table = _rig(reliable=True)
    clock.advance(T.timeout - 0.1)
    assert len(sent) == 1 and not timeouts
    clock.advance(0.2)
    assert timeouts == [True] and tx.state is State.TERMINATED and not table.client


def test_a_provisional_stops_retransmissions_and_timer_b() -> None:
    req, tx, clock, sent, _, timeouts, _ = _rig()
    clock.advance(0.6)
    assert len(sent) == 2
    tx.receive_response(_resp(req, 100))
    assert tx.provisional_seen
    clock.advance(T.timeout * 2)
    assert len(sent) == 2 and not timeouts and tx.state is State.PROCEEDING
