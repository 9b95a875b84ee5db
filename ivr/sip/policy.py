"""Request checks a UAS makes before any transaction logic (RFC 3261 §8.2.1-8.2.3).

`check_request` returns the error response to send, or None when the request may proceed.
`check_response` tells whether a parsed response is well-formed enough to hand to a client
transaction (a broken response is dropped, never answered).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable

from ivr.sip.message import (
    Request,
    Response,
    SipParseError,
    make_response,
    parse_cseq,
    parse_name_addr,
    parse_uri,
    parse_via,
)
from ivr.sip.sdp import sdp_body

SUPPORTED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY", "REFER")
"""Methods tongdai handles as a UAS."""

KNOWN_METHODS = (
    *SUPPORTED_METHODS,
    "REGISTER",
    "SUBSCRIBE",
    "PUBLISH",
    "MESSAGE",
    "UPDATE",
    "PRACK",
)
"""Standard methods: the ones not supported are answered 405 (with Allow), others 501."""

SDP = "application/sdp"
_SINGLE_HEADERS = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type")
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
_REASON_MAX = 100
_WHITESPACE = re.compile(r"\s")


def _random_tag() -> str:
    return secrets.token_hex(6)


def _reason(problem: str) -> str:
    """A reason phrase naming the problem, printable and bounded."""
    text = "".join(c if c.isprintable() else " " for c in problem)
    return f"Bad Request - {text}"[:_REASON_MAX]


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _accept_admits(values: Iterable[str], media_type: str) -> bool:
    major = media_type.split("/", 1)[0]
    return any(_media_type(v) in (media_type, f"{major}/*", "*/*") for v in values)


def request_problem(req: Request) -> str | None:
    """The first syntactic or structural fault of a request (answered 400), or None."""
    for name in _MANDATORY:
        if not req.headers.lines(name):
            return f"Missing {name}"
    for name in _SINGLE_HEADERS:
        if len(req.headers.lines(name)) > 1:  # none of these is a comma-list header
            return f"Multiple {name} values"
    try:
        for value in req.headers.get_all("Via"):
            parse_via(value)
        for name in ("From", "To"):
            parse_name_addr(req.headers.get(name) or "")
        for value in req.headers.get_all("Contact"):
            if value.strip() != "*":
                parse_name_addr(value)
        _, cseq_method = parse_cseq(req.headers.get("CSeq") or "")
    except SipParseError as error:
        return str(error)
    call_id = (req.headers.get("Call-ID") or "").strip()
    if not call_id or _WHITESPACE.search(call_id):
        return "Malformed Call-ID"
    if cseq_method != req.method:
        return "CSeq method does not match the request method"
    if req.uri.lower().startswith(("sip:", "sips:")):
        try:
            if parse_uri(req.uri).headers:
                return "Headers not allowed in Request-URI"
        except SipParseError as error:
            return str(error)
    return None


def check_request(
    req: Request,
    *,
    supported_methods: Iterable[str] = SUPPORTED_METHODS,
    supported_extensions: Iterable[str] = (),
    new_tag: Callable[[], str] = _random_tag,
) -> Response | None:
    """The error response a UAS sends before any transaction logic, or None to proceed.

    In order: 400 for missing, duplicated or malformed mandatory headers and a CSeq method
    mismatch (also for unknown methods, RFC 4475 mismatch02); 505 for a SIP version other than
    2.0; 405 (with Allow) for known but unsupported methods, 501 for unknown ones; 416 for a
    Request-URI that is not sip/sips; 420 (with Unsupported) for unknown Require or
    Proxy-Require options; on INVITE 415 (with Accept) for a body that is not SDP and 406 when
    Accept does not admit SDP (also on OPTIONS). An ACK never gets an answer: for a faulty ACK
    the response is still returned so the caller can count it, and must not be sent.
    """
    methods = tuple(supported_methods)
    allow = ", ".join(methods)

    def reply(status: int, reason: str | None = None, *extra: tuple[str, str]) -> Response:
        return make_response(req, status, reason, to_tag=new_tag(), headers=extra)

    problem = request_problem(req)
    if problem is not None:
        return reply(400, _reason(problem))
    if req.version.upper() != "SIP/2.0":
        return reply(505)
    if req.method not in methods:
        if req.method in KNOWN_METHODS:
            return reply(405, None, ("Allow", allow))
        return reply(501, None, ("Allow", allow))
    if not req.uri.lower().startswith(("sip:", "sips:")):
        return reply(416)
    if req.method not in ("ACK", "CANCEL"):
        supported = {tag.lower() for tag in supported_extensions}
        unknown = [
            tag
            for name in ("Require", "Proxy-Require")
            for tag in req.headers.get_all(name)
            if tag.lower() not in supported
        ]
        if unknown:
            return reply(420, None, ("Unsupported", ", ".join(dict.fromkeys(unknown))))
    if req.method == "INVITE" and req.body:
        # Plain SDP, or SDP inside a multipart body (SIP-I gateways add ISUP next to it).
        if sdp_body(req.headers.get("Content-Type"), req.body) is None:
            return reply(415, None, ("Accept", SDP))
        encodings = [e.lower() for e in req.headers.get_all("Content-Encoding")]
        if any(e != "identity" for e in encodings):
            return reply(415, None, ("Accept", SDP), ("Accept-Encoding", "identity"))
    if req.method in ("INVITE", "OPTIONS"):
        accept = req.headers.get_all("Accept")
        if accept and not _accept_admits(accept, SDP):
            return reply(406, None, ("Accept", SDP))
    return None


def check_response(resp: Response) -> str | None:
    """The fault that makes a response unusable (it is then dropped), or None.

    A UAC accepts a response only with exactly one Via (RFC 3261 §8.1.3.3) and readable
    From, To, Call-ID and CSeq.
    """
    for name in _MANDATORY:
        if not resp.headers.lines(name):
            return f"missing {name}"
    if len(resp.headers.get_all("Via")) != 1:
        return "more than one Via"
    if resp.version.upper() != "SIP/2.0":
        return "unsupported SIP version"
    try:
        parse_via(resp.headers.get("Via") or "")
        parse_name_addr(resp.headers.get("From") or "")
        parse_name_addr(resp.headers.get("To") or "")
        parse_cseq(resp.headers.get("CSeq") or "")
    except SipParseError as error:
        return str(error)
    return None
