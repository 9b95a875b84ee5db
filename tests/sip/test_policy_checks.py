"""UAS request checks (ivr.sip.policy) on hand-built requests, one rule at a time."""

from __future__ import annotations

import pytest

from ivr.sip.message import Request, Response, parse, parse_name_addr, serialize
from ivr.sip.policy import check_request, check_response, request_problem

BASE = [
    "Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bK-1",
    "From: <sip:caller@192.0.2.20>;tag=a1",
    "To: <sip:1900@192.0.2.10>",
    "Call-ID: c1@192.0.2.20",
    "CSeq: 1 {method}",
    "Max-Forwards: 70",
]


def request(
    method: str = "INVITE",
    *,
    uri: str = "sip:1900@192.0.2.10",
    extra: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    body: bytes = b"",
    version: str = "SIP/2.0",
) -> Request:
    lines = [f"{method} {uri} {version}"]
    lines += [h.format(method=method) for h in BASE if h.split(":")[0] not in drop]
    lines += list(extra)
    data = ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    msg = parse(data)
    assert isinstance(msg, Request)
    return msg


def status(req: Request) -> int | None:
    reply = check_request(req)
    return None if reply is None else reply.status


@pytest.mark.parametrize("method", ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY"])
def test_well_formed_requests_pass(method: str) -> None:
    assert check_request(request(method)) is None


@pytest.mark.parametrize("header", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_mandatory_header_is_400_naming_it(header: str) -> None:
    reply = check_request(request(drop=(header,)))
    assert reply is not None and reply.status == 400 and header in reply.reason


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("To: <sip:other@x>",), "Multiple To"),
        (("Call-ID: second",), "Multiple Call-ID"),
        (("Max-Forwards: 5",), "Multiple Max-Forwards"),
        (("Via: SIP/2.0/UDP host;;",), "parameter"),
        (("Contact: <sip:a@b",), "unterminated"),
    ],
)
def test_duplicated_or_malformed_headers_are_400(extra: tuple[str, ...], words: str) -> None:
    reply = check_request(request(extra=extra))
    assert reply is not None and reply.status == 400 and words in reply.reason


def test_bad_call_id_and_cseq_mismatch() -> None:
    assert request_problem(request(drop=("Call-ID",), extra=("Call-ID: a b",))) == (
        "Malformed Call-ID"
    )
    mismatched = request("BYE", drop=("CSeq",), extra=("CSeq: 1 INVITE",))
    assert status(mismatched) == 400
    unknown = request("FOO", drop=("CSeq",), extra=("CSeq: 1 BAR",))
    assert status(unknown) == 400  # not 501: the CSeq mismatch is checked first


def test_version_and_methods() -> None:
    assert status(request(version="SIP/3.0")) == 505
    for method in ("REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "UPDATE", "PRACK"):
        reply = check_request(request(method))
        assert reply is not None and reply.status == 405
        assert "INVITE" in (reply.headers.get("Allow") or "")
    assert status(request("FROBNICATE")) == 501
    # A deployment may narrow the supported set.
    assert status(request("REFER")) is None
    narrowed = check_request(request("REFER"), supported_methods=("INVITE", "ACK", "BYE"))
    assert narrowed is not None and narrowed.status == 405


def test_request_uri_scheme_and_headers() -> None:
    assert status(request(uri="tel:+842438251234")) == 416
    assert status(request(uri="sips:1900@192.0.2.10")) is None
    assert status(request(uri="sip:1900@192.0.2.10?Subject=x")) == 400


def test_require_and_proxy_require() -> None:
    reply = check_request(request(extra=("Require: 100rel, timer", "Proxy-Require: foo")))
    assert reply is not None and reply.status == 420
    assert reply.headers.get_all("Unsupported") == ["100rel", "timer", "foo"]
    supported = request(extra=("Require: timer",))
    assert check_request(supported, supported_extensions=("timer",)) is None
    # CANCEL and ACK never fail on Require (RFC 3261 §8.2.2.3).
    assert status(request("CANCEL", extra=("Require: 100rel",))) is None
    assert status(request("ACK", extra=("Require: 100rel",))) is None


def test_invite_bodies_and_accept() -> None:
    sdp = b"v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nt=0 0\r\n"
    assert status(request(extra=("Content-Type: application/sdp",), body=sdp)) is None
    assert status(request(extra=("Content-Type: Application/SDP; charset=x",), body=sdp)) is None
    bad_type = check_request(request(extra=("Content-Type: text/plain",), body=b"hi"))
    assert bad_type is not None and bad_type.status == 415
    assert bad_type.headers.get("Accept") == "application/sdp"
    gz = check_request(
        request(extra=("Content-Type: application/sdp", "Content-Encoding: gzip"), body=sdp)
    )
    assert gz is not None and gz.status == 415 and gz.headers.get("Accept-Encoding") == "identity"
    multipart = (
        b"--bb\r\nContent-Type: application/sdp\r\n\r\n" + sdp + b"\r\n"
        b"--bb\r\nContent-Type: application/isup\r\n\r\n\x01\x02\r\n--bb--\r\n"
    )
    assert (
        status(request(extra=("Content-Type: multipart/mixed;boundary=bb",), body=multipart))
        is None
    )
    no_sdp = multipart.replace(b"application/sdp", b"text/plain")
    assert status(request(extra=("Content-Type: multipart/mixed;boundary=bb",), body=no_sdp)) == 415
    # INFO bodies are the dialog layer's business.
    assert (
        status(request("INFO", extra=("Content-Type: application/dtmf-relay",), body=b"x")) is None
    )
    for accept, expected in (
        ("application/sdp", None),
        ("application/*", None),
        ("*/*", None),
        ("text/html, application/sdp;level=1", None),
        ("text/html", 406),
    ):
        assert status(request(extra=(f"Accept: {accept}",))) == expected
        assert status(request("OPTIONS", extra=(f"Accept: {accept}",))) == expected
    assert status(request("BYE", extra=("Accept: text/html",))) is None


def test_error_responses_are_well_formed() -> None:
    req = request("FROBNICATE")
    reply = check_request(req, new_tag=lambda: "fixed")
    assert reply is not None
    again = parse(serialize(reply))
    assert isinstance(again, Response) and again.status == 501
    assert parse_name_addr(again.headers.get("To") or "").tag == "fixed"
    assert again.headers.get("Via") == req.headers.get("Via")
    assert check_response(again) is None


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda h: h.remove("Call-ID"), "missing Call-ID"),
        (lambda h: h.add("Via", "SIP/2.0/UDP other;branch=z9hG4bK-2"), "more than one Via"),
        (lambda h: h.set("CSeq", "x INVITE"), "CSeq"),
        (lambda h: h.set("From", '"open <sip:a@b>'), "unterminated"),
    ],
)
def test_check_response_faults(mutate, problem: str) -> None:  # type: ignore[no-untyped-def]
    reply = check_request(request("FROBNICATE"))
    assert reply is not None
    mutate(reply.headers)
    fault = check_response(reply)
    assert fault is not None and problem in fault
