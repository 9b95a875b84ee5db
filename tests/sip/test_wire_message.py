"""SIP message parsing, serialisation, framing and header values (ivr.sip.message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    make_response,
    parse,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
    serialize,
    split_stream,
)

# A softphone-style INVITE written in canonical long form (real captures from sipp and baresip
# are round-tripped in test_wire_sipp.py and test_wire_baresip.py).
INVITE = (
    b"INVITE sip:1900@192.0.2.10:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5062;rport;branch=z9hG4bK-524287-1---4f2c1a\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Nguyen Van A" <sip:0912345678@192.0.2.20>;tag=8a7f3c\r\n'
    b"To: <sip:1900@192.0.2.10>\r\n"
    b"Call-ID: 5f8e2b1c9d@192.0.2.20\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:0912345678@192.0.2.20:5062;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 131\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=- 1 1 IN IP4 192.0.2.20\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.20\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
)
RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5062;rport=5062;branch=z9hG4bK-1;received=192.0.2.20\r\n"
    b"From: <sip:a@192.0.2.20>;tag=1\r\n"
    b"To: <sip:1900@192.0.2.10>;tag=xyz\r\n"
    b"Call-ID: c1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

# RFC 4475 messages already written in canonical form: they must come back byte for byte.
CANONICAL_RFC4475 = [
    "baddate.dat",
    "bcast.dat",
    "bext01.dat",
    "escruri.dat",
    "invut.dat",
    "mpart01.dat",
    "noreason.dat",
    "novelsc.dat",
    "sdp01.dat",
    "unkscm.dat",
    "unreason.dat",
    "zeromf.dat",
]


def test_request_round_trip_is_byte_exact() -> None:
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri, msg.version) == ("INVITE", "sip:1900@192.0.2.10:5060", "SIP/2.0")
    assert len(msg.body) == 131 and msg.body.startswith(b"v=0\r\n")
    assert serialize(msg) == INVITE


def test_response_round_trip_is_byte_exact() -> None:
    msg = parse(RINGING)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (180, "Ringing")
    assert serialize(msg) == RINGING


@pytest.mark.parametrize("name", CANONICAL_RFC4475)
def test_rfc4475_canonical_messages_round_trip(sip_dir: Path, name: str) -> None:
    data = (sip_dir / "rfc4475" / name).read_bytes()
    assert serialize(parse(data)) == data


def test_mpart01_binary_body_kept_by_length(sip_dir: Path) -> None:
    data = (sip_dir / "rfc4475" / "mpart01.dat").read_bytes()
    msg = parse(data)
    assert len(msg.body) == int(msg.headers.get("Content-Length") or -1) == 553
    assert b"\x00" in msg.body and b"\n" in msg.body
    assert data.endswith(msg.body)


def test_wsinv_folding_compact_forms_and_lws(sip_dir: Path) -> None:
    msg = parse((sip_dir / "rfc4475" / "wsinv.dat").read_bytes())
    h = msg.headers
    assert parse_cseq(h.get("CSeq") or "") == (9, "INVITE")
    vias = [parse_via(v) for v in h.get_all("Via")]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    sender = parse_name_addr(h.get("f") or "")
    assert sender.display == 'J Rosenberg \\"' and sender.tag == "98asjd8"
    assert parse_name_addr(h.get("TO") or "").tag == "1918181833n"
    contact = parse_name_addr(h.get("m") or "")
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert h.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert h.get("Subject") == ""
    assert h.get("Max-Forwards") == "0068"
    # Normalised output parses to the same thing again.
    again = parse(serialize(msg))
    assert again.headers == msg.headers and again.body == msg.body


def test_dblreq_trailing_octets_ignored(sip_dir: Path) -> None:
    msg = parse((sip_dir / "rfc4475" / "dblreq.dat").read_bytes())
    assert isinstance(msg, Request) and msg.method == "REGISTER" and msg.body == b""


def test_body_without_content_length_is_rest_of_datagram(sip_dir: Path) -> None:
    msg = parse((sip_dir / "rfc4475" / "inv2543.dat").read_bytes())
    assert msg.body.startswith(b"v=0") and msg.body.endswith(b"RTP/AVP 0\r\n")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", None),
        (b"\r\n\r\n", None),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n", 400),  # no blank line
        (b"INVITE  sip:a@b SIP/2.0\r\n\r\n", 400),
        (b"INVITE <sip:a@b> SIP/2.0\r\n\r\n", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nno colon here\r\n\r\n", 400),
        (b"INVITE sip:a@b SIP/2.0\r\n folded first\r\n\r\n", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nab", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nl: 1\r\nl: 1\r\n\r\nab", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nCSeq: 2147483648 INVITE\r\n\r\n", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nMax-Forwards: 256\r\n\r\n", 400),
        (b"INVITE sip:a@b SIP/2.0\r\nCSeq: " + b"9" * 5000 + b" INVITE\r\n\r\n", 400),
        (b"INVITE sip:@b SIP/2.0\r\n\r\n", 400),
        (b"INVITE sip:a@b:99999 SIP/2.0\r\n\r\n", 400),
        (b"SIP/2.0 99 Odd\r\n\r\n", None),
        (b"SIP/2.0 2000 OK\r\n\r\n", None),
        (b"SIP/2.0 200 OK\r\nCSeq: x INVITE\r\n\r\n", None),
    ],
)
def test_malformed_input_raises_typed_error(data: bytes, status: int | None) -> None:
    with pytest.raises(SipParseError) as caught:
        parse(data)
    assert caught.value.status == status


def test_parse_error_keeps_partial_request_for_the_400() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nl: -1\r\n\r\n"
    with pytest.raises(SipParseError) as caught:
        parse(data)
    partial = caught.value.partial
    assert isinstance(partial, Request)
    reply = make_response(partial, 400)
    assert reply.headers.get("Via") == "SIP/2.0/UDP h;branch=z9hG4bK1"


def test_non_utf8_header_does_not_crash() -> None:
    msg = parse(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: caf\xe9\r\n\r\n")
    assert msg.headers.get("Subject") == "café"


def test_headers_are_case_insensitive_ordered_and_split_lists() -> None:
    h = Headers([("v", "SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2"), ("Via", "SIP/2.0/TCP c")])
    assert h.get("VIA") == "SIP/2.0/UDP a;branch=1"
    assert len(h.get_all("via")) == 3
    h.add("Contact", '"Doe, John" <sip:j@x;a=1,2>, <sip:k@y>')
    assert h.get_all("m") == ['"Doe, John" <sip:j@x;a=1,2>', "<sip:k@y>"]
    h.add("Authorization", 'Digest username="a", realm="b"')
    assert h.get_all("Authorization") == ['Digest username="a", realm="b"']
    h.add("Via", "SIP/2.0/UDP top", first=True)
    assert h.items()[0] == ("Via", "SIP/2.0/UDP top")
    h.set("VIA", "SIP/2.0/UDP only")
    assert h.get_all("Via") == ["SIP/2.0/UDP only"] and h.items()[0][0] == "Via"
    h.remove("v")
    assert "Via" not in h and h.get("Via") is None


def test_via_parse_and_render() -> None:
    via = parse_via("SIP/2.0/udp [2001:db8::1]:5062;rport;branch=z9hG4bKx;received=192.0.2.1")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "[2001:db8::1]",
        5062,
        "z9hG4bKx",
    )
    assert via.has_param("rport") and via.param("rport") is None
    assert str(via) == "SIP/2.0/UDP [2001:db8::1]:5062;rport;branch=z9hG4bKx;received=192.0.2.1"
    assert str(via.with_params(rport="5062")).endswith(
        ";rport=5062;branch=z9hG4bKx;received=192.0.2.1"
    )
    for bad in (
        "SIP/2.0/UDP 192.0.2.15;;",
        "SIP/2.0 host",
        "HTTP/1.1/TCP h",
        "SIP/2.0/UDP h:70000",
    ):
        with pytest.raises(SipParseError):
            parse_via(bad)


def test_uri_parse_render_and_escapes() -> None:
    uri = parse_uri("sips:alice:secret@Example.COM:5061;transport=tcp;lr?subject=hi&x=y")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "alice",
        "secret",
        "Example.COM",
        5061,
    )
    assert uri.params == {"transport": "tcp", "lr": None} and uri.headers == {
        "subject": "hi",
        "x": "y",
    }
    assert str(uri) == "sips:alice:secret@Example.COM:5061;transport=tcp;lr?subject=hi&x=y"
    escaped = parse_uri("sip:sips%3Auser%40example.com@example.net")
    assert escaped.scheme == "sip" and escaped.user == "sips:user@example.com"
    assert str(escaped) == "sip:sips%3Auser%40example.com@example.net"
    assert parse_uri("sip:user;par=u%40example.net@example.com").user == "user;par=u@example.net"
    tel = parse_uri("tel:+84-24-3825-1234;phone-context=example.vn")
    assert (tel.scheme, tel.is_sip, tel.opaque) == (
        "tel",
        False,
        "+84-24-3825-1234;phone-context=example.vn",
    )
    v6 = parse_uri("sip:[2001:db8::1]:5060")
    assert (v6.host, v6.port, v6.user) == ("[2001:db8::1]", 5060, None)
    for bad in ("nocolon", "sip:", "sip:a b@c", "sip:user@", "sip:h;;", "sip:[::1", "sip:h:port"):
        with pytest.raises(SipParseError):
            parse_uri(bad)


def test_name_addr_forms() -> None:
    assert parse_name_addr("sip:a@b;tag=1").tag == "1"
    assert parse_name_addr("sip:a@b;tag=1").uri == "sip:a@b"
    plain = parse_name_addr("caller<sip:caller@example.com>;tag=323")
    assert (plain.display, plain.uri, plain.tag) == ("caller", "sip:caller@example.com", "323")
    quoted = parse_name_addr('"Nguyễn \\"Ba\\"" <sip:b@x>')
    assert quoted.display == 'Nguyễn "Ba"' and str(quoted) == '"Nguyễn \\"Ba\\"" <sip:b@x>'
    assert str(quoted.with_params(tag="9")) == '"Nguyễn \\"Ba\\"" <sip:b@x>;tag=9'
    for bad in ('"unterminated <sip:a@b>', "<sip:a@b", "no-scheme@host", "", "<sip:a@b>;;"):
        with pytest.raises(SipParseError):
            parse_name_addr(bad)


def test_cseq() -> None:
    assert parse_cseq(" 0009   INVITE ") == (9, "INVITE")
    assert parse_cseq("2147483647 BYE") == (2**31 - 1, "BYE")
    for bad in ("2147483648 BYE", "1", "x INVITE", "1 INV ITE", "-1 BYE"):
        with pytest.raises(SipParseError):
            parse_cseq(bad)


def test_split_stream_frames_whole_messages() -> None:
    stream = b"\r\n\r\n" + INVITE + b"\r\n" + RINGING + INVITE[:50]
    messages, rest = split_stream(stream)
    assert messages == [INVITE, RINGING] and rest == INVITE[:50]
    # Byte by byte gives the same result.
    got: list[bytes] = []
    buffer = b""
    for i in range(len(INVITE)):
        buffer += INVITE[i : i + 1]
        done, buffer = split_stream(buffer)
        got += done
    assert got == [INVITE] and buffer == b""


@pytest.mark.parametrize(
    "stream",
    [
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 999999999\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * 70_000,
    ],
)
def test_split_stream_rejects_unframeable(stream: bytes) -> None:
    with pytest.raises(SipParseError):
        split_stream(stream)


def test_make_response_copies_dialog_headers() -> None:
    req = parse(INVITE)
    assert isinstance(req, Request)
    ok = make_response(
        req,
        200,
        to_tag="srv1",
        headers=[("Contact", "<sip:ivr@192.0.2.10>")],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    assert (ok.status, ok.reason) == (200, "OK")
    assert parse_name_addr(ok.headers.get("To") or "").tag == "srv1"
    for name in ("Via", "From", "Call-ID", "CSeq"):
        assert ok.headers.get_all(name) == req.headers.get_all(name)
    wire = serialize(ok)
    assert b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n" in wire
    again = parse(wire)
    assert isinstance(again, Response) and again.body == b"v=0\r\n"
    tagged = make_response(
        parse(RINGING.replace(b"SIP/2.0 180 Ringing", b"BYE sip:a@b SIP/2.0")), 481, to_tag="new"
    )  # type: ignore[arg-type]
    assert parse_name_addr(tagged.headers.get("To") or "").tag == "xyz"
    assert tagged.reason == "Call/Transaction Does Not Exist"
    assert make_response(req, 499).reason == "Client Error"


def test_serialize_refuses_header_injection() -> None:
    msg = Request("OPTIONS", "sip:a@b", Headers([("Subject", "x\r\nVia: evil")]))
    with pytest.raises(ValueError, match="line break"):
        serialize(msg)
