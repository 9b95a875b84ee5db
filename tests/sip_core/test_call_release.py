"""A finished call is garbage: once the endpoint forgets its leg, the call and its RTP stream
are freed by reference counting alone, with the cyclic collector switched off, and while the
leg is still kept (for retransmitted BYEs) the call holds no prompt audio.

A hotline runs for weeks at thousands of calls an hour: anything a finished call keeps alive
grows the process. The call here is the real :class:`ivr.call.Call` on a real RTP stream ticked
by a running media clock; it plays a prompt (filling the echo guard's reference), takes an
RFC 4733 digit sent over UDP, and the caller hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import struct
import weakref
from collections.abc import Iterator

import pytest

from ivr.call import Call
from ivr.channel import Audio, CallerHungUp
from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.settings import MediaSettings, SipSettings
from ivr.sip.endpoint import Endpoint
from ivr.sip.legs import Leg
from ivr.sip.message import Response, parse_name_addr
from tests.sip_core.fakes import EventList, FakeTransport, in_dialog, invite, sdp_body
from tests.sip_core.virtual_clock import VirtualClock

PROMPT_S = 5.0


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _holders(thing: object) -> list[str]:
    """What still refers to ``thing`` (for the failure message)."""
    return [type(holder).__name__ for holder in gc.get_referrers(thing)]


def _digit_packets(digit: int) -> list[bytes]:
    """An RFC 4733 event (payload type 101): three updates and the end packet."""
    packets = []
    for n, end in enumerate((False, False, False, True)):
        payload = struct.pack("!BBH", digit, 0x80 | 10 if end else 10, 160 * (n + 1))
        packets.append(rtp.build(101, 1000 + n, 8000, 0x1234, payload, n == 0))
    return packets


async def test_a_finished_call_is_freed_without_the_cyclic_collector(no_cyclic_gc: None) -> None:
    loop = asyncio.get_running_loop()
    caller_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller_rtp.bind(("127.0.0.1", 0))
    caller_rtp.setblocking(False)
    caller_port = caller_rtp.getsockname()[1]
    scheduler = VirtualClock()
    media = MediaSettings(rtp_port_min=46000, rtp_port_max=46199)
    clock = MediaClock(period_s=media.ptime_ms / 1000)
    sink = EventList()
    heard: list[str | None] = []
    calls: list[Call] = []

    async def handler(call: Call) -> None:
        prompt = Audio(pcm=b"\x10\x00" * int(8000 * PROMPT_S), rate=8000)
        outcome = await call.play(prompt)
        heard.append(outcome.digit)
        call.flush_digits()
        with contextlib.suppress(CallerHungUp):
            await call.next_digit(30.0)  # the caller hangs up while we wait

    def factory(leg: Leg[Call]) -> Call:
        call = Call(info=leg.info, stream=leg.stream, signalling=leg, sink=sink, handler=handler)
        calls.append(call)
        return call

    endpoint: Endpoint[Call] = Endpoint(
        sip=SipSettings(host="127.0.0.1", port=5060, transports=["udp"]),
        media=media,
        clock=clock,
        ports=PortAllocator.from_settings(media),
        sink=sink,
        calls=factory,
        scheduler=scheduler,
        transport=FakeTransport,  # type: ignore[arg-type]
    )
    clock.start()
    await endpoint.start()
    transport = endpoint.transport
    assert isinstance(transport, FakeTransport)
    try:
        transport.deliver(invite("call-1", body=sdp_body(port=caller_port)))
        for _ in range(200):
            if 200 in transport.statuses():
                break
            await asyncio.sleep(0)
        [ok] = [r for r in transport.responses() if r.status == 200]
        assert isinstance(ok, Response)
        tag = parse_name_addr(ok.headers.get("To") or "").tag or ""
        transport.deliver(
            in_dialog("ACK", call_id="call-1", to_tag=tag, cseq=1, branch="z9hG4bK-ack1")
        )
        [call] = calls
        our_port = call.stream.local_port
        # the prompt plays: our RTP reaches the caller's socket
        first = await asyncio.wait_for(loop.sock_recv(caller_rtp, 2048), 5.0)
        assert len(first) == 12 + 160
        for packet in _digit_packets(5):
            caller_rtp.sendto(packet, ("127.0.0.1", our_port))
        for _ in range(300):
            if heard:
                break
            await asyncio.sleep(0.01)
        assert heard == ["5"]  # barge-in on the digit: the call really ran

        transport.deliver(
            in_dialog("BYE", call_id="call-1", to_tag=tag, cseq=2, branch="z9hG4bK-bye1")
        )
        assert call.end_reason == "caller-bye"
        assert call.handler is not None
        await asyncio.wait_for(call.handler, 5.0)
        # Still kept by the endpoint for retransmissions: it holds no prompt energy any more.
        assert len(endpoint.legs) == 1
        assert call.echo_reference._energy.nbytes <= 8

        call_ref = weakref.ref(call)
        stream_ref = weakref.ref(call.stream)
        handler_task = call.handler
        del call, calls[:], handler_task
        scheduler.advance(endpoint.timers.timeout + 1)  # the leg is forgotten
        assert len(endpoint.legs) == 0
        for _ in range(5):  # the transport's connection_lost callback runs on the loop
            await asyncio.sleep(0)
        assert call_ref() is None, _holders(call_ref())
        assert stream_ref() is None, _holders(stream_ref())
    finally:
        await endpoint.stop()
        await clock.close()
        caller_rtp.close()
