"""The endpoint's UAC half: placing a call (an officer's phone, a callback to a citizen).

:meth:`OutboundCalls.dial` opens an RTP stream, sends an INVITE with our SDP offer to the
target's host (no DNS SRV: the URI's host and port, UDP unless ``;transport=tcp``), answers one
digest challenge (401/407) when given credentials, follows provisional answers, and on a 2xx
sends the ACK, applies the SDP answer and hands the confirmed leg to the endpoint's call factory
(the same one inbound legs go through). Any other final answer, the timeout, or a cancel ends
the attempt with a typed :class:`DialError`; on timeout and cancel a CANCEL is sent (after the
first provisional answer, as RFC 3261 §9.1 asks), and a 2xx that still arrives is acknowledged
and hung up at once. From then on the leg is like any other: BYE either way, REFER, re-INVITE.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

from ivr.channel import CallInfo
from ivr.sip import sdp
from ivr.sip.auth import AuthError, DigestClient
from ivr.sip.dialog import Dialog, Peer, new_tag
from ivr.sip.invite_client import InviteClientTransaction
from ivr.sip.leg_media import NoMediaPort
from ivr.sip.legs import C, Direction, Leg
from ivr.sip.message import Headers, Request, Response, SipParseError, parse_name_addr, serialize
from ivr.sip.replies import bracket_host, user_of
from ivr.sip.uas import ALLOW
from ivr.sip.uri import SipUri, parse_uri

if TYPE_CHECKING:
    from ivr.sip.endpoint import Endpoint

log = logging.getLogger(__name__)

ProgressFn = Callable[[Response], None]


class DialError(Exception):
    """A call we placed was not answered."""


class DialFailed(DialError):
    """The callee (or a proxy) refused with a final status, or the call could not be placed
    (``status`` 408 when nothing answered, 488 when the SDP answer was unusable, 503 when no
    RTP port was free)."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason


class DialCancelled(DialError):
    """The attempt was cancelled (the ``cancel`` event was set, or the endpoint stopped)."""


class DialTimeout(DialError):
    """No final answer within the dial timeout: the INVITE was cancelled."""


@dataclass(eq=False)  # kept in a set: hashed by identity
class _Attempt(Generic[C]):
    """One ringing INVITE: its transaction and what became of it."""

    leg: Leg[C]
    peer: Peer
    answered: asyncio.Future[None]
    tx: InviteClientTransaction | None = None
    final: Response | None = None  # the last 3xx-6xx (a challenge is answered from it)
    cancel_pending: bool = False  # CANCEL asked before any provisional answer
    abandoned: bool = False  # we gave up: a late 2xx is acknowledged and hung up
    ack: bytes | None = None  # our ACK of the 2xx, sent again for each retransmitted 2xx
    forks: dict[str, bytes] = field(default_factory=dict)  # ACKs of other callees' 2xx, by tag
    on_progress: ProgressFn | None = None
    seen: set[int] = field(default_factory=set)


class OutboundCalls(Generic[C]):
    """Places INVITEs for one endpoint."""

    def __init__(self, endpoint: Endpoint[C]) -> None:
        self.ep = endpoint
        self._ringing: set[_Attempt[C]] = set()

    async def dial(
        self,
        target_uri: str,
        *,
        from_uri: str,
        auth: DigestClient | None = None,
        timeout_s: float,
        cancel: asyncio.Event | None = None,
        on_progress: ProgressFn | None = None,
    ) -> Leg[C]:
        """INVITE ``target_uri`` as ``from_uri``; return the answered, confirmed leg (its
        ``call`` built by the call factory).

        Raises :class:`DialFailed` (final status 3xx-6xx, no response: 408, unusable SDP
        answer: 488, no RTP port or an unresolvable host: 503), :class:`DialTimeout` (no
        final answer within ``timeout_s``), :class:`DialCancelled` (``cancel`` set, or the
        endpoint stopped); ``ValueError`` for a target that is not a SIP URI. Cancelling the
        awaiting task sends a CANCEL too and raises ``CancelledError`` as usual.
        ``on_progress`` sees each provisional answer (180 ringing, 183 session progress).
        """
        target = _sip_uri(target_uri)
        peer = await _next_hop(target)
        local_ip = self.ep.local_ip(peer.host)
        port = self._allocate()
        offer = self.ep.media.offer(local_ip, port)
        leg = self._new_leg(target_uri, from_uri, peer, offer.description)
        try:
            await self.ep.media.open(
                leg,
                offer,
                bind_host=self.ep.bind_host(local_ip),
                port=port,
                on_inactive=lambda: self.ep.media_timeout(leg),
            )
        except NoMediaPort as exc:
            raise DialFailed(503, "no RTP port") from exc
        attempt = _Attempt(
            leg=leg,
            peer=peer,
            answered=asyncio.get_running_loop().create_future(),
            on_progress=on_progress,
        )
        try:
            await self._ring(attempt, auth, timeout_s, cancel)
        except BaseException:
            if not leg.confirmed:
                self.ep.media.stop(leg)
            raise
        finally:
            self._ringing.discard(attempt)
        self.ep.stats.calls_placed += 1
        return leg

    def abandon(self) -> None:
        """The endpoint stops: every ringing attempt ends with :class:`DialCancelled`."""
        for attempt in list(self._ringing):
            attempt.abandoned = True
            if not attempt.answered.done():
                attempt.answered.set_exception(DialCancelled("the endpoint stopped"))

    # -- steps -------------------------------------------------------------------------------
    def _new_leg(
        self, target_uri: str, from_uri: str, peer: Peer, offer: sdp.SessionDescription
    ) -> Leg[C]:
        ep = self.ep
        local_tag = new_tag()
        local_ip = ep.local_ip(peer.host)
        call_id = f"{secrets.token_hex(12)}@{bracket_host(local_ip)}"
        dialog = Dialog(
            call_id=call_id,
            local_tag=local_tag,
            remote_tag="",
            local_party=f"<{from_uri}>;tag={local_tag}",
            remote_party=f"<{target_uri}>",
            remote_target=target_uri,
            route_set=[],
            remote_cseq=0,
            peer=peer,
            local_contact=ep.contact(local_ip, peer.transport),
        )
        info = CallInfo(
            call_id=call_id,
            caller=_user(from_uri),
            caller_display="",
            callee=_user(target_uri),
            codec="",
        )
        return Leg[C](
            direction=Direction.OUTBOUND,
            dialog=dialog,
            info=info,
            local_sdp=offer,
            signalling=ep,
        )

    def _allocate(self) -> int:
        try:
            return self.ep.media.allocate()
        except NoMediaPort as exc:
            raise DialFailed(503, "no RTP port") from exc

    async def _ring(
        self,
        attempt: _Attempt[C],
        auth: DigestClient | None,
        timeout_s: float,
        cancel: asyncio.Event | None,
    ) -> None:
        """Send the INVITE (again once with credentials if challenged) and wait for the end."""
        loop, clock = asyncio.get_running_loop(), self.ep.scheduler
        deadline = clock.time() + timeout_s
        self._ringing.add(attempt)
        credentials: tuple[str, str] | None = None
        while True:
            self._send_invite(attempt, credentials)
            try:
                await self._wait(attempt, deadline - clock.time(), cancel)
                return
            except DialFailed as failed:
                challenge = attempt.final
                if failed.status not in (401, 407) or auth is None or credentials is not None:
                    raise
                assert challenge is not None and attempt.tx is not None
                try:
                    credentials = auth.authorize(
                        challenge, method="INVITE", uri=attempt.tx.request.uri
                    )
                except AuthError as exc:
                    log.info("cannot answer the challenge of %s: %s", attempt.peer, exc)
                    raise failed from exc
                attempt.answered = loop.create_future()

    async def _wait(
        self, attempt: _Attempt[C], remaining_s: float, cancel: asyncio.Event | None
    ) -> None:
        deadline = self.ep.pause(max(remaining_s, 0.0))
        cancelled = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        waiters: list[asyncio.Future[Any]] = [attempt.answered, deadline]
        if cancelled is not None:
            waiters.append(cancelled)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._give_up(attempt)
            raise
        finally:
            deadline.cancel()
            if cancelled is not None:
                cancelled.cancel()
        if attempt.answered.done():
            attempt.answered.result()  # raises DialFailed or DialCancelled
            return
        self._give_up(attempt)
        if cancel is not None and cancel.is_set():
            raise DialCancelled("cancelled while ringing")
        raise DialTimeout(f"no answer within {remaining_s:.1f} s")

    def _send_invite(self, attempt: _Attempt[C], credentials: tuple[str, str] | None) -> None:
        ep, leg = self.ep, attempt.leg
        extra = [("Allow", ALLOW), *ep.ua_headers()]
        if credentials is not None:
            extra.append(credentials)
        req = leg.dialog.make_request(
            "INVITE",
            via_host=bracket_host(ep.local_ip(attempt.peer.host)),
            via_port=ep.transport.port,
            body=sdp.serialize(leg.local_sdp),
            content_type="application/sdp",
            extra=extra,
        )
        attempt.final = None
        tx = InviteClientTransaction(
            req,
            send=lambda data: ep.transport.send(data, attempt.peer),
            scheduler=ep.scheduler,
            reliable=attempt.peer.reliable,
            timers=ep.timers,
            on_response=lambda resp: self._on_response(attempt, resp),
            on_timeout=lambda: self._fail(attempt, DialFailed(408, "no response")),
            on_terminated=ep.tx.drop_client,
        )
        attempt.tx = tx
        ep.tx.client[tx.key] = tx
        tx.start()

    # -- responses -----------------------------------------------------------------------------
    def _on_response(self, attempt: _Attempt[C], resp: Response) -> None:
        if resp.status < 200:
            if attempt.cancel_pending:
                attempt.cancel_pending = False
                self._send_cancel(attempt)
            if attempt.on_progress is not None and not attempt.abandoned:
                attempt.on_progress(resp)
            return
        if resp.status >= 300:
            attempt.final = resp
            self._fail(attempt, DialFailed(resp.status, resp.reason))
            return
        if attempt.ack is None:
            self._answered(attempt, resp)
        elif parse_name_addr(resp.headers.get("To") or "").tag == attempt.leg.dialog.remote_tag:
            self.ep.transport.send(attempt.ack, attempt.leg.dialog.peer)  # our ACK was lost
        else:
            self._other_fork(attempt, resp)

    def _other_fork(self, attempt: _Attempt[C], resp: Response) -> None:
        """A 2xx from a second callee the INVITE was forked to: ACK it, then end that dialog
        with BYE (§13.2.2.4); its retransmissions get the same ACK."""
        tag = parse_name_addr(resp.headers.get("To") or "").tag or ""
        dialog = attempt.leg.dialog
        ack = attempt.forks.get(tag)
        if ack is not None:
            self.ep.transport.send(ack, dialog.peer)
            return
        assert attempt.tx is not None
        fork = dataclasses.replace(dialog, route_set=[], local_cseq=_cseq(attempt.tx.request))
        _dialog_from_2xx(fork, resp)
        attempt.forks[tag] = self._send_ack(attempt, fork)
        log.info("a second callee answered %s: hanging up on it", dialog.call_id)
        bye = fork.make_request(
            "BYE",
            via_host=bracket_host(self.ep.local_ip(fork.peer.host)),
            via_port=self.ep.transport.port,
        )
        self.ep.start_client(bye, fork.peer)

    def _answered(self, attempt: _Attempt[C], resp: Response) -> None:
        """The 2xx: dialog state from it, ACK, SDP answer applied, leg handed up."""
        leg = attempt.leg
        _dialog_from_2xx(leg.dialog, resp)
        attempt.ack = self._send_ack(attempt, leg.dialog)
        if attempt.abandoned:
            log.info("answer after cancel on %s: hanging up", leg.dialog.call_id)
            self._bye(attempt)
            return
        if not resp.body or not self.ep.media.apply_remote_sdp(leg, resp.body):
            self._bye(attempt)
            self._fail(attempt, DialFailed(488, "unusable SDP answer"))
            return
        leg.info = dataclasses.replace(leg.info, codec=leg.stream.codec.name)
        remote = leg.stream.remote
        leg.remote_media = f"{remote[0]}:{remote[1]}" if remote else ""
        leg.confirmed = True
        self.ep.adopt(leg)
        self.ep.media.start(leg)
        if leg.call is not None:
            leg.call.answered()
        if not attempt.answered.done():
            attempt.answered.set_result(None)

    def _send_ack(self, attempt: _Attempt[C], dialog: Dialog) -> bytes:
        """ACK a 2xx (§13.2.2.4): a new transaction-less request with the INVITE's CSeq."""
        assert attempt.tx is not None
        invite = attempt.tx.request
        dialog.local_cseq = _cseq(invite) - 1  # make_request counts up: the ACK reuses it
        ack = dialog.make_request(
            "ACK",
            via_host=bracket_host(self.ep.local_ip(attempt.peer.host)),
            via_port=self.ep.transport.port,
        )
        for name in ("Authorization", "Proxy-Authorization"):
            for value in invite.headers.get_all(name):
                ack.headers.add(name, value)
        wire = serialize(ack)
        self.ep.transport.send(wire, dialog.peer)
        return wire

    def _bye(self, attempt: _Attempt[C]) -> None:
        attempt.leg.confirmed = True
        self.ep.send_in_dialog(attempt.leg, "BYE")
        self.ep.media.stop(attempt.leg)

    def _fail(self, attempt: _Attempt[C], error: DialError) -> None:
        if not attempt.answered.done():
            attempt.answered.set_exception(error)

    def _give_up(self, attempt: _Attempt[C]) -> None:
        """Timeout or cancel while ringing: CANCEL now, or after the first provisional."""
        attempt.abandoned = True
        tx = attempt.tx
        if tx is None or attempt.ack is not None:
            return
        if tx.provisional_seen:
            self._send_cancel(attempt)
        else:
            attempt.cancel_pending = True
        if not attempt.answered.done():
            attempt.answered.cancel()

    def _send_cancel(self, attempt: _Attempt[C]) -> None:
        assert attempt.tx is not None
        cancel = cancel_for(attempt.tx.request)
        for name, value in self.ep.ua_headers():
            cancel.headers.add(name, value)
        self.ep.start_client(cancel, attempt.peer)


def cancel_for(invite: Request) -> Request:
    """The CANCEL of an INVITE (§9.1): its Request-URI, top Via, Route, From, To, Call-ID and
    CSeq number."""
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.get_all("Route"):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        h.add(name, invite.headers.get(name) or "")
    number = (invite.headers.get("CSeq") or "0").split()[0]
    h.add("CSeq", f"{number} CANCEL")
    return Request(method="CANCEL", uri=invite.uri, headers=h, body=b"")


def _dialog_from_2xx(dialog: Dialog, resp: Response) -> None:
    """Complete our side of the dialog from the 2xx (§12.1.2): their tag, their Contact as
    the remote target, the Record-Route in reverse as the route set."""
    to_value = resp.headers.get("To") or dialog.remote_party
    dialog.remote_party = to_value
    dialog.remote_tag = parse_name_addr(to_value).tag or ""
    contacts = resp.headers.get_all("Contact")
    if contacts:
        dialog.remote_target = parse_name_addr(contacts[0]).uri
    dialog.route_set = list(reversed(resp.headers.get_all("Record-Route")))
    if not dialog.route_set:
        # Without a route set, in-dialog requests go to the Contact when it is an address.
        # A Contact that is no address leaves the dialled next hop in place.
        with contextlib.suppress(SipParseError, ValueError):
            uri = parse_uri(dialog.remote_target)
            ipaddress.ip_address(uri.host.strip("[]"))
            dialog.peer = Peer(dialog.peer.transport, uri.host.strip("[]"), uri.port or 5060)


def _cseq(req: Request) -> int:
    return int((req.headers.get("CSeq") or "0").split()[0])


def _sip_uri(text: str) -> SipUri:
    try:
        uri = parse_uri(text)
    except SipParseError as exc:
        raise ValueError(f"not a SIP URI: {text[:60]!r}") from exc
    if uri.scheme != "sip" or not uri.host:
        raise ValueError(f"not a sip: URI: {text[:60]!r}")
    return uri


async def _next_hop(uri: SipUri) -> Peer:
    """Where the INVITE goes: the URI's host (resolved once) and port."""
    transport = (uri.param("transport") or "udp").lower()
    if transport not in ("udp", "tcp"):
        raise ValueError(f"unsupported transport {transport!r}")
    host, port = uri.host.strip("[]"), uri.port or 5060
    try:
        ipaddress.ip_address(host)
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise DialFailed(503, f"cannot resolve {host}") from exc
        if not infos:
            raise DialFailed(503, f"cannot resolve {host}") from None
        host = str(infos[0][4][0])
    return Peer(transport, host, port)


def _user(uri: str) -> str:
    return user_of(parse_name_addr(uri).uri if "<" in uri else uri)


__all__ = [
    "DialCancelled",
    "DialError",
    "DialFailed",
    "DialTimeout",
    "OutboundCalls",
    "cancel_for",
]
