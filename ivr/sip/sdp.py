"""SDP (RFC 4566) parse/serialise and RFC 3264 offer/answer for one audio stream. Pure code.

tongdai answers with exactly one audio codec (the caller's first choice among ours, PCMA/PCMU)
plus telephone-event when offered, so the media engine never has to follow codec switches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DIRECTIONS",
    "SDP_TYPE",
    "STATIC_PAYLOAD_TYPES",
    "Codec",
    "Connection",
    "Media",
    "NoCommonCodec",
    "Origin",
    "SdpError",
    "SessionDescription",
    "answer_direction",
    "audio_media",
    "connection_address",
    "direction_of",
    "is_hold",
    "multipart_parts",
    "parse",
    "sdp_body",
    "serialize",
]


class SdpError(ValueError):
    """A session description that cannot be read or used (answer 488 or 400)."""


class NoCommonCodec(SdpError):
    """The offer holds no audio codec we can use (answer 488 Not Acceptable Here)."""


DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")  # plain RTP only: no SRTP keys are ever exchanged
TELEPHONE_EVENT = "telephone-event"
DEFAULT_EVENT_PT = 101
_HOLD_ADDRESSES = ("0.0.0.0", "::", "0:0:0:0:0:0:0:0")
_MAX_SDP_BYTES = 65_536


@dataclass(frozen=True)
class Codec:
    """An RTP payload format: `a=rtpmap:<payload_type> <name>/<clock_rate>[/<channels>]`."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int = 1


STATIC_PAYLOAD_TYPES: dict[int, Codec] = {
    0: Codec(0, "PCMU", 8000),
    3: Codec(3, "GSM", 8000),
    4: Codec(4, "G723", 8000),
    8: Codec(8, "PCMA", 8000),
    9: Codec(9, "G722", 8000),
    18: Codec(18, "G729", 8000),
}
"""RFC 3551 static payload types that may appear without an rtpmap line."""


@dataclass(frozen=True)
class Origin:
    """The `o=` line."""

    username: str
    session_id: str
    session_version: int
    network: str = "IN"
    address_type: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.network} {self.address_type} {self.address}"
        )


@dataclass(frozen=True)
class Connection:
    """A `c=` line; `address` excludes any multicast `/ttl` suffix, kept in `suffix`."""

    address: str
    network: str = "IN"
    address_type: str = "IP4"
    suffix: str = ""

    @property
    def is_hold(self) -> bool:
        """RFC 2543 hold: the connection address 0.0.0.0 (RFC 3264 §8.4)."""
        return self.address in _HOLD_ADDRESSES

    def __str__(self) -> str:
        return f"{self.network} {self.address_type} {self.address}{self.suffix}"


@dataclass
class Media:
    """One `m=` section with its own lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)  # i=, k= lines, kept in order

    def attribute(self, name: str) -> str | None:
        """The first value of `a=name:value` (None if absent or a flag)."""
        return next((v for k, v in self.attributes if k == name), None)

    def has_attribute(self, name: str) -> bool:
        """Whether `a=name` or `a=name:...` is present."""
        return any(k == name for k, _ in self.attributes)

    def rtpmaps(self) -> dict[int, Codec]:
        """Payload formats declared by rtpmap lines, by payload type.

        A malformed rtpmap (RFC 4475's `a=rtpmap:31 LPC` has no clock rate) is skipped rather
        than failing the whole description: the format is then simply unknown.
        """
        found: dict[int, Codec] = {}
        for name, value in self.attributes:
            if name == "rtpmap" and value is not None:
                codec = _parse_rtpmap(value)
                if codec is not None:
                    found[codec.payload_type] = codec
        return found

    def codecs(self) -> list[Codec]:
        """The offered formats in preference order, resolved through rtpmap or the static
        table; unknown formats are skipped."""
        maps = self.rtpmaps()
        out: list[Codec] = []
        for fmt in self.formats:
            if not _is_digits(fmt, 3):
                continue
            pt = int(fmt)
            codec = maps.get(pt) or STATIC_PAYLOAD_TYPES.get(pt)
            if codec is not None:
                out.append(codec)
        return out

    def fmtp(self, payload_type: int) -> str | None:
        """The format parameters of a payload type (`a=fmtp:<pt> <params>`)."""
        for name, value in self.attributes:
            if name == "fmtp" and value is not None:
                pt, _, params = value.partition(" ")
                if pt == str(payload_type):
                    return params.strip()
        return None

    @property
    def ptime(self) -> int | None:
        """Packet time in ms, if stated."""
        value = self.attribute("ptime")
        if value is None:
            return None
        try:
            return int(float(value))
        except ValueError:
            return None

    @property
    def direction(self) -> str | None:
        """The direction attribute of this section, if any."""
        return next((k for k, _ in self.attributes if k in DIRECTIONS), None)


@dataclass
class SessionDescription:
    """A whole SDP body. Unknown line types are kept so re-serialising loses nothing."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=lambda: ["0 0"])
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)  # i u e p r z k lines
    version: int = 0

    def attribute(self, name: str) -> str | None:
        """The first value of a session-level `a=name:value`."""
        return next((v for k, v in self.attributes if k == name), None)

    @property
    def direction(self) -> str | None:
        """The session-level direction attribute, if any."""
        return next((k for k, _ in self.attributes if k in DIRECTIONS), None)


# --------------------------------------------------------------------------- parsing

_ASCII_DIGITS = re.compile(r"[0-9]+")


def _is_digits(text: str, max_len: int) -> bool:
    """ASCII digits only (str.isdigit also accepts '²'), and short enough to convert cheaply."""
    return len(text) <= max_len and _ASCII_DIGITS.fullmatch(text) is not None


_RTPMAP = re.compile(r"([0-9]{1,3})\s+([^/\s]+)/([0-9]{1,6})(?:/([0-9]{1,2}))?\s*")


def _parse_rtpmap(value: str) -> Codec | None:
    match = _RTPMAP.fullmatch(value)
    if not match or int(match.group(1)) > 127:
        return None
    channels = int(match.group(4)) if match.group(4) else 1
    return Codec(int(match.group(1)), match.group(2), int(match.group(3)), channels)


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"malformed c= line {value[:60]!r}")
    address, slash, suffix = parts[2].partition("/")
    if not address:
        raise SdpError("empty connection address")
    return Connection(address, parts[0], parts[1], slash + suffix)


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6 or not _is_digits(parts[2], 20):
        raise SdpError(f"malformed o= line {value[:60]!r}")
    return Origin(parts[0], parts[1], int(parts[2]), parts[3], parts[4], parts[5])


def _parse_media(value: str) -> Media:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"malformed m= line {value[:60]!r}")
    port_text, slash, count_text = parts[1].partition("/")
    if not _is_digits(port_text, 5) or int(port_text) > 65535:
        raise SdpError(f"malformed media port {parts[1][:20]!r}")
    if slash and not _is_digits(count_text, 5):
        raise SdpError(f"malformed port count {parts[1][:20]!r}")
    return Media(
        parts[0],
        int(port_text),
        parts[2],
        parts[3:],
        int(count_text) if slash else None,
    )


def _parse_attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    if not name:
        raise SdpError(f"malformed attribute {value[:60]!r}")
    return name, rest if colon else None


def parse(data: bytes) -> SessionDescription:
    """Parse an SDP body. Line ends may be CRLF or LF. Raises `SdpError` for garbage."""
    if len(data) > _MAX_SDP_BYTES:
        raise SdpError("session description too large")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        text = bytes(data).decode("latin-1")
    # Blank lines are not SDP, but some peers add them; skipping them costs nothing.
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("session description does not start with v=")
    if lines[0][2:].strip() != "0":
        raise SdpError(f"unsupported SDP version {lines[0][2:40]!r}")

    origin: Origin | None = None
    session_name = "-"
    connection: Connection | None = None
    bandwidths: list[str] = []
    times: list[str] = []
    attributes: list[tuple[str, str | None]] = []
    extra: list[tuple[str, str]] = []
    media: list[Media] = []
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"malformed SDP line {line[:60]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            media.append(_parse_media(value))
        elif media:
            current = media[-1]
            if kind == "c":
                current.connection = _parse_connection(value)
            elif kind == "b":
                current.bandwidths.append(value)
            elif kind == "a":
                current.attributes.append(_parse_attribute(value))
            else:
                current.extra.append((kind, value))
        elif kind == "o":
            origin = _parse_origin(value)
        elif kind == "s":
            session_name = value
        elif kind == "c":
            connection = _parse_connection(value)
        elif kind == "b":
            bandwidths.append(value)
        elif kind == "t":
            times.append(value)
        elif kind == "a":
            attributes.append(_parse_attribute(value))
        else:
            extra.append((kind, value))
    if origin is None:
        raise SdpError("session description has no o= line")
    return SessionDescription(
        origin, session_name, connection, bandwidths, times or ["0 0"], attributes, media, extra
    )


# --------------------------------------------------------------------------- message bodies

SDP_TYPE = "application/sdp"
_BOUNDARY = re.compile(r';\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s"]{1,70}))', re.IGNORECASE)
_MAX_PARTS = 16


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def multipart_parts(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """The (media type, content) parts of a multipart body (RFC 2046 §5.1), by length-exact
    slicing so binary parts stay intact (RFC 4475 mpart01). Raises `SdpError` when the body
    is not a well-formed multipart of this boundary.
    """
    match = _BOUNDARY.search(content_type)
    if not _media_type(content_type).startswith("multipart/") or not match:
        raise SdpError("not a multipart body with a boundary")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1")
    parts: list[tuple[str, bytes]] = []
    pos = body.find(delimiter)
    if pos < 0:
        raise SdpError("multipart boundary not found")
    while len(parts) <= _MAX_PARTS:
        pos += len(delimiter)
        if body.startswith(b"--", pos):
            return parts  # close delimiter
        line_end = body.find(b"\n", pos)
        if line_end < 0:
            break
        nxt = body.find(b"\n" + delimiter, line_end)
        if nxt < 0:
            break
        # The CRLF before a delimiter belongs to the delimiter, not to the part.
        end = nxt - 1 if nxt > 0 and body[nxt - 1] == 0x0D else nxt
        part = body[line_end + 1 : end]
        if part.startswith((b"\r\n", b"\n")):  # no part headers at all
            head, content = b"", part[part.index(b"\n") + 1 :]
        else:
            split = re.search(rb"\r?\n\r?\n", part)
            if split is None:
                raise SdpError("multipart part without an empty line after its headers")
            head, content = part[: split.start()], part[split.end() :]
        part_type = "text/plain"  # RFC 2046 default
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                part_type = _media_type(value)
        parts.append((part_type, content))
        pos = nxt + 1
    raise SdpError("malformed or oversized multipart body")


def sdp_body(content_type: str | None, body: bytes) -> bytes | None:
    """The SDP inside a message body: the body itself for application/sdp (also when the
    type is missing), the first application/sdp part of a multipart body (SIP-I gateways
    send SDP next to ISUP), else None."""
    if not body:
        return None
    kind = _media_type(content_type or SDP_TYPE)
    if kind == SDP_TYPE:
        return body
    if kind.startswith("multipart/"):
        try:
            parts = multipart_parts(content_type or "", body)
        except SdpError:
            return None
        return next((content for part_type, content in parts if part_type == SDP_TYPE), None)
    return None


# --------------------------------------------------------------------------- serialising


def _attribute_line(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


def serialize(desc: SessionDescription) -> bytes:
    """Render SDP with CRLF line ends in RFC 4566 order."""
    out = [f"v={desc.version}", f"o={desc.origin}", f"s={desc.session_name}"]
    out += [f"{k}={v}" for k, v in desc.extra if k in "iuep"]
    if desc.connection is not None:
        out.append(f"c={desc.connection}")
    out += [f"b={b}" for b in desc.bandwidths]
    out += [f"t={t}" for t in desc.times]
    out += [f"{k}={v}" for k, v in desc.extra if k not in "iuep"]
    out += [_attribute_line(k, v) for k, v in desc.attributes]
    for m in desc.media:
        port = f"{m.port}/{m.port_count}" if m.port_count is not None else str(m.port)
        out.append(" ".join(["m=" + m.media, port, m.proto, *m.formats]))
        out += [f"{k}={v}" for k, v in m.extra if k == "i"]
        if m.connection is not None:
            out.append(f"c={m.connection}")
        out += [f"b={b}" for b in m.bandwidths]
        out += [f"{k}={v}" for k, v in m.extra if k != "i"]
        out += [_attribute_line(k, v) for k, v in m.attributes]
    for line in out:
        if "\r" in line or "\n" in line:
            raise ValueError(f"line break inside an SDP line: {line[:60]!r}")
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


# --------------------------------------------------------------------------- inspection


def audio_media(desc: SessionDescription) -> Media | None:
    """The first audio section with a non-zero port, if any."""
    return next((m for m in desc.media if m.media == "audio" and m.port != 0), None)


def direction_of(desc: SessionDescription, media: Media | None = None) -> str:
    """Effective direction of a section (its own attribute, else the session's, else
    sendrecv)."""
    section = media if media is not None else audio_media(desc)
    if section is not None and section.direction is not None:
        return section.direction
    return desc.direction or "sendrecv"


def connection_of(desc: SessionDescription, media: Media | None) -> Connection | None:
    """The connection line that applies to ``media`` (its own, else the session's)."""
    if media is not None and media.connection is not None:
        return media.connection
    return desc.connection


def connection_address(desc: SessionDescription) -> str | None:
    """The connection address of the first audio section (or of the session)."""
    conn = connection_of(desc, audio_media(desc))
    return conn.address if conn is not None else None


def is_hold(desc: SessionDescription) -> bool:
    """Whether the description puts the audio on hold: sendonly/inactive, or the RFC 2543
    style connection address 0.0.0.0."""
    media = audio_media(desc)
    if media is None:
        return False
    conn = connection_of(desc, media)
    return direction_of(desc, media) in ("sendonly", "inactive") or (
        conn is not None and conn.is_hold
    )


def answer_direction(offered: str) -> str:
    """Our direction answering an offered one (RFC 3264 §6.1)."""
    return _ANSWER_DIRECTION.get(offered, "sendrecv")


def remote_of(desc: SessionDescription, media: Media) -> tuple[str, int] | None:
    """Where the peer receives RTP for ``media``; None on hold or without an address."""
    conn = connection_of(desc, media)
    if conn is None or conn.is_hold or media.port == 0:
        return None
    return conn.address, media.port
