"""The INVITE client transaction (RFC 3261 §17.1.1, with the 'Accepted' state of RFC 6026).

Calling -(1xx)-> Proceeding; Calling/Proceeding -(2xx)-> Accepted (every 2xx, retransmissions
included, goes to the TU, which sends the ACK; Timer M ends it); -(3xx-6xx)-> Completed (the
transaction ACKs the final response itself, hop by hop, and again for each retransmission until
Timer D). Timer A retransmits the INVITE over UDP, Timer B gives up when nothing came back.
Pure state machine: the scheduler and the send function are injected.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.sip.message import Headers, Request, Response, parse_cseq, parse_via, serialize
from ivr.sip.timers import Scheduler, SipTimers
from ivr.sip.transaction import SendFn, State, _Timers

TIMER_D_UNRELIABLE_S = 32.0  # §17.1.1.2: at least 32 s over UDP


class InviteClientTransaction:
    """One INVITE we sent and the responses that come back to it."""

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
        on_terminated: Callable[[InviteClientTransaction], None],
    ) -> None:
        self.request = request
        via = parse_via(request.headers.get_all("Via")[0])
        self.key = (via.branch or "", "INVITE")
        self.state = State.TRYING  # "Calling"
        self._wire = serialize(request)
        self._ack: bytes | None = None
        self._send = send
        self._reliable = reliable
        self._t = timers
        self._timers = _Timers(scheduler)
        self._on_response = on_response
        self._on_timeout = on_timeout
        self._on_terminated = on_terminated
        self._interval = timers.t1

    @property
    def provisional_seen(self) -> bool:
        """Whether a provisional response came (a CANCEL may be sent only then, §9.1)."""
        return self.state is not State.TRYING

    def start(self) -> None:
        self._send(self._wire)
        if not self._reliable:
            self._timers.start("A", self._interval, self._retransmit)
        self._timers.start("B", self._t.timeout, self._timeout)

    def receive_response(self, resp: Response) -> None:
        if self.state in (State.TRYING, State.PROCEEDING):
            if resp.status < 200:
                self.state = State.PROCEEDING
                self._timers.stop("A")
            elif resp.status < 300:
                self._accepted()
            else:
                self._completed(resp)
            self._on_response(resp)
        elif self.state is State.ACCEPTED and 200 <= resp.status < 300:
            self._on_response(resp)  # a retransmitted 2xx: the TU acknowledges it again
        elif self.state is State.COMPLETED and resp.status >= 300 and self._ack is not None:
            self._send(self._ack)  # our ACK was lost

    def abandon(self) -> None:
        """Stop every timer without reporting a timeout (the endpoint is shutting down)."""
        self._terminate()

    def _accepted(self) -> None:
        self.state = State.ACCEPTED
        self._timers.stop("A")
        self._timers.stop("B")
        self._timers.start("M", self._t.timeout, self._terminate)

    def _completed(self, resp: Response) -> None:
        self.state = State.COMPLETED
        self._timers.stop("A")
        self._timers.stop("B")
        self._ack = serialize(ack_for_error(self.request, resp))
        self._send(self._ack)
        self._timers.start("D", 0 if self._reliable else TIMER_D_UNRELIABLE_S, self._terminate)

    def _retransmit(self) -> None:
        if self.state is not State.TRYING:
            return
        self._send(self._wire)
        self._interval *= 2  # Timer A doubles without the T2 cap
        self._timers.start("A", self._interval, self._retransmit)

    def _timeout(self) -> None:
        if self.state is not State.TRYING:
            return
        self._terminate()
        self._on_timeout()

    def _terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        self._timers.stop_all()
        self._on_terminated(self)


def ack_for_error(invite: Request, resp: Response) -> Request:
    """The ACK of a non-2xx final response (§17.1.1.3): the INVITE's Request-URI, top Via,
    Call-ID, From and Route, the response's To, and the INVITE's CSeq number."""
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.get_all("Route"):
        h.add("Route", route)
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("From") or "")
    h.add("To", resp.headers.get("To") or invite.headers.get("To") or "")
    h.add("Call-ID", invite.headers.get("Call-ID") or "")
    number, _ = parse_cseq(invite.headers.get("CSeq") or "")
    h.add("CSeq", f"{number} ACK")
    return Request(method="ACK", uri=invite.uri, headers=h, body=b"")


__all__ = ["InviteClientTransaction", "ack_for_error"]
