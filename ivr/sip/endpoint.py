"""The SIP user agent core: dispatches messages to transactions and dialogs, and hands calls up.

The endpoint owns SIP dialogs, transactions and each leg's RTP session; it never builds a call.
A :data:`~ivr.sip.legs.CallFactory` given to it turns every accepted leg into the call the
layers above run (``ivr.worker`` gives one that builds :class:`ivr.call.Call`).

It answers INVITEs (:mod:`ivr.sip.uas`: SDP or delayed offer, CANCEL, re-INVITE hold) and
places them (:meth:`Endpoint.dial`, :mod:`ivr.sip.uac`); handles ACK, BYE both ways, OPTIONS,
INFO digits and the NOTIFYs of the transfers it starts with REFER. Responses are routed by Via
with ``received``/``rport`` (RFC 3261 §18.2.2, RFC 3581). It needs no registrar, and registers
with one when configured. Nothing a peer sends can raise out of :meth:`Endpoint.datagram`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic

from core.errors import ErrorCode
from ivr.channel import TransferOutcome
from ivr.events import CallError, EventSink
from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.settings import MediaSettings, SipSettings
from ivr.sip.auth import DigestClient
from ivr.sip.dialog import Peer, new_tag
from ivr.sip.leg_media import LegMedia
from ivr.sip.legs import C, CallFactory, Leg, LegTable
from ivr.sip.message import (
    Request,
    Response,
    SipMessage,
    SipParseError,
    make_response,
    parse,
    parse_name_addr,
    serialize,
)
from ivr.sip.policy import SUPPORTED_METHODS, check_request
from ivr.sip.registration import Registration
from ivr.sip.replies import (
    bad_request_reason,
    best_effort_error,
    bracket_host,
    info_digit,
    reply_peer,
    sipfrag_status,
    stamp_received,
)
from ivr.sip.timers import Scheduler, SipTimers
from ivr.sip.transaction import ClientTransaction, ServerTransaction, TransactionTable, server_key
from ivr.sip.transport import SipTransport
from ivr.sip.uac import OutboundCalls, ProgressFn
from ivr.sip.uas import ACCEPT, ALLOW, InboundCalls

log = logging.getLogger(__name__)

TransportFactory = Callable[[Callable[[bytes, Peer], None]], SipTransport]
RegisterHandler = Callable[[Request, Peer], Awaitable[Response]]
SHUTDOWN_BYE_S = 1.0  # how long stop() waits for each live call's BYE


@dataclass
class EndpointStats:
    """Counters for metrics and benchmarks."""

    received: int = 0
    malformed: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    calls_answered: int = 0
    calls_ended: int = 0
    calls_placed: int = 0


class Endpoint(Generic[C]):
    """One worker's SIP user agent; ``calls`` turns each accepted leg into a call."""

    def __init__(
        self,
        *,
        sip: SipSettings,
        media: MediaSettings,
        clock: MediaClock,
        ports: PortAllocator,
        sink: EventSink,
        calls: CallFactory[C],
        scheduler: Scheduler | None = None,
        answer_delay_s: float = 0.0,
        transport: TransportFactory | None = None,
    ) -> None:
        self.sip = sip
        self.media = LegMedia(settings=media, clock=clock, ports=ports)
        self.sink = sink
        self.calls = calls
        self.answer_delay_s = answer_delay_s
        self.timers = SipTimers(t1=sip.timer_t1_ms / 1000, t2=sip.timer_t2_ms / 1000)
        # the SIP sockets, or (behind a dispatcher) a relay with the same surface
        self.transport = (transport or SipTransport)(self.datagram)
        self._scheduler = scheduler
        self.tx = TransactionTable.empty()
        self.legs: LegTable[C] = LegTable()
        self.stats = EndpointStats()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.registration: Registration | None = None
        self.registrar: RegisterHandler | None = None  # officers' phones register here when set
        self.inbound = InboundCalls(self)
        self.outbound = OutboundCalls(self)

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the SIP transports and register when configured."""
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
                local_host=self.local_ip,
                local_port=lambda: self.transport.port,
                user_agent=self.sip.user_agent,
            )
            self.registration.start()
        log.info(
            "SIP listening on %s:%s (%s)", self.sip.host, self.transport.port, self.sip.transports
        )

    async def stop(self) -> None:
        """Unregister, say BYE on every confirmed leg, drop every transaction, close."""
        if self.registration is not None:
            await self.registration.stop()
        for server_tx in list(self.tx.server.values()):
            server_tx.abandon()
        self.outbound.abandon()
        for leg in self.legs.values():
            if leg.confirmed and not leg.terminated:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.hangup(leg), SHUTDOWN_BYE_S)
            self.release(leg, "shutdown")
        for task in list(self._tasks):
            task.cancel()
        for client_tx in list(self.tx.client.values()):
            client_tx.abandon()
        await self.transport.close()

    @property
    def active_calls(self) -> int:
        """Legs not yet terminated (what ``sip.max_calls`` limits)."""
        return sum(1 for leg in self.legs.values() if not leg.terminated)

    @property
    def scheduler(self) -> Scheduler:
        """The timers' scheduler: the event loop's unless one was injected."""
        assert self._scheduler is not None, "Endpoint.start() first"
        return self._scheduler

    # -- outbound ----------------------------------------------------------------------------
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
        """Place a call: INVITE ``target_uri`` and return the answered leg, its call built by
        the call factory. See :meth:`ivr.sip.uac.OutboundCalls.dial` for the errors raised."""
        return await self.outbound.dial(
            target_uri,
            from_uri=from_uri,
            auth=auth,
            timeout_s=timeout_s,
            cancel=cancel,
            on_progress=on_progress,
        )

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
                resp = make_response(msg, exc.status or 400, bad_request_reason(exc))
                self._send_response(resp, msg, peer)
        except Exception:
            log.exception("error handling SIP message from %s", peer)
            if isinstance(msg, Request) and msg.method != "ACK":
                with contextlib.suppress(Exception):
                    self._send_response(make_response(msg, 500), msg, peer)

    def _on_request(self, req: Request, peer: Peer) -> None:
        methods = SUPPORTED_METHODS if self.registrar is None else (*SUPPORTED_METHODS, "REGISTER")
        problem = check_request(req, supported_methods=methods)
        if problem is not None:
            self.count_reject(problem.status)
            if req.method != "ACK":
                self._send_response(problem, req, peer)
            return
        if req.method == "ACK":
            self.inbound.on_ack(req, peer)
            return
        existing = self.tx.server.get(server_key(req))
        if existing is not None:
            existing.receive_request(req)
            return
        if req.method == "CANCEL":
            self.inbound.on_cancel(req, peer)
            return
        if parse_name_addr(req.headers.get("To") or "").tag:
            leg = self.leg_for(req)
            if leg is None:
                self.respond_stateless(req, peer, 481)
            else:
                self._in_dialog(leg, req, peer)
            return
        self._out_of_dialog(req, peer)

    def _out_of_dialog(self, req: Request, peer: Peer) -> None:
        if req.method == "INVITE":
            self.inbound.new_invite(req, peer)
        elif req.method == "OPTIONS":
            headers = [("Allow", ALLOW), ("Accept", ACCEPT), *self.ua_headers()]
            resp = make_response(req, 200, to_tag=new_tag(), headers=headers)
            self.server_tx(req, peer).respond(resp)
        elif req.method == "REGISTER" and self.registrar is not None:
            self._on_register(req, peer, self.registrar)
        elif req.method in ("BYE", "INFO", "NOTIFY"):
            self.respond_stateless(req, peer, 481)
        else:
            self.respond_stateless(req, peer, 405, [("Allow", ALLOW)])

    def _on_register(self, req: Request, peer: Peer, registrar: RegisterHandler) -> None:
        tx = self.server_tx(req, peer)

        async def answer() -> None:
            try:
                resp = await registrar(req, peer)
            except Exception:  # the store failed: the phone retries later
                log.exception("registrar failed")
                resp = make_response(req, 500, headers=[("Retry-After", "30")])
            tx.respond(resp)

        self.keep(asyncio.get_running_loop().create_task(answer()))

    def _on_response(self, resp: Response) -> None:
        tx = self.tx.match_response(resp)
        if tx is None:
            return  # stray response: dropped
        tx.receive_response(resp)

    # -- in-dialog requests ----------------------------------------------------------------
    def _in_dialog(self, leg: Leg[C], req: Request, peer: Peer) -> None:
        if not leg.dialog.accepts_cseq(req):
            self.respond_stateless(req, peer, 500, [("Retry-After", "1")])
            return
        tx = self.server_tx(req, peer)
        if req.method == "BYE":
            tx.respond(make_response(req, 200))
            self.release(leg, "caller-bye")
        elif req.method == "INFO":
            self._on_info(leg, req, tx)
        elif req.method == "INVITE":
            self.inbound.reinvite(leg, req, tx)
        elif req.method == "NOTIFY":
            tx.respond(make_response(req, 200))
            self._on_notify(leg, req)
        elif req.method == "OPTIONS":
            tx.respond(make_response(req, 200, headers=[("Allow", ALLOW), ("Accept", ACCEPT)]))
        else:
            tx.respond(make_response(req, 405, headers=[("Allow", ALLOW)]))

    def _on_info(self, leg: Leg[C], req: Request, tx: ServerTransaction) -> None:
        digit = info_digit(req)
        if digit is None and req.body:
            accept = [("Accept", "application/dtmf-relay, application/dtmf")]
            tx.respond(make_response(req, 415, headers=accept))
            return
        tx.respond(make_response(req, 200))
        if digit is not None:
            leg.digit(digit, "info")

    def _on_notify(self, leg: Leg[C], req: Request) -> None:
        if (req.headers.get("Event") or "").split(";")[0].strip().lower() != "refer":
            return
        status = sipfrag_status(req.body)
        if status is None or status < 200:
            return
        outcome = TransferOutcome(ok=status < 300, status=status)
        for waiter in leg.refer_waiters:
            if not waiter.done():
                waiter.set_result(outcome)
        leg.refer_waiters.clear()

    # -- what a call asks of its leg (LegSignalling) ---------------------------------------------
    async def hangup(self, leg: Leg[Any]) -> None:
        """End the leg; BYE when its dialog is confirmed. Without an ACK the dialog never
        existed for the caller, so nothing is sent then."""
        if leg.terminated:
            if leg.call is not None:
                leg.call.end("ivr-bye")
            return
        self.release(leg, "ivr-bye")
        if leg.confirmed:
            await self.request(leg, "BYE")

    async def refer(self, leg: Leg[Any], target: str) -> TransferOutcome:
        """Transfer the peer with REFER; wait for the final NOTIFY, then hang up on success."""
        if leg.terminated:
            return TransferOutcome(ok=False, status=481, reason="call ended")
        waiter: asyncio.Future[TransferOutcome] = asyncio.get_running_loop().create_future()
        leg.refer_waiters.append(waiter)
        local = bracket_host(self.transport.local_ip_for(leg.dialog.peer.host))
        extra = [("Refer-To", f"<{target}>"), ("Referred-By", f"<sip:tongdai@{local}>")]
        resp = await self.request(leg, "REFER", extra=extra)
        if resp is None or resp.status >= 300:
            leg.refer_waiters.remove(waiter)
            status = resp.status if resp is not None else 408
            return TransferOutcome(ok=False, status=status, reason="REFER refused")
        try:
            outcome = await asyncio.wait_for(waiter, timeout=self.sip.refer_notify_timeout_s)
        except TimeoutError:
            return TransferOutcome(ok=False, status=408, reason="no final NOTIFY")
        if outcome.ok:
            await self.hangup(leg)
            if leg.call is not None:
                leg.call.end("transferred")
        return outcome

    # -- for the UAS and UAC halves ----------------------------------------------------------------
    async def request(
        self, leg: Leg[Any], method: str, *, extra: list[tuple[str, str]] | None = None
    ) -> Response | None:
        """Send an in-dialog request and wait for its final response (None: timeout)."""
        done: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

        def on_response(resp: Response) -> None:
            if resp.status >= 200 and not done.done():
                done.set_result(resp)

        def on_timeout() -> None:
            if not done.done():
                done.set_result(None)

        self.send_in_dialog(
            leg, method, extra=extra, on_response=on_response, on_timeout=on_timeout
        )
        return await done

    def send_in_dialog(
        self,
        leg: Leg[Any],
        method: str,
        *,
        extra: list[tuple[str, str]] | None = None,
        on_response: Callable[[Response], None] | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        """Start a non-INVITE client transaction inside the leg's dialog."""
        peer = leg.dialog.peer
        req = leg.dialog.make_request(
            method,
            via_host=bracket_host(self.local_ip(peer.host)),
            via_port=self.transport.port,
            extra=extra,
        )
        for name, value in self.ua_headers():
            req.headers.add(name, value)
        self.start_client(req, peer, on_response=on_response, on_timeout=on_timeout)

    def start_client(
        self,
        req: Request,
        peer: Peer,
        *,
        on_response: Callable[[Response], None] | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> ClientTransaction:
        """Send a non-INVITE request to ``peer`` in its own client transaction."""
        tx = ClientTransaction(
            req,
            send=lambda data: self.transport.send(data, peer),
            scheduler=self.scheduler,
            reliable=peer.reliable,
            timers=self.timers,
            on_response=on_response or (lambda r: None),
            on_timeout=on_timeout or (lambda: None),
            on_terminated=self.tx.drop_client,
        )
        self.tx.client[tx.key] = tx
        tx.start()
        return tx

    def server_tx(
        self,
        req: Request,
        peer: Peer,
        *,
        on_timeout: Callable[[ServerTransaction], None] | None = None,
    ) -> ServerTransaction:
        """A server transaction for ``req``, its responses routed back as §18.2.2 says."""
        reply = reply_peer(req, peer)
        tx = ServerTransaction(
            server_key(req),
            req,
            send=lambda data: self.transport.send(data, reply),
            scheduler=self.scheduler,
            reliable=peer.reliable,
            timers=self.timers,
            on_terminated=self.tx.drop_server,
            on_timeout=on_timeout,
            prepare=lambda resp: stamp_received(resp, peer),
        )
        self.tx.server[tx.key] = tx
        return tx

    def adopt(self, leg: Leg[C]) -> None:
        """An accepted leg: into the table, then handed up to the call factory."""
        self.legs.add(leg)
        leg.call = self.calls(leg)

    def leg_for(self, req: Request) -> Leg[C] | None:
        """The leg of an in-dialog request (Call-ID and our tag, checked against theirs)."""
        call_id = req.headers.get("Call-ID") or ""
        to_tag = parse_name_addr(req.headers.get("To") or "").tag or ""
        leg = self.legs.get(call_id, to_tag)
        if leg is None:
            return None
        from_tag = parse_name_addr(req.headers.get("From") or "").tag or ""
        if leg.dialog.remote_tag and from_tag != leg.dialog.remote_tag:
            return None
        return leg

    def media_timeout(self, leg: Leg[C]) -> None:
        """No RTP from the peer for the media inactivity timeout: hang up."""
        if leg.terminated or not leg.confirmed or (leg.call is not None and leg.call.on_hold):
            return
        log.info("RTP inactivity on %s: hanging up", leg.dialog.call_id)
        self.sink.emit(CallError(call_id=leg.dialog.call_id, code=ErrorCode.MEDIA_TIMEOUT))
        # Not from inside the stream's tick: the BYE goes from a task of its own.
        self.keep(asyncio.get_running_loop().create_task(self._bye_media_timeout(leg)))

    async def _bye_media_timeout(self, leg: Leg[C]) -> None:
        self.release(leg, "media-timeout")
        await self.request(leg, "BYE")

    def release(self, leg: Leg[Any], reason: str) -> None:
        """The leg is over: media off, the call ended, REFER waiters told, forgotten later."""
        if leg.terminated:
            return
        leg.terminated = True
        self.media.stop(leg)
        if leg.call is not None:
            leg.call.end(reason)
        self.stats.calls_ended += 1
        for waiter in leg.refer_waiters:
            if not waiter.done():
                waiter.set_result(TransferOutcome(ok=False, status=487, reason="call ended"))
        # Keep the leg a little for retransmitted BYEs/ACKs, then forget it.
        self.scheduler.call_later(self.timers.timeout, lambda: self.legs.forget(leg))

    def local_ip(self, remote_host: str) -> str:
        """Our address as ``remote_host`` sees it (or the configured public one)."""
        return self.sip.public_address or self.transport.local_ip_for(remote_host)

    def bind_host(self, local_ip: str) -> str:
        """Where RTP sockets bind: the SIP host, or the local address when it is a wildcard."""
        return local_ip if self.sip.host in ("0.0.0.0", "") else self.sip.host

    def contact(self, local_ip: str, transport: str) -> str:
        """Our Contact header value for dialogs over ``transport``."""
        return f"<sip:tongdai@{bracket_host(local_ip)}:{self.transport.port};transport={transport}>"

    def respond_stateless(
        self, req: Request, peer: Peer, status: int, headers: list[tuple[str, str]] | None = None
    ) -> None:
        """Answer ``req`` outside any transaction (counted as a rejection; never an ACK)."""
        self.count_reject(status)
        if req.method == "ACK":
            return
        self._send_response(make_response(req, status, headers=headers or []), req, peer)

    def count_reject(self, status: int) -> None:
        """Count a refused request by status, for metrics and the capacity benchmark."""
        self.stats.rejected[status] = self.stats.rejected.get(status, 0) + 1

    def ua_headers(self) -> list[tuple[str, str]]:
        """The headers naming our user agent."""
        return [("User-Agent", self.sip.user_agent)]

    def pause(self, delay_s: float) -> asyncio.Future[None]:
        """A future done ``delay_s`` from now on the endpoint's scheduler (virtual in tests);
        cancelling it cancels the timer."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fire() -> None:
            if not done.done():
                done.set_result(None)

        handle = self.scheduler.call_later(delay_s, fire)
        done.add_done_callback(lambda _: handle.cancel())
        return done

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to a background task until it is done."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send_response(self, resp: Response, req: Request, peer: Peer) -> None:
        stamp_received(resp, peer)
        self.transport.send(serialize(resp), reply_peer(req, peer))

    def _reject_unparsable(self, data: bytes, peer: Peer, exc: SipParseError) -> None:
        """Answer a request we could not parse with 400 when its routing headers are readable."""
        resp = best_effort_error(data, exc.status or 400, bad_request_reason(exc))
        if resp is None:
            return
        self.count_reject(resp.status)
        stamp_received(resp, peer)
        self.transport.send(serialize(resp), peer)


class _LoopScheduler:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay, callback)

    def time(self) -> float:
        return self._loop.time()


__all__ = ["Endpoint", "EndpointStats", "best_effort_error", "reply_peer"]
