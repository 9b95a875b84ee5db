"""RFC 3261 §17 transaction state machines on a virtual clock."""

from __future__ import annotations

import pytest

from ivr.sip.message import Request, Response, make_response, parse
from ivr.sip.timers import SipTimers
from ivr.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    State,
    TransactionTable,
    server_key,
)
from tests.sip_core.virtual_clock import VirtualClock

INVITE = (
    b"INVITE sip:ivr@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-abc;rport\r\n"
    b"From: <sip:caller@127.0.0.1>;tag=1\r\n"
    b"To: <sip:ivr@127.0.0.1>\r\n"
    b"Call-ID: c1@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)
T = SipTimers(t1=0.5, t2=4.0, t4=5.0)


def _req(data: bytes = INVITE) -> Request:
    msg = parse(data)
    assert isinstance(msg, Request)
    return msg


def _server(req: Request, clock: VirtualClock, sent: list[bytes], *, reliable: bool = False):
    table = TransactionTable.empty()
    timeouts: list[ServerTransaction] = []
    tx = ServerTransaction(
        server_key(req),
        req,
        send=sent.append,
        scheduler=clock,
        reliable=reliable,
        timers=T,
        on_terminated=table.drop_server,
        on_timeout=timeouts.append,
    )
    table.server[tx.key] = tx
    return tx, table, timeouts


def test_invite_2xx_retransmitted_with_doubling_until_ack() -> None:
    clock, sent = VirtualClock(), []
    req = _req()
    tx, table, timeouts = _server(req, clock, sent)
    tx.respond(make_response(req, 100))
    tx.respond(make_response(req, 200, to_tag="x"))
    assert tx.state is State.ACCEPTED
    assert len(sent) == 2
    clock.advance(0.5)  # G at T1
    clock.advance(1.0)  # 2*T1
    clock.advance(2.0)  # 4*T1
    assert len(sent) == 5
    clock.advance(4.0)  # capped at T2
    clock.advance(4.0)
    assert len(sent) == 7
    # a retransmitted INVITE is absorbed in Accepted
    tx.receive_request(req)
    assert len(sent) == 7
    tx.ack_received()
    assert tx.state is State.TERMINATED
    assert tx.key not in table.server
    clock.advance(60)
    assert len(sent) == 7 and not timeouts


def test_invite_2xx_without_ack_times_out_after_64_t1() -> None:
    clock, sent = VirtualClock(), []
    req = _req()
    tx, _, timeouts = _server(req, clock, sent)
    tx.respond(make_response(req, 200, to_tag="x"))
    clock.advance(31.9)
    assert not timeouts
    clock.advance(0.2)
    assert timeouts == [tx]
    assert tx.state is State.TERMINATED


def test_invite_error_response_retransmitted_until_ack_then_confirmed() -> None:
    clock, sent = VirtualClock(), []
    req = _req()
    tx, table, timeouts = _server(req, clock, sent)
    tx.respond(make_response(req, 486, to_tag="x"))
    clock.advance(0.5)
    assert len(sent) == 2
    tx.receive_request(req)  # retransmitted INVITE: the final response again
    assert len(sent) == 3
    ack = _req(INVITE.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK"))
    tx.receive_request(ack)
    assert tx.state is State.CONFIRMED
    clock.advance(10)  # Timer G stopped; Timer I (T4) ends it
    assert len(sent) == 3
    assert tx.state is State.TERMINATED and not table.server and not timeouts


def test_invite_error_response_over_tcp_not_retransmitted() -> None:
    clock, sent = VirtualClock(), []
    req = _req()
    tx, _, timeouts = _server(req, clock, sent, reliable=True)
    tx.respond(make_response(req, 486, to_tag="x"))
    clock.advance(31)
    assert len(sent) == 1
    clock.advance(2)
    assert timeouts == [tx]  # Timer H


def test_provisional_resent_on_invite_retransmission() -> None:
    clock, sent = VirtualClock(), []
    req = _req()
    tx, _, _ = _server(req, clock, sent)
    tx.respond(make_response(req, 180, to_tag="x"))
    tx.receive_request(req)
    assert sent[0] == sent[1]


def test_non_invite_server_absorbs_then_resends_final() -> None:
    clock, sent = VirtualClock(), []
    bye = _req(INVITE.replace(b"INVITE sip", b"BYE sip").replace(b"1 INVITE", b"2 BYE"))
    tx, table, _ = _server(bye, clock, sent)
    tx.receive_request(bye)  # Trying: absorbed
    assert not sent
    tx.respond(make_response(bye, 200))
    tx.receive_request(bye)
    assert len(sent) == 2 and sent[0] == sent[1]
    clock.advance(32.1)  # Timer J
    assert tx.state is State.TERMINATED and not table.server


def _client(clock: VirtualClock, sent: list[bytes], *, reliable: bool = False):
    bye = _req(INVITE.replace(b"INVITE sip", b"BYE sip").replace(b"1 INVITE", b"2 BYE"))
    got: list[Response] = []
    timeouts: list[bool] = []
    table = TransactionTable.empty()
    tx = ClientTransaction(
        bye,
        send=sent.append,
        scheduler=clock,
        reliable=reliable,
        timers=T,
        on_response=got.append,
        on_timeout=lambda: timeouts.append(True),
        on_terminated=table.drop_client,
    )
    table.client[tx.key] = tx
    tx.start()
    return bye, tx, table, got, timeouts


def test_client_timer_e_doubles_and_caps_then_f_times_out() -> None:
    clock, sent = VirtualClock(), []
    _, tx, table, got, timeouts = _client(clock, sent)
    for step in (0.5, 1.0, 2.0, 4.0, 4.0):
        clock.advance(step)
    assert len(sent) == 6
    clock.advance(32)
    assert timeouts == [True] and not got
    assert tx.state is State.TERMINATED and not table.client


def test_client_final_response_delivered_once() -> None:
    clock, sent = VirtualClock(), []
    bye, tx, table, got, timeouts = _client(clock, sent)
    resp = make_response(bye, 200)
    assert table.match_response(resp) is tx
    tx.receive_response(resp)
    tx.receive_response(resp)
    assert [r.status for r in got] == [200]
    clock.advance(60)
    assert len(sent) == 1 and not timeouts
    assert not table.client


def test_client_proceeding_retransmits_at_t2() -> None:
    clock, sent = VirtualClock(), []
    bye, tx, _, got, _ = _client(clock, sent)
    tx.receive_response(make_response(bye, 100))
    clock.advance(0.5)
    clock.advance(4.0)
    clock.advance(4.0)
    assert len(sent) == 4
    assert [r.status for r in got] == [100]  # the provisional reached the transaction user


@pytest.mark.parametrize(
    ("branch", "scheme"),
    [("z9hG4bK-abc", "3261"), ("old-style-1", "2543")],
)
def test_server_key_schemes(branch: str, scheme: str) -> None:
    req = _req(INVITE.replace(b"z9hG4bK-abc", branch.encode()))
    key = server_key(req)
    assert key[0] == scheme
    ack = _req(
        INVITE.replace(b"z9hG4bK-abc", branch.encode())
        .replace(b"INVITE sip", b"ACK sip")
        .replace(b"1 INVITE", b"1 ACK")
    )
    assert server_key(ack, method="INVITE") == key
