"""Seeded random mutations of real messages: the wire parsers raise only their own typed
errors, and whatever parses can be answered and re-serialised."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from ivr.sip import offer_answer, sdp
from ivr.sip.auth import AuthError, parse_challenge
from ivr.sip.message import (
    Request,
    SipParseError,
    make_response,
    parse,
    parse_name_addr,
    parse_uri,
    parse_via,
    serialize,
    split_stream,
)
from ivr.sip.policy import check_request

MUTATIONS_PER_FILE = 60
SEED = 4475
INTERESTING = [b"\r\n", b"\n", b"\r", b" ", b"\t", b";", b",", b":", b"<", b">", b'"', b"\\",
               b"%", b"\x00", b"\xff", b"=", b"@", b"/", b"9" * 30, b"-1", b"[", b"]"]  # fmt: skip


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(buf) + 1)
        choice = rng.random()
        if choice < 0.4 and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif choice < 0.8:
            buf[pos:pos] = rng.choice(INTERESTING)
        elif buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
    return bytes(buf)


def exercise(data: bytes) -> str:
    try:
        msg = parse(data)
    except SipParseError:
        return "raised"
    for name in ("Via",):
        for value in msg.headers.get_all(name):
            with contextlib.suppress(SipParseError):
                parse_via(value)
    for name in ("From", "To", "Contact", "Route"):
        for value in msg.headers.get_all(name):
            with contextlib.suppress(SipParseError):
                parse_uri(parse_name_addr(value).uri)
    if isinstance(msg, Request):
        reply = check_request(msg)
        serialize(reply if reply is not None else make_response(msg, 200, to_tag="x"))
        with contextlib.suppress(sdp.SdpError):
            offer_answer.negotiate(sdp.parse(msg.body), local_ip="127.0.0.1", local_port=4000)
    with contextlib.suppress(SipParseError):
        split_stream(data)
    return "parsed"


def test_mutated_rfc4475_messages(sip_dir: Path) -> None:
    rng = random.Random(SEED)
    outcomes = {"raised": 0, "parsed": 0}
    for path in sorted((sip_dir / "rfc4475").glob("*.dat")):
        original = path.read_bytes()
        for _ in range(MUTATIONS_PER_FILE):
            outcomes[exercise(mutate(original, rng))] += 1
    # Both outcomes occur: the mutations reach past the start line.
    assert outcomes["raised"] > 100 and outcomes["parsed"] > 100, outcomes


def test_mutated_challenges() -> None:
    rng = random.Random(SEED)
    challenge = (
        b'Digest realm="pbx.example", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        b'qop="auth,auth-int", algorithm=MD5, opaque="5ccc069c", stale=FALSE'
    )
    raised = 0
    for _ in range(500):
        text = mutate(challenge, rng).decode("latin-1")
        try:
            parse_challenge(text)
        except AuthError:
            raised += 1
    assert 0 < raised < 500


def test_mutated_sdp_offers() -> None:
    rng = random.Random(SEED)
    offer = (
        b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
        b"t=0 0\r\nm=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    answered = 0
    for _ in range(400):
        try:
            answer = offer_answer.negotiate(
                sdp.parse(mutate(offer, rng)), local_ip="127.0.0.1", local_port=4
            )
        except sdp.SdpError:
            continue
        answered += 1
        assert sdp.parse(sdp.serialize(answer.description)).media
    assert 0 < answered < 400
