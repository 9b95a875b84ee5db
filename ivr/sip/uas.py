"""The endpoint's UAS half: answering INVITEs (with SDP or delayed offer), their ACK and CANCEL,
the timeout of an unacknowledged 2xx, and re-INVITEs (hold, unhold, new media) on any leg.

Answering is a chain of named steps; a step that cannot go on raises :class:`Refusal`, which
becomes the INVITE's final response in one place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic

from ivr.channel import CallInfo
from ivr.sip import offer_answer, sdp
from ivr.sip.caller_identity import asserted_caller, is_trusted
from ivr.sip.dialog import Dialog, Peer, new_tag
from ivr.sip.leg_media import NoMediaPort, apply_answer, remote_text, sdp_ip
from ivr.sip.legs import C, Direction, Leg
from ivr.sip.message import Request, make_response, parse_name_addr
from ivr.sip.replies import is_sdp, user_of
from ivr.sip.source_limits import early_dialogs_from, too_many_media_lines
from ivr.sip.transaction import ServerTransaction, server_key

if TYPE_CHECKING:
    from ivr.sip.endpoint import Endpoint

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
ACCEPT = "application/sdp"
MEDIA_RETRY_AFTER_S = 5  # Retry-After of a 503 when no RTP port is free


class Refusal(Exception):
    """An INVITE we cannot answer: its final response."""

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        *,
        counted: bool = False,
    ) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.headers = list(headers)
        self.counted = counted  # shows in the endpoint's rejection counters


class InboundCalls(Generic[C]):
    """Answers INVITEs for one endpoint and hands each accepted leg to its call factory."""

    def __init__(self, endpoint: Endpoint[C]) -> None:
        self.ep = endpoint

    # -- a new INVITE ------------------------------------------------------------------------
    def new_invite(self, req: Request, peer: Peer) -> None:
        ep = self.ep
        tx = ep.server_tx(req, peer, on_timeout=self.invite_timeout)
        if ep.active_calls >= ep.sip.max_calls:
            ep.count_reject(503)
            headers = [("Retry-After", str(ep.sip.retry_after_s))]
            tx.respond(make_response(req, 503, to_tag=new_tag(), headers=headers))
            return
        if self._source_holds_too_many(peer):
            ep.count_reject(503)  # one source may not hold every call slot unanswered
            headers = [("Retry-After", str(MEDIA_RETRY_AFTER_S))]
            tx.respond(make_response(req, 503, to_tag=new_tag(), headers=headers))
            return
        tx.respond(make_response(req, 100))
        ep.keep(asyncio.get_running_loop().create_task(self.answer(req, tx, peer)))

    def _source_holds_too_many(self, peer: Peer) -> bool:
        """Whether ``peer`` already holds its share of unanswered or un-ACKed calls (a scan of
        the live legs, on a new INVITE only; a trusted proxy in front is exempt)."""
        limits = self.ep.sip.limits
        if is_trusted(peer.host, limits.exempt):
            return False
        legs = self.ep.legs.values()
        early = (leg.dialog.peer.host for leg in legs if not (leg.confirmed or leg.terminated))
        return early_dialogs_from(early, peer.host) >= limits.max_early_dialogs_per_source

    async def answer(self, req: Request, tx: ServerTransaction, peer: Peer) -> None:
        """Negotiate, open the media, hand the leg up, ring, then accept."""
        local_tag = new_tag()
        try:
            leg = await self._accept_leg(req, tx, peer, local_tag)
        except Refusal as refusal:
            if refusal.counted:
                self.ep.count_reject(refusal.status)
            resp = make_response(
                req, refusal.status, refusal.reason, to_tag=local_tag, headers=refusal.headers
            )
            tx.respond(resp)
            return
        self._ring(leg)
        if self.ep.answer_delay_s > 0:
            await self.ep.pause(self.ep.answer_delay_s)
        if leg.terminated or tx.final_sent:
            return  # cancelled while ringing
        self._send_200(leg)

    async def _accept_leg(
        self, req: Request, tx: ServerTransaction, peer: Peer, local_tag: str
    ) -> Leg[C]:
        ep = self.ep
        if req.body and too_many_media_lines(req.body):
            raise Refusal(488, "Too Many Media Lines")
        offer = read_offer(req)
        local_ip = ep.local_ip(peer.host)
        port = self._allocate()
        negotiated = self._negotiate(offer, local_ip, port)
        leg = Leg[C](
            direction=Direction.INBOUND,
            dialog=Dialog.from_invite(
                req,
                local_tag=local_tag,
                peer=peer,
                local_contact=ep.contact(local_ip, peer.transport),
            ),
            info=call_info(req, negotiated, peer, ep.sip.trusted_proxies),
            local_sdp=negotiated.description,
            signalling=ep,
            remote_media=remote_text(negotiated),
            invite=req,
            tx=tx,
            delayed_offer=offer is None,
        )
        try:
            await ep.media.open(
                leg,
                negotiated,
                bind_host=ep.bind_host(local_ip),
                port=port,
                on_inactive=lambda: ep.media_timeout(leg),
            )
        except NoMediaPort as exc:
            raise Refusal(503, headers=[("Retry-After", str(MEDIA_RETRY_AFTER_S))]) from exc
        ep.adopt(leg)
        return leg

    def _allocate(self) -> int:
        try:
            return self.ep.media.allocate()
        except NoMediaPort as exc:
            raise Refusal(503, headers=[("Retry-After", str(MEDIA_RETRY_AFTER_S))]) from exc

    def _negotiate(
        self, offer: sdp.SessionDescription | None, local_ip: str, port: int
    ) -> offer_answer.Answer:
        media = self.ep.media
        try:
            if offer is None:
                return media.offer(local_ip, port)  # delayed offer: ours goes in the 200
            return media.answer(offer, local_ip, port)
        except sdp.NoCommonCodec as exc:
            media.ports.release(port)
            raise Refusal(488, headers=[("Accept", ACCEPT)], counted=True) from exc
        except sdp.SdpError as exc:
            media.ports.release(port)
            raise Refusal(488, f"Bad SDP: {exc}"[:80]) from exc

    def _ring(self, leg: Leg[C]) -> None:
        assert leg.tx is not None and leg.invite is not None
        headers = [*record_routes(leg.invite), ("Contact", leg.dialog.local_contact)]
        leg.tx.respond(make_response(leg.invite, 180, to_tag=leg.dialog.local_tag, headers=headers))

    def _send_200(self, leg: Leg[C]) -> None:
        assert leg.tx is not None and leg.invite is not None
        leg.tx.respond(
            make_response(
                leg.invite,
                200,
                to_tag=leg.dialog.local_tag,
                headers=[
                    *record_routes(leg.invite),
                    ("Contact", leg.dialog.local_contact),
                    ("Allow", ALLOW),
                    *self.ep.ua_headers(),
                ],
                body=sdp.serialize(leg.local_sdp),
                content_type="application/sdp",
            )
        )
        self.ep.stats.calls_answered += 1

    # -- ACK, CANCEL, no ACK -----------------------------------------------------------------
    def on_ack(self, req: Request, peer: Peer) -> None:
        tx = self.ep.tx.server.get(server_key(req, method="INVITE"))
        if (
            tx is not None
            and tx.final_sent
            and tx.last_response is not None
            and tx.last_response.status >= 300
        ):
            tx.receive_request(req)  # ACK of our error response: hop-by-hop
            return
        leg = self.ep.leg_for(req)
        if leg is None:
            return
        if leg.reinvite_tx is not None:
            leg.reinvite_tx.ack_received()
            leg.reinvite_tx = None
            if leg.reinvite_pending_offer and req.body:
                self.ep.media.apply_remote_sdp(leg, req.body)
            leg.reinvite_pending_offer = False
            return
        if leg.tx is None:
            return  # an outbound leg: the peer has no 2xx of ours to acknowledge
        leg.tx.ack_received()
        if not leg.confirmed:
            self._confirm(leg, req)

    def _confirm(self, leg: Leg[C], ack: Request) -> None:
        leg.confirmed = True
        ep = self.ep
        if leg.delayed_offer:
            if not ack.body:
                log.info("ACK without SDP answer on delayed-offer call %s", leg.dialog.call_id)
                ep.keep(asyncio.get_running_loop().create_task(ep.hangup(leg)))
                return
            if not ep.media.apply_remote_sdp(leg, ack.body):
                ep.keep(asyncio.get_running_loop().create_task(ep.hangup(leg)))
                return
        ep.media.start(leg)
        if leg.call is not None:
            leg.call.answered()

    def invite_timeout(self, tx: ServerTransaction) -> None:
        """Timer H or L fired: no ACK for our final response."""
        leg = self.ep.legs.by_invite(tx.key)
        if leg is not None and not leg.confirmed:
            log.info("no ACK for call %s: ending it", leg.dialog.call_id)
            self.ep.release(leg, "no-ack")
            self.ep.send_in_dialog(leg, "BYE")

    def on_cancel(self, req: Request, peer: Peer) -> None:
        ep = self.ep
        invite_tx = ep.tx.server.get(server_key(req, method="INVITE"))
        if invite_tx is None:
            ep.respond_stateless(req, peer, 481)
            return
        ep.server_tx(req, peer).respond(make_response(req, 200))
        if invite_tx.final_sent:
            return  # too late: the call goes on (a BYE will follow)
        leg = ep.legs.by_invite(invite_tx.key)
        to_tag = leg.dialog.local_tag if leg else new_tag()
        invite_tx.respond(make_response(invite_tx.request, 487, to_tag=to_tag))
        if leg is not None:
            ep.release(leg, "cancel")

    # -- re-INVITE -----------------------------------------------------------------------------
    def reinvite(self, leg: Leg[C], req: Request, tx: ServerTransaction) -> None:
        """Hold, unhold or new media on a confirmed leg, inbound or outbound."""
        if leg.reinvite_tx is not None and not leg.reinvite_tx.final_sent:
            tx.respond(make_response(req, 500, headers=[("Retry-After", "1")]))
            return
        media = self.ep.media
        local_ip, port = sdp_ip(leg.local_sdp), leg.stream.local_port
        codecs, ptime = media.codecs, media.settings.ptime_ms
        if req.body:
            try:
                answer = offer_answer.negotiate(
                    sdp.parse(req.body),
                    local_ip=local_ip,
                    local_port=port,
                    codecs=codecs,
                    ptime=ptime,
                    previous=leg.local_sdp,
                )
            except sdp.NoCommonCodec:
                tx.respond(make_response(req, 488, headers=[("Accept", ACCEPT)]))
                return
            except sdp.SdpError as exc:
                tx.respond(make_response(req, 488, f"Bad SDP: {exc}"[:80]))
                return
            leg.local_sdp = answer.description
            apply_answer(leg, answer)
            leg.reinvite_pending_offer = False
        else:
            answer = offer_answer.make_offer(
                local_ip=local_ip,
                local_port=port,
                codecs=codecs,
                ptime=ptime,
                previous=leg.local_sdp,
            )
            leg.local_sdp = answer.description
            leg.reinvite_pending_offer = True
        leg.reinvite_tx = tx
        tx.respond(
            make_response(
                req,
                200,
                headers=[("Contact", leg.dialog.local_contact), ("Allow", ALLOW)],
                body=sdp.serialize(answer.description),
                content_type="application/sdp",
            )
        )


def record_routes(req: Request) -> list[tuple[str, str]]:
    """RFC 3261 §12.1.1: a dialog-creating response copies the request's Record-Route, so a
    proxy in front (Kamailio) stays on the path of the dialog's later requests."""
    return [("Record-Route", value) for value in req.headers.lines("Record-Route")]


def read_offer(req: Request) -> sdp.SessionDescription | None:
    """The SDP offer of an INVITE, or None for a delayed offer; :class:`Refusal` otherwise."""
    if not req.body:
        return None
    if not is_sdp(req):
        raise Refusal(415, headers=[("Accept", ACCEPT)])
    try:
        return sdp.parse(req.body)
    except sdp.SdpError as exc:
        raise Refusal(400, f"Bad SDP: {exc}"[:80]) from exc


def call_info(
    req: Request, negotiated: offer_answer.Answer, peer: Peer, trusted_proxies: list[str]
) -> CallInfo:
    """Who calls whom, from an inbound INVITE; the caller's number is asserted only when a
    trusted proxy sent P-Asserted-Identity (or Remote-Party-ID)."""
    from_addr = parse_name_addr(req.headers.get("From") or "")
    to_addr = parse_name_addr(req.headers.get("To") or "")
    return CallInfo(
        call_id=req.headers.get("Call-ID") or "",
        caller=user_of(from_addr.uri),
        caller_display=from_addr.display or "",
        callee=user_of(to_addr.uri) or user_of(req.uri),
        codec=negotiated.codec.name if negotiated.codec else "",
        asserted_caller=asserted_caller(req.headers.get, peer.host, trusted_proxies),
    )


__all__ = ["ACCEPT", "ALLOW", "InboundCalls", "Refusal", "call_info", "read_offer"]
