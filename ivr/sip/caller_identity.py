"""Which caller number may be believed: only one asserted by a trusted proxy or trunk.

Anyone can write any number in a From header. A number counts as the caller's identity only when
it arrives in P-Asserted-Identity (RFC 3325), or the older Remote-Party-ID, on a request whose
source address is one of the configured trusted proxies or trunks (``sip.trusted_proxies``:
addresses or networks). Anything else is a claim, shown to officers as such but never used to
skip the personal-details check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from functools import lru_cache

from ivr.sip.headers import SipParseError
from ivr.sip.uri import parse_name_addr, parse_uri

IDENTITY_HEADERS = ("P-Asserted-Identity", "Remote-Party-ID")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def trusted_networks(sources: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted addresses as networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(source.strip(), strict=False) for source in sources)


def is_trusted(host: str, sources: Iterable[str]) -> bool:
    """Whether a message from ``host`` comes from a configured trusted proxy or trunk."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address in network for network in trusted_networks(tuple(sources)))


def _number_of(value: str) -> str | None:
    """The user part (the number) of one identity header value, or None."""
    first = value.split(",", 1)[0]  # PAI may carry a sip: and a tel: identity; the first wins
    try:
        uri = parse_name_addr(first).uri
    except SipParseError:
        return None
    if uri.lower().startswith("tel:"):
        number = uri[4:].split(";", 1)[0]
        return number or None
    try:
        return parse_uri(uri).user or None
    except SipParseError:
        return None


def asserted_caller(
    get_header: Callable[[str], str | None], source_host: str, sources: Iterable[str]
) -> str | None:
    """The caller's number asserted by a trusted source, or None (then nothing is asserted)."""
    if not is_trusted(source_host, sources):
        return None
    for name in IDENTITY_HEADERS:
        value = get_header(name)
        if value:
            return _number_of(value)
    return None
