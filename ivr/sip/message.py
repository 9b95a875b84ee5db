"""SIP messages on the wire (RFC 3261 §7, §18.3, §20, §25): parse, serialise, frame, build.

Pure code: no sockets, no asyncio, no clock. Every malformed input raises `SipParseError`, the
one typed error of the parser, which carries the status a UAS should answer with (or None when the
message must be dropped silently, as for any broken response).

Headers, URIs and name-addr values live in `ivr.sip.headers` and `ivr.sip.uri`; they are
re-exported here so callers need a single import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ivr.sip.headers import (
    Headers,
    SipParseError,
    canonical_name,
    is_token,
    split_list,
)
from ivr.sip.uri import (
    NameAddr,
    SipUri,
    format_params,
    merge_params,
    parse_name_addr,
    parse_params,
    parse_uri,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "REASON_PHRASES",
    "Headers",
    "NameAddr",
    "Request",
    "Response",
    "SipMessage",
    "SipParseError",
    "SipUri",
    "Via",
    "bounded_int",
    "canonical_name",
    "format_params",
    "make_response",
    "parse",
    "parse_cseq",
    "parse_name_addr",
    "parse_params",
    "parse_uri",
    "parse_via",
    "serialize",
    "split_list",
    "split_stream",
]

MAX_MESSAGE_BYTES = 65_536
"""Largest message `split_stream` frames; a stream announcing more is broken, not slow."""

_CSEQ_MAX = 2**31 - 1  # RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31
_UINT32_MAX = 2**32 - 1  # delta-seconds (Expires, Retry-After) are 32-bit
_MAX_FORWARDS_MAX = 255
_CONTENT_LENGTH_MAX = 2**31 - 1

_REQUEST_LINE = re.compile(r"([^ \t]+) ([^ \t]+) (SIP/[0-9]+\.[0-9]+)", re.IGNORECASE)
_STATUS_LINE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]+)(?: (.*))?", re.IGNORECASE | re.DOTALL)
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_DIGITS = re.compile(r"[0-9]+")

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}
"""Standard reason phrases (RFC 3261 §21 and extensions) used when none is given."""

_CLASS_REASONS = {1: "Trying", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error"}


@dataclass
class Request:
    """A SIP request. `uri` is the Request-URI exactly as received (parse it with `parse_uri`)."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


@dataclass
class Response:
    """A SIP response."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


SipMessage = Request | Response


# --------------------------------------------------------------------------- framing


def _skip_blank_lines(data: bytes, pos: int) -> int:
    """Skip CRLFs (and bare LFs) before a start line: RFC 3261 §7.5 keep-alive tolerance."""
    n = len(data)
    while pos < n:
        if data.startswith(b"\r\n", pos):
            pos += 2
        elif data[pos] == 0x0A:
            pos += 1
        else:
            break
    return pos


def _find_header_end(data: bytes, start: int) -> tuple[int, int] | None:
    """Locate the empty line ending the header section: (end of headers, start of body).

    Lines may end in CRLF or, liberally, a bare LF; the search stops at the first empty line, so
    a body holding bare LFs (RFC 4475 mpart01) is never mistaken for headers.
    """
    pos = start
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        line_end = nl - 1 if nl > pos and data[nl - 1] == 0x0D else nl
        if line_end == pos:
            return pos, nl + 1
        pos = nl + 1


def bounded_int(text: str, maximum: int) -> int | None:
    """The value of a decimal digit string if it is at most `maximum`, else None.

    Length is checked before conversion, so a thousand-digit field costs nothing.
    """
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(maximum)):
        return None
    value = int(significant)
    return value if value <= maximum else None


def _content_length_value(value: str, status: int | None) -> int:
    length = bounded_int(value.strip(), _CONTENT_LENGTH_MAX)
    if length is None:
        raise SipParseError(f"malformed Content-Length {value[:40]!r}", status)
    return length


def _scan_content_length(head: bytes) -> int | None:
    """Content-Length of a raw header block (for stream framing, before full parsing)."""
    found: int | None = None
    for raw in head.split(b"\n")[1:]:
        line = raw.rstrip(b"\r")
        name, sep, value = line.partition(b":")
        if not sep or name[:1] in (b" ", b"\t"):
            continue
        if name.strip().lower() not in (b"content-length", b"l"):
            continue
        length = _content_length_value(value.decode("latin-1"), 400)
        if found is not None and found != length:
            raise SipParseError("conflicting Content-Length headers", 400)
        found = length
    return found


def split_stream(
    buffer: bytes, *, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[list[bytes], bytes]:
    """Cut whole messages off the front of a stream (TCP) buffer: (messages, unconsumed rest).

    Keep-alive CRLFs between messages are skipped. A message without Content-Length is taken to
    have no body (RFC 3261 §18.3 requires the header on streams; bodiless messages that omit it
    are still framed). Raises `SipParseError` when the stream can never be framed again: a bad
    or conflicting Content-Length, or a message larger than `max_message_bytes`.
    """
    data = bytes(buffer)
    messages: list[bytes] = []
    pos = 0
    while True:
        pos = _skip_blank_lines(data, pos)
        if pos >= len(data):
            break
        bounds = _find_header_end(data, pos)
        if bounds is None:
            if len(data) - pos > max_message_bytes:
                raise SipParseError("header section exceeds the message size limit", 400)
            break
        head_end, body_start = bounds
        length = _scan_content_length(data[pos:head_end]) or 0
        end = body_start + length
        if end - pos > max_message_bytes:
            raise SipParseError("message exceeds the message size limit", 413)
        if end > len(data):
            break
        messages.append(data[pos:end])
        pos = end
    return messages, data[pos:]


# --------------------------------------------------------------------------- parsing


def _decode(raw: bytes) -> str:
    """Header text is UTF-8 (RFC 3261 §7.3.1); anything else is read as latin-1, never fatal."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _header_lines(lines: list[str], status: int | None) -> Headers:
    """Unfold continuation lines and split `name: value`; names normalised to long forms."""
    pairs: list[list[str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not pairs:
                raise SipParseError("continuation line before any header", status)
            pairs[-1][1] = pairs[-1][1] + " " + line.strip(" \t")
            continue
        name, sep, value = line.partition(":")
        name = name.rstrip(" \t")
        if not sep or not is_token(name):
            raise SipParseError(f"malformed header line {line[:80]!r}", status)
        pairs.append([name, value])
    return Headers((name, value.strip(" \t")) for name, value in pairs)


def _check_scalars(headers: Headers, status: int | None) -> None:
    """Overflow and syntax checks of the numeric header fields (RFC 4475 §3.1.2.4-5)."""
    for value in headers.lines("CSeq"):
        parse_cseq(value, status=status)
    for value in headers.lines("Max-Forwards"):
        if bounded_int(value.strip(), _MAX_FORWARDS_MAX) is None:
            raise SipParseError(f"Max-Forwards out of range: {value[:40]!r}", status)
    for name in ("Expires", "Retry-After", "Min-Expires"):
        for value in headers.lines(name):
            digits = re.match(r"\s*([0-9]+)", value)
            # Expires may still be an RFC 2543 date; only numeric values are range-checked.
            if digits and bounded_int(digits.group(1), _UINT32_MAX) is None:
                raise SipParseError(f"{name} out of range", status)


def parse(data: bytes) -> SipMessage:
    """Parse one SIP message (one UDP datagram, or one message cut by `split_stream`).

    The body is cut at Content-Length and extra octets are ignored (RFC 4475 dblreq); without
    Content-Length the body is the rest of the datagram (RFC 3261 §18.3). Raises
    `SipParseError`; when the headers could be read, `error.partial` holds the message as far
    as it was understood, so a UAS can still address its 400 to the sender.
    """
    data = bytes(data)
    start = _skip_blank_lines(data, 0)
    if start >= len(data):
        raise SipParseError("empty message", None)
    bounds = _find_header_end(data, start)
    is_response = data[start : start + 4].upper() == b"SIP/"
    status: int | None = None if is_response else 400
    if bounds is None:
        raise SipParseError("no empty line ends the header section", status)
    head_end, body_start = bounds
    lines = [line.rstrip("\r") for line in _decode(data[start:head_end]).split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    start_line = lines[0]
    if "\x00" in start_line:
        raise SipParseError("NUL octet in the start line", status)
    if any("\r" in line for line in lines):
        # A bare CR would end a line for some peers and not others: never relay one.
        raise SipParseError("bare CR inside the header section", status)
    headers = _header_lines(lines[1:], status)

    message: SipMessage
    problem: str | None = None
    problem_status = status
    if is_response:
        match = _STATUS_LINE.fullmatch(start_line)
        if not match:
            raise SipParseError(f"malformed status line {start_line[:80]!r}", None)
        code_text = match.group(2)
        if len(code_text) != 3 or not 100 <= int(code_text) <= 699:
            raise SipParseError(f"status code out of range: {code_text[:20]}", None)
        message = Response(
            int(code_text), match.group(3) or "", headers, b"", match.group(1).upper()
        )
    else:
        match = _REQUEST_LINE.fullmatch(start_line)
        if match:
            method, uri, version = match.group(1), match.group(2), match.group(3)
            message = Request(method, uri, headers, b"", version.upper())
            problem = _request_line_problem(method, uri)
        else:
            method = start_line.split(" ", 1)[0][:64]
            message = Request(method, "", headers)
            problem = f"malformed request line {start_line[:80]!r}"

    try:
        if problem is not None:
            raise SipParseError(problem, problem_status)
        lengths = headers.lines("Content-Length")
        if len(lengths) > 1:
            raise SipParseError("more than one Content-Length header", status)
        available = len(data) - body_start
        if lengths:
            length = _content_length_value(lengths[0], status)
            if length > available:
                raise SipParseError(
                    f"Content-Length {length} exceeds the {available} octets received", status
                )
            message.body = data[body_start : body_start + length]
        else:
            message.body = data[body_start:]
        _check_scalars(headers, status)
    except SipParseError as error:
        error.partial = message
        raise
    return message


def _request_line_problem(method: str, uri: str) -> str | None:
    """What is wrong with a syntactically split request line, or None."""
    if not is_token(method):
        return f"method is not a token: {method[:40]!r}"
    if not _URI_SCHEME.match(uri) or any(c in uri for c in '<>"'):
        return f"malformed Request-URI {uri[:80]!r}"
    if uri[:4].lower() == "sip:" or uri[:5].lower() == "sips:":
        try:
            parse_uri(uri)
        except SipParseError as error:
            return f"malformed Request-URI: {error}"
    return None


# --------------------------------------------------------------------------- serialising


def _check_line(text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError(f"line break inside a header or start line: {text[:80]!r}")


def serialize(msg: SipMessage) -> bytes:
    """Render a message with CRLF line ends; Content-Length always states the body's length.

    An existing Content-Length header keeps its position; otherwise one is appended. Raises
    `ValueError` if a header or the start line holds a line break (header injection).
    """
    if isinstance(msg, Request):
        start = f"{msg.method} {msg.uri} {msg.version}"
    else:
        start = f"{msg.version} {msg.status:03d} {msg.reason}"
    _check_line(start)
    out = [start]
    length_written = False
    for name, value in msg.headers.items():
        if name == "Content-Length":
            if length_written:
                continue
            value = str(len(msg.body))
            length_written = True
        _check_line(name)
        _check_line(value)
        out.append(f"{name}: {value}" if value else f"{name}:")
    if not length_written:
        out.append(f"Content-Length: {len(msg.body)}")
    return ("\r\n".join(out) + "\r\n\r\n").encode("utf-8", "surrogateescape") + bytes(msg.body)


# --------------------------------------------------------------------------- header values


def parse_cseq(value: str, *, status: int | None = 400) -> tuple[int, str]:
    """Parse a CSeq value into (sequence number, method); the number must be below 2**31."""
    match = re.fullmatch(r"\s*([0-9]+)\s+(\S+)\s*", value)
    if not match or not is_token(match.group(2)):
        raise SipParseError(f"malformed CSeq {value[:60]!r}", status)
    number = bounded_int(match.group(1), _CSEQ_MAX)
    if number is None:
        raise SipParseError("CSeq number out of range", status)
    return number, match.group(2)


@dataclass(frozen=True)
class Via:
    """One Via header value: `SIP/2.0/<transport> <host>[:<port>];params`."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    def param(self, name: str) -> str | None:
        """A parameter's value (case-insensitive name); None when absent or valueless."""
        lowered = name.lower()
        for key, value in self.params.items():
            if key.lower() == lowered:
                return value
        return None

    def has_param(self, name: str) -> bool:
        """Whether the parameter is present (with or without a value), e.g. `rport`."""
        lowered = name.lower()
        return any(key.lower() == lowered for key in self.params)

    @property
    def branch(self) -> str | None:
        """The transaction branch (RFC 3261 §8.1.1.7), if any."""
        return self.param("branch")

    @property
    def sent_by(self) -> str:
        """`host[:port]` as it appears in the header."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **params: str | None) -> Via:
        """A copy with parameters added or replaced (e.g. `received=`, `rport=`)."""
        return Via(
            self.transport, self.host, self.port, merge_params(self.params, params), self.protocol
        )

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"


_VIA = re.compile(
    r"\s*(SIP)\s*/\s*([0-9]+\.[0-9]+)\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)(?:\s*:\s*([0-9]{1,5}))?\s*(.*)",
    re.IGNORECASE | re.DOTALL,
)


def parse_via(value: str) -> Via:
    """Parse one Via value (split comma lists first with `Headers.get_all`)."""
    match = _VIA.fullmatch(value)
    if not match:
        raise SipParseError(f"malformed Via {value[:80]!r}")
    port = int(match.group(5)) if match.group(5) else None
    if port is not None and port > 65535:
        raise SipParseError("Via port out of range")
    rest = match.group(6).strip()
    if rest and not rest.startswith(";"):
        raise SipParseError(f"junk after Via sent-by: {rest[:40]!r}")
    params = parse_params(rest)
    protocol = f"{match.group(1).upper()}/{match.group(2)}"
    return Via(match.group(3).upper(), match.group(4), port, params, protocol)


# --------------------------------------------------------------------------- building


def _with_to_tag(value: str, tag: str) -> str:
    try:
        addr = parse_name_addr(value)
    except SipParseError:
        return value if re.search(r";\s*tag\s*=", value, re.IGNORECASE) else f"{value};tag={tag}"
    return value if addr.tag is not None else f"{value};tag={tag}"


def make_response(
    req: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response to `req` (RFC 3261 §8.2.6): copies every Via, From, To, Call-ID, CSeq.

    `to_tag` is added to To unless it already carries a tag. A 100 also copies Timestamp.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"status code out of range: {status}")
    out = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in req.headers.lines(name):
            out.add(name, _with_to_tag(value, to_tag) if name == "To" and to_tag else value)
    if status == 100:
        for value in req.headers.lines("Timestamp"):
            out.add("Timestamp", value)
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.set("Content-Type", content_type)
    phrase = reason if reason is not None else REASON_PHRASES.get(status)
    if phrase is None:
        phrase = _CLASS_REASONS.get(status // 100, "Global Failure")
    return Response(status, phrase, out, bytes(body))
