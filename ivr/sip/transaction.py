"""SIP transactions (RFC 3261 §17, with the INVITE 'Accepted' state of RFC 6026).

Pure state machines: the scheduler and the send function are injected, so tests drive them with a
virtual clock and no sockets. Each transaction owns its retransmissions and timeouts; the
endpoint (the transaction user) only sees requests, responses and timeouts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ivr.sip.message import Request, Response, parse_cseq, parse_name_addr, parse_via, serialize
from ivr.sip.timers import Scheduler, SipTimers, TimerHandle

MAGIC_COOKIE = "z9hG4bK"

SendFn = Callable[[bytes], None]


class State(enum.Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


ServerKey = tuple[str, ...]


def server_key(req: Request, *, method: str | None = None) -> ServerKey:
    """Transaction key of a request (§17.2.3). ACK and CANCEL look up the INVITE with
    ``method="INVITE"``. Requests without the RFC 3261 magic cookie use RFC 2543 matching."""
    via = parse_via(req.headers.get_all("Via")[0])
    wanted = method or req.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, via.host.lower(), str(via.port or ""), wanted)
    call_id = req.headers.get("Call-ID") or ""
    from_tag = parse_name_addr(req.headers.get("From") or "").tag or ""
    cseq_number, _ = parse_cseq(req.headers.get("CSeq") or "")
    return ("2543", call_id, from_tag, str(cseq_number), via.host.lower(), wanted)


class _Timers:
    """A transaction's named timers, all cancelled together when it terminates."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._handles: dict[str, TimerHandle] = {}

    def start(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self.stop(name)
        self._handles[name] = self._scheduler.call_later(delay, callback)

    def stop(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def stop_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()


class ServerTransaction:
    """A server transaction, INVITE or non-INVITE.

    INVITE: Proceeding -(2xx)-> Accepted (2xx retransmitted until ACK, Timer L) ;
            Proceeding -(3xx-6xx)-> Completed (Timer G retransmits, Timer H) -(ACK)-> Confirmed
            (Timer I) -> Terminated.
    non-INVITE: Trying -(1xx)-> Proceeding -(final)-> Completed (Timer J) -> Terminated.
    """

    def __init__(
        self,
        key: ServerKey,
        request: Request,
        *,
        send: SendFn,
        scheduler: Scheduler,
        reliable: bool,
        timers: SipTimers,
        on_terminated: Callable[[ServerTransaction], None],
        on_timeout: Callable[[ServerTransaction], None] | None = None,
        prepare: Callable[[Response], None] | None = None,
    ) -> None:
        self.key = key
        self._prepare = prepare  # e.g. stamps received/rport into the top Via
        self.request = request
        self.is_invite = request.method == "INVITE"
        self.state = State.PROCEEDING if self.is_invite else State.TRYING
        self.last_response: Response | None = None
        self._wire: bytes | None = None
        self._send = send
        self._reliable = reliable
        self._t = timers
        self._timers = _Timers(scheduler)
        self._on_terminated = on_terminated
        self._on_timeout = on_timeout
        self._interval = timers.t1

    @property
    def final_sent(self) -> bool:
        return self.last_response is not None and self.last_response.status >= 200

    def receive_request(self, req: Request) -> None:
        """A retransmission of the request (or the ACK of a non-2xx final response)."""
        if req.method == "ACK":
            if self.state is State.COMPLETED:
                self.state = State.CONFIRMED
                self._timers.stop("G")
                self._timers.stop("H")
                self._timers.start("I", 0 if self._reliable else self._t.t4, self._terminate)
            elif self.state is State.ACCEPTED:
                self.ack_received()
            return
        if self.state in (State.PROCEEDING, State.COMPLETED) and self._wire is not None:
            self._send(self._wire)
        # Trying, Accepted, Confirmed: absorbed.

    def respond(self, resp: Response) -> None:
        """Send a response from the transaction user."""
        if self.state in (State.COMPLETED, State.CONFIRMED, State.TERMINATED):
            return
        if self._prepare is not None:
            self._prepare(resp)
        if self.state is State.ACCEPTED:
            if resp.status // 100 == 2:  # the TU may resend its 2xx
                self._send(serialize(resp))
            return
        self.last_response = resp
        self._wire = serialize(resp)
        self._send(self._wire)
        if resp.status < 200:
            if self.state is State.TRYING:
                self.state = State.PROCEEDING
            return
        if self.is_invite and resp.status < 300:
            self.state = State.ACCEPTED
            self._interval = self._t.t1
            self._timers.start("G2xx", self._interval, self._retransmit_2xx)
            self._timers.start("L", self._t.timeout, self._timeout)
        elif self.is_invite:
            self.state = State.COMPLETED
            if not self._reliable:
                self._interval = self._t.t1
                self._timers.start("G", self._interval, self._retransmit_final)
            self._timers.start("H", self._t.timeout, self._timeout)
        else:
            self.state = State.COMPLETED
            self._timers.start("J", 0 if self._reliable else self._t.timeout, self._terminate)

    def ack_received(self) -> None:
        """The dialog saw the ACK of our 2xx: stop retransmitting it."""
        if self.state is State.ACCEPTED:
            self._terminate()

    def abandon(self) -> None:
        """Stop every timer without callbacks (the endpoint is shutting down)."""
        self._on_timeout = None
        self._terminate()

    def _retransmit_2xx(self) -> None:
        if self.state is not State.ACCEPTED or self._wire is None:
            return
        self._send(self._wire)
        self._interval = self._t.next_interval(self._interval)
        self._timers.start("G2xx", self._interval, self._retransmit_2xx)

    def _retransmit_final(self) -> None:
        if self.state is not State.COMPLETED or self._wire is None:
            return
        self._send(self._wire)
        self._interval = self._t.next_interval(self._interval)
        self._timers.start("G", self._interval, self._retransmit_final)

    def _timeout(self) -> None:
        callback = self._on_timeout
        self._terminate()
        if callback is not None:
            callback(self)

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._timers.stop_all()
        self._on_terminated(self)


class ClientTransaction:
    """A non-INVITE client transaction (BYE, REFER, NOTIFY, OPTIONS, REGISTER, INFO).

    Trying -(1xx)-> Proceeding -(final)-> Completed (Timer K) -> Terminated; Timer E retransmits
    over UDP, Timer F (64*T1) gives up and reports a timeout (the TU treats it as 408).
    """

    def __init__(
        self,
        request: Request,
        *,
        send: SendFn,
        scheduler: Scheduler,
        reliable: bool,
        timers: SipTimers,
        on_response: Callable[[Response], None],
        on_timeout: Callable[[], None],
        on_terminated: Callable[[ClientTransaction], None],
    ) -> None:
        self.request = request
        via = parse_via(request.headers.get_all("Via")[0])
        self.key = (via.branch or "", request.method)
        self.state = State.TRYING
        self._wire = serialize(request)
        self._send = send
        self._reliable = reliable
        self._t = timers
        self._timers = _Timers(scheduler)
        self._on_response = on_response
        self._on_timeout = on_timeout
        self._on_terminated = on_terminated
        self._interval = timers.t1

    def start(self) -> None:
        self._send(self._wire)
        if not self._reliable:
            self._timers.start("E", self._interval, self._retransmit)
        self._timers.start("F", self._t.timeout, self._timeout)

    def receive_response(self, resp: Response) -> None:
        if self.state in (State.COMPLETED, State.TERMINATED):
            return  # retransmitted final response: absorbed
        if resp.status < 200:
            self.state = State.PROCEEDING
            self._on_response(resp)
            return
        self.state = State.COMPLETED
        self._timers.stop("E")
        self._timers.stop("F")
        self._timers.start("K", 0 if self._reliable else self._t.t4, self._terminate)
        self._on_response(resp)

    def abandon(self) -> None:
        """Stop every timer without reporting a timeout (the endpoint is shutting down)."""
        self._terminate()

    def _retransmit(self) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        self._send(self._wire)
        if self.state is State.PROCEEDING:
            self._interval = self._t.t2
        else:
            self._interval = self._t.next_interval(self._interval)
        self._timers.start("E", self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state in (State.COMPLETED, State.TERMINATED):
            return
        self._terminate()
        self._on_timeout()

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._timers.stop_all()
        self._on_terminated(self)


class ClientSide(Protocol):
    """A client transaction as the table sees it (non-INVITE here, INVITE in
    :mod:`ivr.sip.invite_client`)."""

    @property
    def key(self) -> tuple[str, str]: ...

    def receive_response(self, resp: Response) -> None: ...

    def abandon(self) -> None: ...


@dataclass
class TransactionTable:
    """The live transactions, by key. Terminated transactions remove themselves."""

    server: dict[ServerKey, ServerTransaction]
    client: dict[tuple[str, str], ClientSide]

    @classmethod
    def empty(cls) -> TransactionTable:
        return cls(server={}, client={})

    def drop_server(self, tx: ServerTransaction) -> None:
        if self.server.get(tx.key) is tx:
            del self.server[tx.key]

    def drop_client(self, tx: ClientSide) -> None:
        if self.client.get(tx.key) is tx:
            del self.client[tx.key]

    def match_response(self, resp: Response) -> ClientSide | None:
        vias = resp.headers.get_all("Via")
        if not vias:
            return None
        branch = parse_via(vias[0]).branch or ""
        _, method = parse_cseq(resp.headers.get("CSeq") or "")
        return self.client.get((branch, method))
