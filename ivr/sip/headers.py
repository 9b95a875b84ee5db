"""SIP header fields (RFC 3261 §7.3, §20): names, comma lists, and the ordered header list.

Also home of `SipParseError`, the one typed error of the wire layer, because every other wire
module (URIs, messages, SDP's SIP side) builds on this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.sip.message import SipMessage


class SipParseError(ValueError):
    """Malformed SIP input.

    `status` is the response a UAS should send (400, 505, ...) or None when the message must be
    dropped without an answer (any broken response, or input that is not SIP at all).
    `partial` is the message as far as it was understood, when the headers could be read, so
    the 400 can still carry Via, From, To, Call-ID and CSeq.
    """

    def __init__(
        self, message: str, status: int | None = 400, *, partial: SipMessage | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.partial = partial


_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def is_token(text: str) -> bool:
    """Whether `text` is a non-empty RFC 3261 token."""
    return _TOKEN.fullmatch(text) is not None


COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
"""Single-letter compact header names (RFC 3261 §7.3.3 and later extensions)."""

_CANONICAL_NAMES = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-ID",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-Sub",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Service-Route",
    "Session-Expires",
    "Subject",
    "Subscription-State",
    "Supported",
    "Target-Dialog",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
]
_CANONICAL = {name.lower(): name for name in _CANONICAL_NAMES}

LIST_HEADERS = frozenset(
    name.lower()
    for name in [
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Require",
        "Route",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    ]
)
"""Headers whose values are comma-separated lists (RFC 3261 §7.3.1). Authorization and the
challenges are not: their parameters contain commas of their own."""


@lru_cache(maxsize=512)
def canonical_name(name: str) -> str:
    """The long, conventionally capitalised form of a header name (`v`, `VIA` -> `Via`).

    Unknown names keep the spelling they were given.
    """
    stripped = name.strip()
    lowered = stripped.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    return _CANONICAL.get(lowered, stripped)


_LIST_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|<[^>]*>?|[^,"<]+|,', re.DOTALL)


def split_list(value: str) -> list[str]:
    """Split a comma list at commas outside quoted strings and `<...>`; empty items dropped.

    An unterminated quote or bracket swallows the rest of the value (never an error here; the
    element parsers reject it).
    """
    if '"' not in value and "<" not in value:
        return [item.strip() for item in value.split(",") if item.strip()]
    items: list[str] = []
    start = 0
    for match in _LIST_TOKEN.finditer(value):
        if match.group() == ",":
            items.append(value[start : match.start()].strip())
            start = match.end()
    items.append(value[start:].strip())
    return [item for item in items if item]


@lru_cache(maxsize=512)
def _key(name: str) -> str:
    return canonical_name(name).lower()


class Headers:
    """An ordered, multi-valued, case-insensitive list of header fields.

    Each entry is one header line as received (compact names normalised to long names, values
    with folding undone and outer whitespace stripped), so serialising keeps the order.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]
        # Lookup key -> values, built on first read and dropped on every change: a message is
        # read many times (policy, transactions, dialogs) and changed rarely.
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for name, value in self._items:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return self._index

    def lines(self, name: str) -> list[str]:
        """The values of every line of this header, without splitting comma lists."""
        return list(self._lookup().get(_key(name), ()))

    def get_all(self, name: str) -> list[str]:
        """All values of a header; comma lists are split for headers that allow them."""
        key = _key(name)
        values = self._lookup().get(key, [])
        if key not in LIST_HEADERS:
            return list(values)
        return [item for value in values for item in split_list(value)]

    def get(self, name: str) -> str | None:
        """The first value (for list headers: the first list element), or None."""
        key = _key(name)
        values = self._lookup().get(key)
        if not values:
            return None
        if key not in LIST_HEADERS:
            return values[0]
        for value in values:
            items = split_list(value)
            if items:
                return items[0]
        return None

    def set(self, name: str, value: str) -> None:
        """Replace every line of `name` by one line, at the position of the first."""
        canonical = canonical_name(name)
        key = canonical.lower()
        out: list[tuple[str, str]] = []
        placed = False
        for item in self._items:
            if item[0].lower() == key:
                if not placed:
                    out.append((canonical, value))
                    placed = True
            else:
                out.append(item)
        if not placed:
            out.append((canonical, value))
        self._items = out
        self._index = None

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Append a line; with `first`, insert it before the existing lines of that name
        (or at the very top when there are none), as a proxy prepends Via."""
        canonical = canonical_name(name)
        self._index = None
        if not first:
            self._items.append((canonical, value))
            return
        key = canonical.lower()
        index = next((i for i, (n, _) in enumerate(self._items) if n.lower() == key), 0)
        self._items.insert(index, (canonical, value))

    def remove(self, name: str) -> None:
        """Remove every line of `name` (no error when absent)."""
        key = _key(name)
        self._items = [item for item in self._items if item[0].lower() != key]
        self._index = None

    def items(self) -> list[tuple[str, str]]:
        """All (name, value) lines in order."""
        return list(self._items)

    def copy(self) -> Headers:
        """An independent copy."""
        return Headers(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._lookup()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
