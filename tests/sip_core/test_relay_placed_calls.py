"""Behind the dispatcher, the answers to a call a worker placed go back to that worker, even
though its Call-ID hashes to another one."""

from __future__ import annotations

import zlib

from ivr.sip.dialog import Peer
from ivr.sip.relay import Dispatcher, decode_frame, encode_frame, socket_pairs, worker_for

PEER = Peer("udp", "127.0.0.1", 5099)


def _call_id_of_worker(index: int, workers: int) -> bytes:
    n = 0
    while zlib.crc32(b"placed-%d@10.0.0.1" % n) % workers != index:
        n += 1
    return b"placed-%d@10.0.0.1" % n


def _message(first_line: bytes, call_id: bytes) -> bytes:
    return (
        first_line + b"\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n"
        b"From: <sip:hotline@10.0.0.1>;tag=a\r\nTo: <sip:officer@127.0.0.1>\r\n"
        b"Call-ID: " + call_id + b"\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )


def _pending(sock: object) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(70_000))  # type: ignore[attr-defined]
        except BlockingIOError:
            return out


def test_answers_to_a_placed_call_reach_the_worker_that_placed_it() -> None:
    pairs = socket_pairs(2)
    dispatcher = Dispatcher([ours for ours, _ in pairs])
    call_id = _call_id_of_worker(0, 2)
    invite = _message(b"INVITE sip:officer@127.0.0.1 SIP/2.0", call_id)
    assert worker_for(invite, 2) == 0
    pairs[1][1].send(encode_frame(PEER, invite))  # worker 1 places the call
    dispatcher._from_worker(pairs[1][0], 1)
    ringing = _message(b"SIP/2.0 180 Ringing", call_id)
    dispatcher._from_network(ringing, PEER)
    assert _pending(pairs[0][1]) == []
    [frame] = _pending(pairs[1][1])
    assert decode_frame(frame) == (PEER, ringing)
    # an inbound call is still dispatched by its hash
    other = _message(b"INVITE sip:hotline@10.0.0.1 SIP/2.0", _call_id_of_worker(0, 2) + b"x")
    dispatcher._from_network(other, PEER)
    assert len(_pending(pairs[worker_for(other, 2)][1])) == 1
    for a, b in pairs:
        a.close()
        b.close()
