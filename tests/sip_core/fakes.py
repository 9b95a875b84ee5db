"""Fakes for driving an :class:`Endpoint` without SIP sockets or wall-clock waits.

:class:`FakeTransport` stands where the SIP sockets stand: the endpoint writes to it, the test
reads what was written and delivers what a peer would send. :class:`FakeCall` is what a call
factory builds: it records what the endpoint told it. The RTP streams of the legs are real
(sockets on loopback, never ticked: the media clock is not started), the scheduler is a
:class:`VirtualClock`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.events import CallEvent
from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.settings import MediaSettings, SipSettings
from ivr.sip.dialog import Peer
from ivr.sip.endpoint import Endpoint
from ivr.sip.legs import Leg
from ivr.sip.message import Request, Response, SipMessage, make_response, parse, serialize
from tests.sip_core.virtual_clock import VirtualClock

PEER = Peer("udp", "127.0.0.1", 5099)
LOCAL_IP = "127.0.0.1"


class FakeTransport:
    """The SIP transport surface (start, port, local_ip_for, send, close) over lists."""

    def __init__(self, on_data: Callable[[bytes, Peer], None]) -> None:
        self.on_data = on_data
        self.port = 5060
        self.sent: list[tuple[bytes, Peer]] = []
        self.started = False
        self.closed = False

    async def start(self, host: str, port: int, transports: list[str]) -> None:
        self.started = True

    def local_ip_for(self, remote_host: str) -> str:
        return LOCAL_IP

    def send(self, data: bytes, peer: Peer) -> None:
        self.sent.append((data, peer))

    async def close(self) -> None:
        self.closed = True

    # -- the test's side ---------------------------------------------------------------------
    def deliver(self, data: bytes | SipMessage, peer: Peer = PEER) -> None:
        """A message from the peer."""
        self.on_data(data if isinstance(data, bytes) else serialize(data), peer)

    def messages(self) -> list[SipMessage]:
        return [parse(data) for data, _ in self.sent]

    def take(self) -> list[SipMessage]:
        """Everything sent since the last take."""
        out = self.messages()
        self.sent.clear()
        return out

    def responses(self) -> list[Response]:
        return [m for m in self.messages() if isinstance(m, Response)]

    def requests(self, method: str | None = None) -> list[Request]:
        return [
            m
            for m in self.messages()
            if isinstance(m, Request) and (method is None or m.method == method)
        ]

    def statuses(self) -> list[int]:
        return [r.status for r in self.responses()]


@dataclass
class FakeCall:
    """A call as the factory builds it: records what the endpoint says."""

    leg: Leg[FakeCall]
    answered_count: int = 0
    digits: list[tuple[str, str]] = field(default_factory=list)
    holds: list[bool] = field(default_factory=list)
    end_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    @property
    def on_hold(self) -> bool:
        return bool(self.holds and self.holds[-1])

    def answered(self) -> None:
        self.answered_count += 1

    def digit(self, digit: str, source: str) -> None:
        self.digits.append((digit, source))

    def set_hold(self, on_hold: bool) -> None:
        self.holds.append(on_hold)

    def end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason


class EventList:
    """An event sink keeping what it is given."""

    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def emit(self, event: CallEvent) -> None:
        self.events.append(event)


@dataclass
class Rig:
    """An endpoint over a fake transport and a virtual clock, with its calls."""

    endpoint: Endpoint[FakeCall]
    transport: FakeTransport
    clock: VirtualClock
    calls: list[FakeCall]
    sink: EventList
    ports: PortAllocator

    async def settle(self, until: Callable[[], bool] = lambda: False, rounds: int = 200) -> None:
        """Let the endpoint's tasks run (binding an RTP socket takes a few loop turns) until
        ``until()`` holds; yields to the loop, never sleeps on the wall clock."""
        for _ in range(rounds):
            if until():
                return
            await asyncio.sleep(0)


async def make_rig(*, answer_delay_s: float = 0.0, port_min: int = 45000) -> Rig:
    clock = VirtualClock()
    calls: list[FakeCall] = []
    sink = EventList()
    media = MediaSettings(rtp_port_min=port_min, rtp_port_max=port_min + 199)
    ports = PortAllocator.from_settings(media)

    def factory(leg: Leg[FakeCall]) -> FakeCall:
        call = FakeCall(leg)
        calls.append(call)
        return call

    endpoint: Endpoint[FakeCall] = Endpoint(
        sip=SipSettings(host="127.0.0.1", port=5060, transports=["udp"]),
        media=media,
        clock=MediaClock(),
        ports=ports,
        sink=sink,
        calls=factory,
        scheduler=clock,
        answer_delay_s=answer_delay_s,
        transport=FakeTransport,  # type: ignore[arg-type]
    )
    await endpoint.start()
    transport = endpoint.transport
    assert isinstance(transport, FakeTransport)
    return Rig(endpoint, transport, clock, calls, sink, ports)


# -- what a peer sends -------------------------------------------------------------------------
SDP_OFFER = (
    "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 42000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
)


def sdp_body(direction: str = "sendrecv", port: int = 42000, version: int = 1) -> str:
    return (
        SDP_OFFER.replace("a=sendrecv", f"a={direction}")
        .replace("m=audio 42000", f"m=audio {port}")
        .replace("o=peer 1 1", f"o=peer 1 {version}")
    )


def invite(
    call_id: str = "call-1",
    *,
    body: str = SDP_OFFER,
    branch: str = "z9hG4bK-inv1",
    cseq: int = 1,
    to_tag: str | None = None,
    from_tag: str = "peer1",
) -> bytes:
    to = "<sip:hotline@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    head = (
        f"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n"
        f"From: <sip:0901234567@127.0.0.1>;tag={from_tag}\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        f"Contact: <sip:0901234567@127.0.0.1:5099>\r\n"
        f"Max-Forwards: 70\r\n"
    )
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def in_dialog(
    method: str,
    *,
    call_id: str,
    to_tag: str,
    cseq: int,
    branch: str,
    from_tag: str = "peer1",
    extra: str = "",
    body: str = "",
) -> bytes:
    """A request from the peer inside the dialog (ACK, BYE, re-INVITE, NOTIFY...)."""
    head = (
        f"{method} sip:tongdai@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n"
        f"From: <sip:0901234567@127.0.0.1>;tag={from_tag}\r\n"
        f"To: <sip:hotline@127.0.0.1>;tag={to_tag}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"Max-Forwards: 70\r\n{extra}"
    )
    return (head + f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def cancel(call_id: str = "call-1", branch: str = "z9hG4bK-inv1") -> bytes:
    return (
        f"CANCEL sip:hotline@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n"
        f"From: <sip:0901234567@127.0.0.1>;tag=peer1\r\n"
        f"To: <sip:hotline@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 CANCEL\r\n"
        f"Max-Forwards: 70\r\n"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def answer(
    req: Request,
    status: int,
    *,
    to_tag: str | None = "callee1",
    body: str = "",
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """A response of the peer (as UAS) to one of our requests."""
    extra = list(headers or [])
    if status >= 200 and status < 300 and req.method == "INVITE":
        extra.append(("Contact", "<sip:officer@127.0.0.1:5099>"))
    return make_response(
        req,
        status,
        to_tag=to_tag if status > 100 else None,
        headers=extra,
        body=body.encode(),
        content_type="application/sdp" if body else None,
    )
