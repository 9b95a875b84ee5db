"""The trunk's Request-URI for a stored callback number (pure).

Only a number stored with the callback is ever dialled, and only when it looks like a phone
number: digits, an optional leading ``+``, 3 to 15 digits. Anything else is refused rather
than passed to the trunk.
"""

from __future__ import annotations

import re

from ivr.settings import TrunkSettings
from ivr.sip.uri import format_params, parse_uri

_NUMBER = re.compile(r"^\+?[0-9]{3,15}$")


class NotDiallable(ValueError):
    """The stored number is not a phone number tongdai will dial."""


def dialled_number(number: str, trunk: TrunkSettings) -> str:
    """The digits sent to the trunk for `number` (spaces, dots and dashes dropped)."""
    compact = re.sub(r"[\s.\-()]", "", number)
    if not _NUMBER.match(compact):
        raise NotDiallable("not a phone number")
    if trunk.number_format == "e164":
        if compact.startswith("+"):
            pass
        elif compact.startswith("00"):
            compact = "+" + compact[2:]
        elif compact.startswith("0"):
            compact = f"+{trunk.country_code}{compact[1:]}"
        else:
            compact = f"+{trunk.country_code}{compact}"
    elif compact.startswith("+" + trunk.country_code):
        compact = "0" + compact[1 + len(trunk.country_code) :]
    return trunk.prefix + compact


def trunk_target(number: str, trunk: TrunkSettings) -> str:
    """``sip:<number>@<trunk host:port>`` with the trunk URI's parameters."""
    uri = parse_uri(trunk.uri)
    host = uri.host if uri.port is None else f"{uri.host}:{uri.port}"
    return f"sip:{dialled_number(number, trunk)}@{host}{format_params(uri.params)}"


__all__ = ["NotDiallable", "dialled_number", "trunk_target"]
