"""Legs: one SIP dialog with its RTP stream, inbound (a citizen calling) or outbound (a call we
placed), and the call factory that turns an accepted leg into the call the layers above see.

The endpoint owns dialogs, transactions and the RTP session of each leg; it never builds a call.
When a leg is accepted (inbound: its media negotiated, before the 180; outbound: its 2xx
received) the endpoint hands it to the :data:`CallFactory` it was given, and from then on
talks to what the factory returned only through :class:`LegCall`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ivr.channel import CallInfo, TransferOutcome
from ivr.sip import sdp
from ivr.sip.dialog import Dialog
from ivr.sip.message import Request
from ivr.sip.transaction import ServerKey, ServerTransaction

if TYPE_CHECKING:
    from ivr.media.stream import MediaStream


class Direction(enum.Enum):
    """Who placed the call the leg carries."""

    INBOUND = "inbound"  # the peer called us: we are the UAS
    OUTBOUND = "outbound"  # we called the peer: we are the UAC


class LegCall(Protocol):
    """What the endpoint asks of the call built on a leg (``ivr.call.Call`` fits)."""

    @property
    def ended(self) -> bool: ...

    @property
    def on_hold(self) -> bool: ...

    def answered(self) -> None:
        """The dialog is confirmed and media flows (inbound: the ACK came; outbound: the 2xx)."""

    def digit(self, digit: str, source: str) -> None:
        """A digit arrived: RFC 4733 (``"rfc4733"``), SIP INFO (``"info"``) or in-band."""

    def set_hold(self, on_hold: bool) -> None:
        """The peer put the call on hold or took it off."""

    def end(self, reason: str) -> None:
        """The leg is over (BYE either way, CANCEL, no ACK, media timeout, shutdown)."""


C = TypeVar("C", bound=LegCall)


class LegSignalling(Protocol):
    """The endpoint's side of a leg: what a call may ask of its dialog."""

    def hangup(self, leg: Leg[Any]) -> Awaitable[None]: ...

    def refer(self, leg: Leg[Any], target: str) -> Awaitable[TransferOutcome]: ...


@dataclass
class Leg(Generic[C]):
    """Signalling and media state of one dialog, inbound or outbound.

    ``call`` is what the call factory built; it is None only before the leg was accepted (an
    outbound leg still ringing). ``stream`` is the leg's RTP session, attached right after the
    leg is built (its callbacks point at the leg): the endpoint opens it before answering
    (inbound) or offering (outbound) and applies every SDP answer to it.
    """

    direction: Direction
    dialog: Dialog
    info: CallInfo
    local_sdp: sdp.SessionDescription
    signalling: LegSignalling
    stream: MediaStream = field(init=False)
    remote_media: str = ""  # "host:port" of the peer's RTP, as first negotiated
    invite: Request | None = None  # the peer's initial INVITE (inbound legs)
    tx: ServerTransaction | None = None  # its server transaction (inbound legs)
    delayed_offer: bool = False  # inbound INVITE without SDP: the answer comes in the ACK
    call: C | None = None
    confirmed: bool = False
    terminated: bool = False
    media_stopped: bool = False
    refer_waiters: list[asyncio.Future[TransferOutcome]] = field(default_factory=list)
    reinvite_tx: ServerTransaction | None = None
    reinvite_pending_offer: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """(Call-ID, our tag): how in-dialog requests find the leg."""
        return (self.dialog.call_id, self.dialog.local_tag)

    @property
    def inbound(self) -> bool:
        return self.direction is Direction.INBOUND

    async def hangup(self) -> None:
        """Send BYE (or nothing, if the dialog was never confirmed) and end the call."""
        await self.signalling.hangup(self)

    async def refer(self, target: str) -> TransferOutcome:
        """Transfer the peer to ``target`` with REFER and wait for the final NOTIFY."""
        return await self.signalling.refer(self, target)

    def digit(self, digit: str, source: str) -> None:
        """From the RTP stream: a digit for the call, if there is one yet."""
        if self.call is not None:
            self.call.digit(digit, source)


CallFactory = Callable[[Leg[C]], C]
"""Turns an accepted leg (dialog, negotiated media, stream) into the call the layers above
run. Called once per leg, in the endpoint's event loop; it must not block."""


class LegTable(Generic[C]):
    """The live legs, by dialog key and by the server transaction of their initial INVITE."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Leg[C]] = {}
        self._by_invite: dict[ServerKey, Leg[C]] = {}

    def add(self, leg: Leg[C]) -> None:
        self._by_key[leg.key] = leg
        if leg.tx is not None:
            self._by_invite[leg.tx.key] = leg

    def get(self, call_id: str, local_tag: str) -> Leg[C] | None:
        return self._by_key.get((call_id, local_tag))

    def by_invite(self, key: ServerKey) -> Leg[C] | None:
        """The inbound leg answering the INVITE transaction ``key`` (for CANCEL, timer H/L)."""
        return self._by_invite.get(key)

    def forget(self, leg: Leg[C]) -> None:
        if self._by_key.get(leg.key) is leg:
            del self._by_key[leg.key]
        if leg.tx is not None and self._by_invite.get(leg.tx.key) is leg:
            del self._by_invite[leg.tx.key]

    def values(self) -> list[Leg[C]]:
        return list(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)


__all__ = ["CallFactory", "Direction", "Leg", "LegCall", "LegSignalling", "LegTable"]
