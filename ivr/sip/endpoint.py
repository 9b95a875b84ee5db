"""The SIP user agent core: dispatches messages to transactions, dialogs and calls.

A UAS that needs no registrar: it answers INVITEs (with SDP or delayed offer), handles ACK,
CANCEL, BYE both ways, OPTIONS, INFO digits, hold/unhold re-INVITEs and NOTIFYs of the transfers
it starts with REFER. Responses are routed by Via with ``received``/``rport`` (RFC 3261 §18.2.2,
RFC 3581). Nothing a peer sends can raise out of :meth:`Endpoint.datagram`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import ErrorCode
from ivr.call import Call
from ivr.channel import CallInfo, TransferOutcome
from ivr.events import CallError, CallStarted, EventSink
from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.media.stream import Codec, MediaStream
from ivr.settings import MediaSettings, SipSettings
from ivr.sip import sdp
from ivr.sip.dialog import Dialog, Peer, new_tag
from ivr.sip.message import (
    Headers,
    Request,
    Response,
    SipMessage,
    SipParseError,
    make_response,
    parse,
    parse_name_addr,
    parse_uri,
    parse_via,
    serialize,
)
from ivr.sip.policy import check_request
from ivr.sip.registration import Registration
from ivr.sip.timers import Scheduler, SipTimers
from ivr.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionTable,
    server_key,
)
from ivr.sip.transport import SipTransport

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"
ACCEPT = "application/sdp"
CallHandler = Callable[[Call], Awaitable[None]]


@dataclass
class Leg:
    """Signalling state of one call we answered."""

    invite: Request
    tx: ServerTransaction
    dialog: Dialog
    stream: MediaStream
    call: Call
    delayed_offer: bool
    local_sdp: sdp.SessionDescription
    confirmed: bool = False
    terminated: bool = False
    refer_waiters: list[asyncio.Future[TransferOutcome]] = field(default_factory=list)
    reinvite_tx: ServerTransaction | None = None
    reinvite_pending_offer: bool = False


@dataclass
class EndpointStats:
    """Counters for metrics and benchmarks."""

    received: int = 0
    malformed: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    calls_answered: int = 0
    calls_ended: int = 0


class Endpoint:
    """One worker's SIP user agent."""

    def __init__(
        self,
        *,
        sip: SipSettings,
        media: MediaSettings,
        clock: MediaClock,
        ports: PortAllocator,
        sink: EventSink,
        on_call: CallHandler,
        scheduler: Scheduler | None = None,
        answer_delay_s: float = 0.0,
        transport: Callable[[Callable[[bytes, Peer], None]], SipTransport] | None = None,
    ) -> None:
        self.sip = sip
        self.media = media
        self.clock = clock
        self.ports = ports
        self.sink = sink
        self.on_call = on_call
        self.answer_delay_s = answer_delay_s
        self.timers = SipTimers(t1=sip.timer_t1_ms / 1000, t2=sip.timer_t2_ms / 1000)
        # the SIP sockets, or (behind a dispatcher) a relay with the same surface
        self.transport = (transport or SipTransport)(self.datagram)
        self._scheduler = scheduler
        self.tx = TransactionTable.empty()
        self.legs: dict[tuple[str, str], Leg] = {}  # (call-id, our tag)
        self._leg_of_call: dict[Call, Leg] = {}  # BYE/REFER from the runtime find their leg
        self.stats = EndpointStats()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.registration: Registration | None = None

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._scheduler is None:
            self._scheduler = _LoopScheduler(asyncio.get_running_loop())
        await self.transport.start(self.sip.host, self.sip.port, self.sip.transports)
        if self.sip.registration is not None:
            self.registration = Registration(
                self.sip.registration,
                send=self.transport.send,
                scheduler=self._scheduler,
                table=self.tx,
                timers=self.timers,
                local_host=lambda host: (
                    self.sip.public_address or self.transport.local_ip_for(host)
                ),
                local_port=lambda: self.transport.port,
                user_agent=self.sip.user_agent,
            )
            self.registration.start()
        log.info(
            "SIP listening on %s:%s (%s)", self.sip.host, self.transport.port, self.sip.transports
        )

    async def stop(self) -> None:
        if self.registration is not None:
            await self.registration.stop()
        for server_tx in list(self.tx.server.values()):
            server_tx.abandon()
        for leg in list(self.legs.values()):
            if leg.confirmed and not leg.call.ended:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.send_bye(leg.call), 1.0)
            self._release(leg, "shutdown")
        for task in list(self._tasks):
            task.cancel()
        for client_tx in list(self.tx.client.values()):
            client_tx.abandon()
        await self.transport.close()

    @property
    def active_calls(self) -> int:
        return sum(1 for leg in self.legs.values() if not leg.terminated)

    # -- input -----------------------------------------------------------------------------
    def datagram(self, data: bytes, peer: Peer) -> None:
        """Entry point for every SIP message received. Never raises."""
        self.stats.received += 1
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            msg: SipMessage = parse(data)
        except SipParseError as exc:
            self.stats.malformed += 1
            log.debug("malformed SIP from %s: %s", peer, exc)
            if exc.status is not None:
                self._reject_unparsable(data, peer, exc)
            return
        try:
            if isinstance(msg, Response):
                self._on_response(msg)
            else:
                self._on_request(msg, peer)
        except SipParseError as exc:
            self.stats.malformed += 1
            if isinstance(msg, Request) and msg.method != "ACK":
                self._send_response(make_response(msg, exc.status or 400, _reason(exc)), msg, peer)
        except Exception:
            log.exception("error handling SIP message from %s", peer)
            if isinstance(msg, Request) and msg.method != "ACK":
                with contextlib.suppress(Exception):
                    self._send_response(make_response(msg, 500), msg, peer)

    def _on_request(self, req: Request, peer: Peer) -> None:
        problem = check_request(req)
        if problem is not None:
            self._count_reject(problem.status)
            if req.method != "ACK":
                self._send_response(problem, req, peer)
            return
        if req.method == "ACK":
            self._on_ack(req, peer)
            return
        key = server_key(req)
        existing = self.tx.server.get(key)
        if existing is not None:
            existing.receive_request(req)
            return
        if req.method == "CANCEL":
            self._on_cancel(req, peer)
            return
        to_tag = parse_name_addr(req.headers.get("To") or "").tag
        if to_tag:
            leg = self._leg_for(req)
            if leg is None:
                self._respond_stateless(req, peer, 481)
                return
            self._in_dialog(leg, req, peer)
            return
        if req.method == "INVITE":
            self._new_invite(req, peer)
        elif req.method == "OPTIONS":
            tx = self._server_tx(req, peer)
            tx.respond(
                make_response(
                    req,
                    200,
                    to_tag=new_tag(),
                    headers=[("Allow", ALLOW), ("Accept", ACCEPT), *self._ua_headers()],
                )
            )
        elif req.method in ("BYE", "INFO", "NOTIFY"):
            self._respond_stateless(req, peer, 481)
        else:
            self._respond_stateless(req, peer, 405, [("Allow", ALLOW)])

    # -- INVITE ------------------------------------------------------------------------------
    def _new_invite(self, req: Request, peer: Peer) -> None:
        tx = self._server_tx(req, peer, on_timeout=self._invite_timeout)
        if self.active_calls >= self.sip.max_calls:
            self._count_reject(503)
            tx.respond(
                make_response(
                    req,
                    503,
                    to_tag=new_tag(),
                    headers=[("Retry-After", str(self.sip.retry_after_s))],
                )
            )
            return
        tx.respond(make_response(req, 100))
        task = asyncio.get_running_loop().create_task(self._answer(req, tx, peer))
        self._keep(task)

    async def _answer(self, req: Request, tx: ServerTransaction, peer: Peer) -> None:
        local_tag = new_tag()
        local_ip = self.sip.public_address or self.transport.local_ip_for(peer.host)
        offer: sdp.SessionDescription | None = None
        if req.body and _is_sdp(req):
            try:
                offer = sdp.parse(req.body)
            except sdp.SdpError as exc:
                tx.respond(make_response(req, 400, f"Bad SDP: {exc}"[:80], to_tag=local_tag))
                return
        elif req.body:
            tx.respond(make_response(req, 415, to_tag=local_tag, headers=[("Accept", ACCEPT)]))
            return
        try:
            port = self.ports.allocate()
        except Exception:
            tx.respond(make_response(req, 503, to_tag=local_tag, headers=[("Retry-After", "5")]))
            return
        try:
            if offer is not None:
                answer = sdp.negotiate(
                    offer,
                    local_ip=local_ip,
                    local_port=port,
                    codecs=tuple(self.media.codecs),
                    ptime=self.media.ptime_ms,
                )
            else:
                answer = sdp.make_offer(
                    local_ip=local_ip,
                    local_port=port,
                    codecs=tuple(self.media.codecs),
                    ptime=self.media.ptime_ms,
                )
        except sdp.NoCommonCodec:
            self.ports.release(port)
            self._count_reject(488)
            tx.respond(make_response(req, 488, to_tag=local_tag, headers=[("Accept", ACCEPT)]))
            return
        except sdp.SdpError as exc:
            self.ports.release(port)
            tx.respond(make_response(req, 488, f"Bad SDP: {exc}"[:80], to_tag=local_tag))
            return

        call_id = req.headers.get("Call-ID") or ""
        from_addr = parse_name_addr(req.headers.get("From") or "")
        to_addr = parse_name_addr(req.headers.get("To") or "")
        info = CallInfo(
            call_id=call_id,
            caller=_user_of(from_addr.uri),
            caller_display=from_addr.display or "",
            callee=_user_of(to_addr.uri) or _user_of(req.uri),
            codec=answer.codec.name if answer.codec else "",
        )
        codec = _codec(answer)
        holder: list[Leg] = []  # the stream's callbacks reach the leg built below
        stream = MediaStream(
            clock=self.clock,
            codec=codec,
            dtmf_payload_type=answer.dtmf_payload_type,
            remote=answer.remote,
            on_digit=lambda digit, source: holder[0].call.digit(digit, source),
            inband_dtmf=self.media.inband_dtmf,
            inactivity_timeout_s=self.media.inactivity_timeout_s,
            on_inactive=lambda: self._media_timeout(holder[0]),
        )
        for attempt in range(3):  # a port of the range may be held by another program
            try:
                await stream.open(
                    local_ip if self.sip.host in ("0.0.0.0", "") else self.sip.host, port
                )
                break
            except OSError as exc:
                log.warning("RTP port %s unavailable: %s", port, exc)
                self.ports.release(port)
                try:
                    port = self.ports.allocate() if attempt < 2 else -1
                except Exception:
                    port = -1
                if port < 0:
                    tx.respond(
                        make_response(req, 503, to_tag=local_tag, headers=[("Retry-After", "5")])
                    )
                    return
                answer = _with_port(answer, port)
        stream.sending = False  # nothing goes out before the caller's ACK
        self.clock.unregister(stream)  # and an unconfirmed call costs the clock nothing
        contact = (
            f"<sip:tongdai@{_host(local_ip)}:{self.transport.port};transport={peer.transport}>"
        )
        dialog = Dialog.from_invite(req, local_tag=local_tag, peer=peer, local_contact=contact)
        call = Call(info=info, stream=stream, signalling=self, sink=self.sink)
        leg = Leg(
            invite=req,
            tx=tx,
            dialog=dialog,
            stream=stream,
            call=call,
            delayed_offer=offer is None,
            local_sdp=answer.description,
        )
        holder.append(leg)
        self.legs[(call_id, local_tag)] = leg
        self._leg_of_call[call] = leg
        self.sink.emit(
            CallStarted(
                call_id=call_id,
                caller=info.caller,
                callee=info.callee,
                codec=info.codec,
                remote_media=f"{answer.remote[0]}:{answer.remote[1]}" if answer.remote else "",
            )
        )
        tx.respond(make_response(req, 180, to_tag=local_tag, headers=[("Contact", contact)]))
        if self.answer_delay_s > 0:
            await asyncio.sleep(self.answer_delay_s)
        if leg.terminated or tx.final_sent:
            return
        body = sdp.serialize(answer.description)
        tx.respond(
            make_response(
                req,
                200,
                to_tag=local_tag,
                headers=[("Contact", contact), ("Allow", ALLOW), *self._ua_headers()],
                body=body,
                content_type="application/sdp",
            )
        )
        self.stats.calls_answered += 1

    def _on_ack(self, req: Request, peer: Peer) -> None:
        key = server_key(req, method="INVITE")
        tx = self.tx.server.get(key)
        if (
            tx is not None
            and tx.final_sent
            and tx.last_response is not None
            and tx.last_response.status >= 300
        ):
            tx.receive_request(req)  # ACK of our error response: hop-by-hop
            return
        leg = self._leg_for(req)
        if leg is None:
            return
        if leg.reinvite_tx is not None:
            leg.reinvite_tx.ack_received()
            leg.reinvite_tx = None
            if leg.reinvite_pending_offer and req.body:
                self._apply_remote_sdp(leg, req.body)
            leg.reinvite_pending_offer = False
            return
        leg.tx.ack_received()
        if leg.confirmed:
            return
        leg.confirmed = True
        if leg.delayed_offer:
            if not req.body:
                log.info("ACK without SDP answer on delayed-offer call %s", leg.dialog.call_id)
                self._keep(asyncio.get_running_loop().create_task(self.send_bye(leg.call)))
                return
            if not self._apply_remote_sdp(leg, req.body):
                self._keep(asyncio.get_running_loop().create_task(self.send_bye(leg.call)))
                return
        leg.stream.sending = True
        self.clock.register(leg.stream)
        leg.call.answered()
        leg.call.handler = asyncio.get_running_loop().create_task(self._run_handler(leg))

    async def _run_handler(self, leg: Leg) -> None:
        try:
            await self.on_call(leg.call)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.exception("call handler failed on %s", leg.dialog.call_id)
            self.sink.emit(
                CallError(call_id=leg.dialog.call_id, code=ErrorCode.INTERNAL, detail=str(exc))
            )
        if not leg.call.ended:
            await self.send_bye(leg.call)

    def _invite_timeout(self, tx: ServerTransaction) -> None:
        """Timer H or L fired: no ACK for our final response."""
        for leg in list(self.legs.values()):
            if leg.tx is tx and not leg.confirmed:
                log.info("no ACK for call %s: ending it", leg.dialog.call_id)
                self._keep(asyncio.get_running_loop().create_task(self._bye_unconfirmed(leg)))

    async def _bye_unconfirmed(self, leg: Leg) -> None:
        self._release(leg, "no-ack")
        self._send_in_dialog(leg, "BYE")

    def _on_cancel(self, req: Request, peer: Peer) -> None:
        invite_tx = self.tx.server.get(server_key(req, method="INVITE"))
        if invite_tx is None:
            self._respond_stateless(req, peer, 481)
            return
        cancel_tx = self._server_tx(req, peer)
        cancel_tx.respond(make_response(req, 200))
        if invite_tx.final_sent:
            return  # too late: the call goes on (a BYE will follow)
        leg = next((x for x in self.legs.values() if x.tx is invite_tx), None)
        to_tag = leg.dialog.local_tag if leg else new_tag()
        invite_tx.respond(make_response(invite_tx.request, 487, to_tag=to_tag))
        if leg is not None:
            self._release(leg, "cancel")

    # -- in-dialog requests ----------------------------------------------------------------
    def _in_dialog(self, leg: Leg, req: Request, peer: Peer) -> None:
        if not leg.dialog.accepts_cseq(req):
            self._respond_stateless(req, peer, 500, [("Retry-After", "1")])
            return
        tx = self._server_tx(req, peer)
        if req.method == "BYE":
            tx.respond(make_response(req, 200))
            self._release(leg, "caller-bye")
        elif req.method == "INFO":
            digit = _info_digit(req)
            if digit is None and req.body:
                tx.respond(
                    make_response(
                        req, 415, headers=[("Accept", "application/dtmf-relay, application/dtmf")]
                    )
                )
                return
            tx.respond(make_response(req, 200))
            if digit is not None:
                leg.call.digit(digit, "info")
        elif req.method == "INVITE":
            self._reinvite(leg, req, tx)
        elif req.method == "NOTIFY":
            tx.respond(make_response(req, 200))
            self._on_notify(leg, req)
        elif req.method == "OPTIONS":
            tx.respond(make_response(req, 200, headers=[("Allow", ALLOW), ("Accept", ACCEPT)]))
        else:
            tx.respond(make_response(req, 405, headers=[("Allow", ALLOW)]))

    def _reinvite(self, leg: Leg, req: Request, tx: ServerTransaction) -> None:
        if leg.reinvite_tx is not None and not leg.reinvite_tx.final_sent:
            tx.respond(make_response(req, 500, headers=[("Retry-After", "1")]))
            return
        if req.body:
            try:
                offer = sdp.parse(req.body)
                answer = sdp.negotiate(
                    offer,
                    local_ip=_sdp_ip(leg.local_sdp),
                    local_port=leg.stream.local_port,
                    codecs=tuple(self.media.codecs),
                    ptime=self.media.ptime_ms,
                    previous=leg.local_sdp,
                )
            except sdp.NoCommonCodec:
                tx.respond(make_response(req, 488, headers=[("Accept", ACCEPT)]))
                return
            except sdp.SdpError as exc:
                tx.respond(make_response(req, 488, f"Bad SDP: {exc}"[:80]))
                return
            leg.local_sdp = answer.description
            self._apply_answer(leg, answer)
            leg.reinvite_pending_offer = False
        else:
            answer = sdp.make_offer(
                local_ip=_sdp_ip(leg.local_sdp),
                local_port=leg.stream.local_port,
                codecs=tuple(self.media.codecs),
                ptime=self.media.ptime_ms,
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

    def _apply_remote_sdp(self, leg: Leg, body: bytes) -> bool:
        """Apply the caller's SDP answer to our offer (delayed offer, re-INVITE without SDP)."""
        try:
            remote = sdp.parse(body)
            answer = sdp.accept_answer(leg.local_sdp, remote, codecs=tuple(self.media.codecs))
        except (sdp.SdpError, sdp.NoCommonCodec) as exc:
            log.info("unusable SDP answer on %s: %s", leg.dialog.call_id, exc)
            return False
        self._apply_answer(leg, answer)
        return True

    def _apply_answer(self, leg: Leg, answer: sdp.Answer) -> None:
        if answer.remote is not None:
            leg.stream.set_remote(answer.remote)
        leg.stream.set_codec(_codec(answer), answer.dtmf_payload_type)
        on_hold = answer.direction in ("recvonly", "inactive")
        leg.stream.sending = leg.confirmed and not on_hold
        leg.call.set_hold(on_hold)

    def _on_notify(self, leg: Leg, req: Request) -> None:
        if (req.headers.get("Event") or "").split(";")[0].strip().lower() != "refer":
            return
        status = _sipfrag_status(req.body)
        if status is None or status < 200:
            return
        outcome = TransferOutcome(ok=status < 300, status=status)
        for waiter in leg.refer_waiters:
            if not waiter.done():
                waiter.set_result(outcome)
        leg.refer_waiters.clear()

    # -- our requests ------------------------------------------------------------------------
    async def send_bye(self, call: Call) -> None:
        leg = self._leg_of_call.get(call)
        if leg is None or leg.terminated:
            call.end("ivr-bye")
            return
        self._release(leg, "ivr-bye")
        if leg.confirmed:
            await self._request(leg, "BYE")
        # Not confirmed yet: the BYE goes after the ACK... the 2xx has been answered or not;
        # without an ACK the dialog never existed for the caller, so nothing more is sent.

    async def send_refer(self, call: Call, target: str) -> TransferOutcome:
        leg = self._leg_of_call.get(call)
        if leg is None or leg.terminated:
            return TransferOutcome(ok=False, status=481, reason="call ended")
        waiter: asyncio.Future[TransferOutcome] = asyncio.get_running_loop().create_future()
        leg.refer_waiters.append(waiter)
        resp = await self._request(
            leg,
            "REFER",
            extra=[
                ("Refer-To", f"<{target}>"),
                (
                    "Referred-By",
                    f"<sip:tongdai@{_host(self.transport.local_ip_for(leg.dialog.peer.host))}>",
                ),
            ],
        )
        if resp is None or resp.status >= 300:
            leg.refer_waiters.remove(waiter)
            status = resp.status if resp is not None else 408
            return TransferOutcome(ok=False, status=status, reason="REFER refused")
        try:
            outcome = await asyncio.wait_for(waiter, timeout=60)
        except TimeoutError:
            return TransferOutcome(ok=False, status=408, reason="no final NOTIFY")
        if outcome.ok:
            await self.send_bye(call)
            leg.call.end("transferred")
        return outcome

    async def _request(
        self, leg: Leg, method: str, *, extra: list[tuple[str, str]] | None = None
    ) -> Response | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Response | None] = loop.create_future()

        def on_response(resp: Response) -> None:
            if resp.status >= 200 and not done.done():
                done.set_result(resp)

        def on_timeout() -> None:
            if not done.done():
                done.set_result(None)

        self._send_in_dialog(
            leg, method, extra=extra, on_response=on_response, on_timeout=on_timeout
        )
        return await done

    def _send_in_dialog(
        self,
        leg: Leg,
        method: str,
        *,
        extra: list[tuple[str, str]] | None = None,
        on_response: Callable[[Response], None] | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        peer = leg.dialog.peer
        local_ip = self.sip.public_address or self.transport.local_ip_for(peer.host)
        req = leg.dialog.make_request(
            method, via_host=_host(local_ip), via_port=self.transport.port, extra=extra
        )
        for name, value in self._ua_headers():
            req.headers.add(name, value)
        assert self._scheduler is not None
        tx = ClientTransaction(
            req,
            send=lambda data: self.transport.send(data, peer),
            scheduler=self._scheduler,
            reliable=peer.reliable,
            timers=self.timers,
            on_response=on_response or (lambda r: None),
            on_timeout=on_timeout or (lambda: None),
            on_terminated=self.tx.drop_client,
        )
        self.tx.client[tx.key] = tx
        tx.start()

    def _on_response(self, resp: Response) -> None:
        tx = self.tx.match_response(resp)
        if tx is None:
            return  # stray response: dropped
        tx.receive_response(resp)

    # -- helpers -------------------------------------------------------------------------------
    def _server_tx(
        self,
        req: Request,
        peer: Peer,
        *,
        on_timeout: Callable[[ServerTransaction], None] | None = None,
    ) -> ServerTransaction:
        assert self._scheduler is not None
        reply = reply_peer(req, peer)
        tx = ServerTransaction(
            server_key(req),
            req,
            send=lambda data: self.transport.send(data, reply),
            scheduler=self._scheduler,
            reliable=peer.reliable,
            timers=self.timers,
            on_terminated=self.tx.drop_server,
            on_timeout=on_timeout,
            prepare=lambda resp: _stamp_received(resp, peer),
        )
        self.tx.server[tx.key] = tx
        return tx

    def _respond_stateless(
        self, req: Request, peer: Peer, status: int, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self._count_reject(status)
        if req.method == "ACK":
            return
        self._send_response(make_response(req, status, headers=headers or []), req, peer)

    def _send_response(self, resp: Response, req: Request, peer: Peer) -> None:
        _stamp_received(resp, peer)
        self.transport.send(serialize(resp), reply_peer(req, peer))

    def _reject_unparsable(self, data: bytes, peer: Peer, exc: SipParseError) -> None:
        """Answer a request we could not parse with 400 when its routing headers are readable."""
        resp = best_effort_error(data, exc.status or 400, _reason(exc))
        if resp is None:
            return
        self._count_reject(resp.status)
        _stamp_received(resp, peer)
        self.transport.send(serialize(resp), peer)

    def _leg_for(self, req: Request) -> Leg | None:
        call_id = req.headers.get("Call-ID") or ""
        to_tag = parse_name_addr(req.headers.get("To") or "").tag or ""
        leg = self.legs.get((call_id, to_tag))
        if leg is None:
            return None
        from_tag = parse_name_addr(req.headers.get("From") or "").tag or ""
        if leg.dialog.remote_tag and from_tag != leg.dialog.remote_tag:
            return None
        return leg

    def _media_timeout(self, leg: Leg) -> None:
        if leg.terminated or not leg.confirmed or leg.call.on_hold:
            return
        log.info("RTP inactivity on %s: hanging up", leg.dialog.call_id)
        self.sink.emit(CallError(call_id=leg.dialog.call_id, code=ErrorCode.MEDIA_TIMEOUT))
        self._keep(asyncio.get_running_loop().create_task(self._bye_media_timeout(leg)))

    async def _bye_media_timeout(self, leg: Leg) -> None:
        self._release(leg, "media-timeout")
        await self._request(leg, "BYE")

    def _release(self, leg: Leg, reason: str) -> None:
        if leg.terminated:
            return
        leg.terminated = True
        self.clock.unregister(leg.stream)
        leg.call.end(reason)
        self.ports.release(leg.stream.local_port)
        self.stats.calls_ended += 1
        for waiter in leg.refer_waiters:
            if not waiter.done():
                waiter.set_result(TransferOutcome(ok=False, status=487, reason="call ended"))
        # Keep the leg a little for retransmitted BYEs/ACKs, then forget it.
        key = (leg.dialog.call_id, leg.dialog.local_tag)
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_later(self.timers.timeout, self._forget, key, leg)

    def _forget(self, key: tuple[str, str], leg: Leg) -> None:
        self.legs.pop(key, None)
        self._leg_of_call.pop(leg.call, None)

    def _count_reject(self, status: int) -> None:
        self.stats.rejected[status] = self.stats.rejected.get(status, 0) + 1

    def _ua_headers(self) -> list[tuple[str, str]]:
        return [("User-Agent", self.sip.user_agent)]

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _LoopScheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay, callback)

    def time(self) -> float:
        return self._loop.time()


# -- pure helpers ------------------------------------------------------------------------------
def reply_peer(req: Request, source: Peer) -> Peer:
    """Where a response goes (§18.2.2, RFC 3581): the connection it came on for TCP; for UDP
    the source address (``received``), to the source port when ``rport`` was asked for, else
    the Via port."""
    if source.reliable:
        return source
    try:
        via = parse_via(req.headers.get_all("Via")[0])
    except (SipParseError, IndexError):
        return source
    if via.has_param("rport"):
        return source
    return Peer("udp", source.host, via.port or 5060)


def _stamp_received(resp: Response, source: Peer) -> None:
    """Add ``received`` (and ``rport`` when asked) to the top Via of a response."""
    vias = resp.headers.get_all("Via")
    if not vias:
        return
    try:
        top = parse_via(vias[0])
    except SipParseError:
        return
    params: dict[str, str | None] = {}
    if top.host != source.host:
        params["received"] = source.host
    if top.has_param("rport"):
        params["rport"] = str(source.port)
        params.setdefault("received", source.host)
    if not params:
        return
    resp.headers.remove("Via")
    for value in reversed([str(top.with_params(**params)), *vias[1:]]):
        resp.headers.add("Via", value, first=True)


_HEADER_LINE = re.compile(rb"^([A-Za-z\-]+)[ \t]*:[ \t]*(.*?)\r?$", re.MULTILINE)
_COMPACT = {b"v": b"via", b"f": b"from", b"t": b"to", b"i": b"call-id"}


def best_effort_error(data: bytes, status: int, reason: str) -> Response | None:
    """An error response to a request the parser refused, when Via, From, To, Call-ID and
    CSeq can still be read; None when they cannot (then the datagram is dropped)."""
    first_line = data.split(b"\n", 1)[0]
    if first_line.startswith(b"SIP/") or b"SIP/" not in first_line:
        return None  # a response, or not SIP at all: never answered
    if first_line.split(b" ", 1)[0].upper() == b"ACK":
        return None
    head = data.split(b"\r\n\r\n", 1)[0]
    found: dict[bytes, list[bytes]] = {}
    for match in _HEADER_LINE.finditer(head):
        name = match.group(1).lower()
        name = _COMPACT.get(name, name)
        found.setdefault(name, []).append(match.group(2).strip())
    needed = (b"via", b"from", b"to", b"call-id", b"cseq")
    if any(not found.get(n) for n in needed):
        return None
    h = Headers()
    try:
        for name, canonical in zip(needed, ("Via", "From", "To", "Call-ID", "CSeq"), strict=True):
            values = found[name] if name == b"via" else found[name][:1]
            for value in values:
                text = value.decode("utf-8", "replace")
                if any(c in text for c in "\r\n\x00"):
                    return None
                h.add(canonical, text)
        parse_via(h.get_all("Via")[0])
    except (SipParseError, ValueError):
        return None
    return Response(status, reason[:100], h)


def _reason(exc: SipParseError) -> str:
    text = str(exc).replace("\r", " ").replace("\n", " ")
    text = "".join(c for c in text if c.isprintable())
    return ("Bad Request - " + text)[:100] if text else "Bad Request"


def _is_sdp(req: Request) -> bool:
    ctype = (req.headers.get("Content-Type") or "application/sdp").split(";")[0].strip().lower()
    return ctype == "application/sdp"


def _user_of(uri: str) -> str:
    try:
        parsed = parse_uri(uri)
    except SipParseError:
        return ""
    return parsed.user or ""


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip and not ip.startswith("[") else ip


def _codec(answer: sdp.Answer) -> Codec:
    c = answer.codec
    return Codec(name=c.name.upper(), payload_type=c.payload_type, rate=c.clock_rate)


def _with_port(answer: sdp.Answer, port: int) -> sdp.Answer:
    """The same answer on another local RTP port."""
    desc = answer.description
    media = [
        dataclasses.replace(m, port=port) if m.media == "audio" and m.port else m
        for m in desc.media
    ]
    return dataclasses.replace(answer, description=dataclasses.replace(desc, media=media))


def _sdp_ip(desc: sdp.SessionDescription) -> str:
    return sdp.connection_address(desc) or "127.0.0.1"


_DTMF_RELAY = re.compile(r"^\s*Signal\s*=\s*([0-9A-Da-d*#]|1[0-6])\s*$", re.MULTILINE)
_EVENT_NAMES = "0123456789*#ABCD"


def _info_digit(req: Request) -> str | None:
    """A digit from SIP INFO: application/dtmf-relay ("Signal=5") or application/dtmf ("5")."""
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    body = req.body.decode("utf-8", "replace")
    if ctype == "application/dtmf-relay":
        m = _DTMF_RELAY.search(body)
        if not m:
            return None
        sig = m.group(1).upper()
        if sig.isdigit() and len(sig) == 2:
            number = int(sig)
            return _EVENT_NAMES[number] if number < 16 else None
        return sig
    if ctype == "application/dtmf":
        text = body.strip().upper()
        if len(text) == 1 and text in _EVENT_NAMES:
            return text
        if text.isdigit() and int(text) < 16:
            return _EVENT_NAMES[int(text)]
    return None


def _sipfrag_status(body: bytes) -> int | None:
    m = re.match(rb"\s*SIP/2\.0\s+(\d{3})", body)
    return int(m.group(1)) if m else None


__all__ = ["Endpoint", "EndpointStats", "best_effort_error", "reply_peer"]
