"""Registrations as data: officers' credentials and their devices' contacts, behind Protocols.

The registrar (:mod:`ivr.sip.registrar`) reads and writes through these Protocols; the database
implementation lives in :mod:`ivr.registrar_db` (every worker process and the web app see the same
rows), :class:`MemoryBindings` is the in-process fake for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Credentials:
    """What a digest response is checked against: the realm and the stored HA1 per algorithm
    (``"MD5"``, ``"SHA-256"``); an algorithm without an HA1 cannot authenticate."""

    username: str
    realm: str
    ha1: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Binding:
    """One registered contact of an officer's device. Times are Unix seconds."""

    username: str
    contact: str  # the Contact URI, e.g. sip:1001@192.0.2.7:5062;transport=udp
    source: str  # where the REGISTER came from, "udp:192.0.2.7:5062" (the NAT-facing address)
    call_id: str
    cseq: int
    registered_at: float
    expires_at: float
    user_agent: str = ""

    def remaining_s(self, now: float) -> int:
        """Whole seconds left before the binding expires (0 when it has)."""
        return max(0, int(self.expires_at - now))


@dataclass(frozen=True)
class BindingChange:
    """One REGISTER's effect on an officer's bindings, applied atomically by the store."""

    username: str
    upsert: Sequence[Binding] = ()
    remove: Sequence[str] = ()  # contacts registered with expires 0
    remove_all: bool = False  # Contact: * with Expires: 0
    max_devices: int = 5  # beyond: the contacts refreshed longest ago are dropped


class CredentialSource(Protocol):
    """The officer directory as the registrar sees it."""

    async def credentials(self, username: str) -> Credentials | None:
        """The active officer's digest secrets, or None for an unknown or inactive user name."""
        ...


class BindingStore(Protocol):
    """Where registrations live (shared by every worker process)."""

    async def bindings(self, username: str, *, now: float) -> list[Binding]:
        """The officer's unexpired bindings, the first to expire first."""
        ...

    async def apply(self, change: BindingChange, *, now: float) -> list[Binding]:
        """Apply `change` (dropping expired bindings on the way) and return what remains."""
        ...


class MemoryBindings:
    """Credentials and bindings in a dict: the fake for registrar tests."""

    def __init__(self, credentials: Sequence[Credentials] = ()) -> None:
        self.users = {c.username: c for c in credentials}
        self.rows: dict[str, dict[str, Binding]] = {}
        self.lookups = 0

    async def credentials(self, username: str) -> Credentials | None:
        """The credentials registered for `username` in this fake."""
        self.lookups += 1
        return self.users.get(username)

    async def bindings(self, username: str, *, now: float) -> list[Binding]:
        """Unexpired bindings of `username`, oldest first."""
        rows = self.rows.get(username, {})
        return sorted((b for b in rows.values() if b.expires_at > now), key=expiry_order)

    async def apply(self, change: BindingChange, *, now: float) -> list[Binding]:
        """Apply one REGISTER's change."""
        rows = self.rows.setdefault(change.username, {})
        for contact, binding in list(rows.items()):
            if binding.expires_at <= now or change.remove_all or contact in change.remove:
                del rows[contact]
        for binding in change.upsert:
            rows[binding.contact] = binding
        excess = len(rows) - change.max_devices
        for binding in sorted(rows.values(), key=expiry_order)[: max(0, excess)]:
            del rows[binding.contact]
        return await self.bindings(change.username, now=now)


def expiry_order(binding: Binding) -> tuple[float, str]:
    """Sort key: the binding that expires first (least recently refreshed) comes first."""
    return (binding.expires_at, binding.contact)
