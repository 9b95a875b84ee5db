"""SIP URIs (RFC 3261 §19.1) and name-addr header values (§20.10, §25.1), pure parsing.

The user part of a sip/sips URI is stored unescaped (RFC 4475 esc01: `sips%3Auser%40example.com`
is the user `sips:user@example.com`, not a sips URI) and re-escaped when rendered. Parameters and
headers are kept as written. Schemes other than sip/sips parse as scheme + opaque text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from ivr.sip.headers import SipParseError, is_token

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(.*)", re.DOTALL)
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9\-_.]*)")
_PORT = re.compile(r"[0-9]{1,5}")
_FORBIDDEN_IN_URI = re.compile(r'[\s<>"\x00-\x1f\x7f]')

# Characters a user part / password may hold unescaped (RFC 3261 §25.1 unreserved and
# user-unreserved / password characters); everything else is %-escaped when rendering.
_USER_SAFE = "-_.!~*'()&=+$,;?/"
_PASSWORD_SAFE = "-_.!~*'()&=+$,"


def _unescape(text: str) -> str:
    return unquote(text, encoding="utf-8", errors="surrogateescape")


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")


def parse_params(text: str) -> dict[str, str | None]:
    """Parse `;name=value;flag...` (leading `;` required unless empty), LWS-tolerant.

    Quoted values are kept with their quotes. Empty parameters (`;;`) and non-token names are
    errors (RFC 4475 badinv01).
    """
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"parameters must start with ';': {text[:40]!r}")
    for piece in _split_outside_quotes(text[1:], ";"):
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not is_token(name):
            raise SipParseError(f"malformed parameter {piece.strip()[:40]!r}")
        if sep:
            value = value.strip()
            if not value or (value.startswith('"') and not _is_quoted_string(value)):
                raise SipParseError(f"malformed value of parameter {name!r}")
            params[name] = value
        else:
            params[name] = None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Render parameters as `;name=value;flag`."""
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def merge_params(
    params: dict[str, str | None], updates: dict[str, str | None]
) -> dict[str, str | None]:
    """A copy of `params` with `updates` applied: existing names (any case) keep their place."""
    merged = dict(params)
    for name, value in updates.items():
        existing = next((key for key in merged if key.lower() == name.lower()), name)
        merged[existing] = value
    return merged


def _param(params: dict[str, str | None], name: str) -> str | None:
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for char in text:
        if in_quotes:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == sep:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if in_quotes:
        raise SipParseError("unterminated quoted string")
    parts.append("".join(current))
    return parts


def _quoted_end(text: str, start: int) -> int:
    """Index just past the quoted string opening at `start`; SipParseError if unterminated."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i + 1
        i += 1
    raise SipParseError("unterminated quoted string")


def _is_quoted_string(text: str) -> bool:
    try:
        return _quoted_end(text, 0) == len(text)
    except SipParseError:
        return False


def _unquote_display(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


@dataclass(frozen=True)
class SipUri:
    """A parsed URI. For sip/sips all fields are filled; other schemes only keep `opaque`."""

    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    @property
    def is_sip(self) -> bool:
        """Whether this is a sip: or sips: URI."""
        return self.scheme in ("sip", "sips")

    def param(self, name: str) -> str | None:
        """A URI parameter's value (case-insensitive name); None if absent or valueless."""
        return _param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether the URI parameter is present, e.g. `lr`."""
        return any(key.lower() == name.lower() for key in self.params)

    @property
    def host_port(self) -> str:
        """`host[:port]`."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if not self.is_sip:
            return f"{self.scheme}:{self.opaque or ''}"
        userinfo = ""
        if self.user is not None:
            userinfo = _escape(self.user, _USER_SAFE)
            if self.password is not None:
                userinfo += ":" + _escape(self.password, _PASSWORD_SAFE)
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{self.host_port}{format_params(self.params)}"
        if self.headers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.headers.items())
        return text


def parse_uri(text: str) -> SipUri:
    """Parse a URI: sip/sips in full, any other scheme as scheme + opaque text."""
    stripped = text.strip()
    match = _SCHEME.fullmatch(stripped)
    if not match:
        raise SipParseError(f"not a URI: {stripped[:60]!r}")
    scheme, rest = match.group(1).lower(), match.group(2)
    if not rest or _FORBIDDEN_IN_URI.search(rest):
        raise SipParseError(f"malformed URI {stripped[:60]!r}")
    if scheme not in ("sip", "sips"):
        return SipUri(scheme, opaque=rest)

    user = password = None
    # '@' may appear unescaped only as the userinfo delimiter (RFC 3261 §25.1), while '?' and
    # ';' are legal inside the user part (RFC 4475 intmeth, semiuri): cut at '@' first.
    userinfo, at, hostpart = rest.partition("@")
    if not at:
        hostpart = rest
    else:
        if not userinfo:
            raise SipParseError("empty user part before '@'")
        raw_user, colon, raw_password = userinfo.partition(":")
        user = _unescape(raw_user)
        password = _unescape(raw_password) if colon else None

    headers: dict[str, str] = {}
    hostpart, question, header_text = hostpart.partition("?")
    if question:
        for pair in header_text.split("&"):
            name, eq, value = pair.partition("=")
            if not name or not eq:
                raise SipParseError(f"malformed URI header {pair[:40]!r}")
            headers[name] = value
    hostport, _, param_text = hostpart.partition(";")
    params = parse_params(";" + param_text) if ";" in hostpart else {}

    if hostport.startswith("["):
        close = hostport.find("]")
        host, port_text = hostport[: close + 1], hostport[close + 1 :]
        if close < 0 or (port_text and not port_text.startswith(":")):
            raise SipParseError(f"malformed IPv6 reference {hostport[:60]!r}")
        port_text = port_text[1:] if port_text else ""
        has_port = bool(hostport[close + 1 :])
    else:
        host, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
    if not _HOST.fullmatch(host):
        raise SipParseError(f"malformed host {host[:60]!r}")
    port = None
    if has_port:
        if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
            raise SipParseError(f"malformed port {port_text[:20]!r}")
        port = int(port_text)
    return SipUri(scheme, user, password, host, port, params, headers)


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact/Route-style value: optional display name, a URI, header parameters."""

    display: str | None
    uri: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The dialog tag parameter, if any."""
        return _param(self.params, "tag")

    def param(self, name: str) -> str | None:
        """A header parameter's value (case-insensitive name)."""
        return _param(self.params, name)

    def with_params(self, **params: str | None) -> NameAddr:
        """A copy with parameters added or replaced (e.g. `tag=`)."""
        return NameAddr(self.display, self.uri, merge_params(self.params, params))

    def __str__(self) -> str:
        display = ""
        if self.display is not None:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse `"Display" <uri>;params`, `Display <uri>;params` or a bare `uri;params`.

    Without angle brackets the URI ends at the first ';' (those parameters belong to the
    header, RFC 3261 §20). Unbalanced quotes and brackets raise `SipParseError`.
    """
    text = value.strip()
    if not text:
        raise SipParseError("empty address")
    display: str | None = None
    rest = text
    if text.startswith('"'):
        end = _quoted_end(text, 0)
        display = _unquote_display(text[1 : end - 1])
        rest = text[end:].lstrip()
        if not rest.startswith("<"):
            raise SipParseError("quoted display name not followed by <uri>")
    if "<" in rest:
        lt = rest.index("<")
        if display is None:
            display = rest[:lt].strip() or None
        gt = rest.find(">", lt)
        if gt < 0:
            raise SipParseError("unterminated <uri>")
        uri = rest[lt + 1 : gt].strip()  # liberal: "< sip:a@b >" (RFC 4475 badaspec)
        param_text = rest[gt + 1 :]
    else:
        uri, semi, param_text = rest.partition(";")
        uri = uri.strip()
        param_text = semi + param_text
    if not _SCHEME.fullmatch(uri) or _FORBIDDEN_IN_URI.search(uri):
        raise SipParseError(f"malformed address URI {uri[:60]!r}")
    return NameAddr(display, uri, parse_params(param_text))
