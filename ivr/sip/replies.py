"""Stateless pieces of the user agent: where a response goes, the Via stamps of RFC 3581, the
error response to a request the parser refused, and the small bodies we read (INFO digits,
REFER's sipfrag). Pure code."""

from __future__ import annotations

import re

from ivr.sip.dialog import Peer
from ivr.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    parse_uri,
    parse_via,
)


def reply_peer(req: Request, source: Peer) -> Peer:
    """Where a response goes (§18.2.2, RFC 3581): the connection it came on for TCP; for UDP
    the source address (``received``), to the source port when ``rport`` was asked for, else
    the Via port."""
    if source.reliable:
        return source
    try:
        via = parse_via(req.headers.get_all("Via")[0])
    except (SipParseError, IndexError):
        return source
    if via.has_param("rport"):
        return source
    return Peer("udp", source.host, via.port or 5060)


def stamp_received(resp: Response, source: Peer) -> None:
    """Add ``received`` (and ``rport`` when asked) to the top Via of a response."""
    vias = resp.headers.get_all("Via")
    if not vias:
        return
    try:
        top = parse_via(vias[0])
    except SipParseError:
        return
    params: dict[str, str | None] = {}
    if top.host != source.host:
        params["received"] = source.host
    if top.has_param("rport"):
        params["rport"] = str(source.port)
        params.setdefault("received", source.host)
    if not params:
        return
    resp.headers.remove("Via")
    for value in reversed([str(top.with_params(**params)), *vias[1:]]):
        resp.headers.add("Via", value, first=True)


_HEADER_LINE = re.compile(rb"^([A-Za-z\-]+)[ \t]*:[ \t]*(.*?)\r?$", re.MULTILINE)
_COMPACT = {b"v": b"via", b"f": b"from", b"t": b"to", b"i": b"call-id"}


def best_effort_error(data: bytes, status: int, reason: str) -> Response | None:
    """An error response to a request the parser refused, when Via, From, To, Call-ID and
    CSeq can still be read; None when they cannot (then the datagram is dropped)."""
    first_line = data.split(b"\n", 1)[0]
    if first_line.startswith(b"SIP/") or b"SIP/" not in first_line:
        return None  # a response, or not SIP at all: never answered
    if first_line.split(b" ", 1)[0].upper() == b"ACK":
        return None
    head = data.split(b"\r\n\r\n", 1)[0]
    found: dict[bytes, list[bytes]] = {}
    for match in _HEADER_LINE.finditer(head):
        name = match.group(1).lower()
        name = _COMPACT.get(name, name)
        found.setdefault(name, []).append(match.group(2).strip())
    needed = (b"via", b"from", b"to", b"call-id", b"cseq")
    if any(not found.get(n) for n in needed):
        return None
    h = Headers()
    try:
        for name, canonical in zip(needed, ("Via", "From", "To", "Call-ID", "CSeq"), strict=True):
            values = found[name] if name == b"via" else found[name][:1]
            for value in values:
                text = value.decode("utf-8", "replace")
                if any(c in text for c in "\r\n\x00"):
                    return None
                h.add(canonical, text)
        parse_via(h.get_all("Via")[0])
    except (SipParseError, ValueError):
        return None
    return Response(status, reason[:100], h)


def bad_request_reason(exc: SipParseError) -> str:
    """A printable reason phrase for a 400 from a parse error (no CR, LF or controls)."""
    text = str(exc).replace("\r", " ").replace("\n", " ")
    text = "".join(c for c in text if c.isprintable())
    return ("Bad Request - " + text)[:100] if text else "Bad Request"


def is_sdp(req: Request) -> bool:
    """Whether the body is SDP (a body without Content-Type is taken as SDP)."""
    ctype = (req.headers.get("Content-Type") or "application/sdp").split(";")[0].strip().lower()
    return ctype == "application/sdp"


def user_of(uri: str) -> str:
    """The user part of a SIP URI; empty when there is none or the URI is unreadable."""
    try:
        parsed = parse_uri(uri)
    except SipParseError:
        return ""
    return parsed.user or ""


def bracket_host(ip: str) -> str:
    """An address as a URI or Via host: IPv6 in brackets."""
    return f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip


_DTMF_RELAY = re.compile(r"^\s*Signal\s*=\s*([0-9A-Da-d*#]|1[0-6])\s*$", re.MULTILINE)
_EVENT_NAMES = "0123456789*#ABCD"


def info_digit(req: Request) -> str | None:
    """A digit from SIP INFO: application/dtmf-relay ("Signal=5") or application/dtmf ("5")."""
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    body = req.body.decode("utf-8", "replace")
    if ctype == "application/dtmf-relay":
        m = _DTMF_RELAY.search(body)
        if not m:
            return None
        sig = m.group(1).upper()
        if sig.isdigit() and len(sig) == 2:
            number = int(sig)
            return _EVENT_NAMES[number] if number < 16 else None
        return sig
    if ctype == "application/dtmf":
        text = body.strip().upper()
        if len(text) == 1 and text in _EVENT_NAMES:
            return text
        if text.isdigit() and int(text) < 16:
            return _EVENT_NAMES[int(text)]
    return None


def sipfrag_status(body: bytes) -> int | None:
    """The status of a message/sipfrag body (a REFER's NOTIFY); None when unreadable."""
    m = re.match(rb"\s*SIP/2\.0\s+(\d{3})", body)
    return int(m.group(1)) if m else None


__all__ = [
    "bad_request_reason",
    "best_effort_error",
    "bracket_host",
    "info_digit",
    "is_sdp",
    "reply_peer",
    "sipfrag_status",
    "stamp_received",
    "user_of",
]
