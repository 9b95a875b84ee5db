"""The pass-through relay between two real streams: packets sent by one UDP peer reach the other
peer through two MediaStreams on their own sockets, converted, renumbered and on time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from core import g711
from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.passthrough import Passthrough
from ivr.media.rtp import TelephoneEvent
from ivr.media.stream import PCMA, PCMU, RELAY_COVER_S, Codec, MediaStream
from tests.media.test_stream import HOST, Digits, Peer, open_peer, open_stream

PEER_SSRC = 0x0BADCAFE


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    clock = MediaClock()  # the real 20 ms period: the relay's timing is what is tested
    clock.start()
    yield clock
    await clock.close()


class Bridge:
    """Caller peer -> stream a -> (passthrough) -> stream b -> officer peer, and back."""

    def __init__(self, caller: Peer, officer: Peer, a: MediaStream, b: MediaStream) -> None:
        self.caller, self.officer, self.a, self.b = caller, officer, a, b
        self.up = Passthrough(a, b, probe_every=1)
        self.down = Passthrough(b, a, probe_every=1)
        self.up.start()
        self.down.start()

    def close(self) -> None:
        self.up.stop()
        self.down.stop()
        for stream in (self.a, self.b):
            stream.close()
        for peer in (self.caller, self.officer):
            assert peer.transport is not None
            peer.transport.close()


async def open_bridge(
    clock: MediaClock,
    caller_codec: Codec = PCMA,
    officer_codec: Codec = PCMU,
    officer_dtmf: int | None = 96,
) -> Bridge:
    caller, officer = await open_peer(), await open_peer()
    a = await open_stream(clock, (HOST, caller.port), codec=caller_codec)
    b = await open_stream(
        clock, (HOST, officer.port), codec=officer_codec, dtmf_payload_type=officer_dtmf
    )
    return Bridge(caller, officer, a, b)


def audio_packet(seq: int, ts: int, payload: bytes, pt: int = 8, marker: bool = False) -> bytes:
    return rtp.build(pt, seq, ts, PEER_SSRC, payload, marker)


async def send_paced(peer: Peer, port: int, packets: list[bytes], gap_s: float = 0.02) -> None:
    for packet in packets:
        peer.send(packet, port)
        await asyncio.sleep(gap_s)


def relayed(peer: Peer, stream: MediaStream) -> list[rtp.RtpPacket]:
    """What `peer` got from `stream` that is not the stream's own silence."""
    return [p for p in peer.received if p.ssrc == stream.ssrc and p.payload != stream._silence]


async def test_pcma_is_converted_to_pcmu_packet_by_packet_with_the_targets_numbering(
    clock: MediaClock,
) -> None:
    bridge = await open_bridge(clock)
    try:
        speech = [bytes((i * 7 + k) % 256 for k in range(160)) for i in range(25)]
        packets = [
            audio_packet(1000 + i, 5000 + 160 * i, p, marker=i == 0) for i, p in enumerate(speech)
        ]
        await send_paced(bridge.caller, bridge.a.local_port, packets)
        await asyncio.sleep(0.05)
    finally:
        bridge.close()
    got = [p for p in bridge.officer.received if p.payload_type == 0]
    # every payload arrives, converted through the 16-bit sample the reference algorithm gives
    expected = [g711.ulaw_encode(g711.alaw_decode(p)) for p in speech]
    relayed_payloads = [p.payload for p in got if p.payload in expected]
    assert relayed_payloads == expected
    first = next(i for i, p in enumerate(got) if p.payload == expected[0])
    run = got[first : first + len(speech)]
    assert {p.ssrc for p in run} == {bridge.b.ssrc}
    assert all(rtp.seq_delta(q.sequence, p.sequence) == 1 for p, q in itertools.pairwise(run))
    assert all(rtp.ts_delta(q.timestamp, p.timestamp) == 160 for p, q in itertools.pairwise(run))
    assert run[0].marker and not any(p.marker for p in run[1:])
    stats = bridge.up.stats
    assert stats.relayed == len(speech) and stats.transcoded == len(speech)
    # sent from the datagram callback: the added delay is the time to read and send one packet
    assert stats.added_delay.count >= len(speech) - 1
    assert stats.added_delay.percentile(0.5) < 0.005
    assert 0.015 < stats.send_intervals.percentile(0.5) < 0.030


async def test_same_codec_is_copied_and_the_clock_sends_nothing_while_packets_come(
    clock: MediaClock,
) -> None:
    bridge = await open_bridge(clock, officer_codec=PCMA)
    try:
        await asyncio.sleep(0.1)  # the clock's own silence first
        before = len(bridge.officer.received)
        payload = bytes(range(160))
        packets = [audio_packet(i, 160 * i, payload) for i in range(50)]
        await send_paced(bridge.caller, bridge.a.local_port, packets)
        during = len(bridge.officer.received) - before
        await asyncio.sleep(RELAY_COVER_S + 0.2)  # the relay stopped: the clock takes over
    finally:
        bridge.close()
    assert during <= 50 + 2  # the relayed packets, not relayed packets plus the clock's
    got = bridge.officer.received
    copies = [i for i, p in enumerate(got) if p.payload == payload]
    assert len(copies) == 50 and bridge.up.stats.transcoded == 0
    after = got[copies[-1] + 1 :]
    assert len(after) >= 5 and after[0].marker  # silence again, as a new talk-spurt...
    assert rtp.ts_delta(after[0].timestamp, got[copies[-1]].timestamp) >= 160  # ...later on


async def test_digits_pass_through_with_the_other_legs_payload_type(clock: MediaClock) -> None:
    bridge = await open_bridge(clock, officer_dtmf=96)
    try:
        for step in range(3):
            event = TelephoneEvent(5, end=step == 2, duration=160 * (step + 1))
            packet = audio_packet(10 + step, 8000, event.serialize(), pt=101, marker=step == 0)
            bridge.caller.send(packet, bridge.a.local_port)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        on_digit = bridge.a._on_digit  # read before close, which lets the callback go
    finally:
        bridge.close()
    events = [p for p in bridge.officer.received if p.payload_type == 96]
    assert [TelephoneEvent.parse(p.payload).event for p in events] == [5, 5, 5]
    assert events[0].marker and len({p.timestamp for p in events}) == 1
    assert bridge.up.stats.events == 3
    assert isinstance(on_digit, Digits) and on_digit.seen == [("5", "rfc4733")]


async def test_digits_are_not_forwarded_to_a_leg_without_telephone_event(
    clock: MediaClock,
) -> None:
    bridge = await open_bridge(clock, officer_dtmf=None)
    try:
        event = TelephoneEvent(1, end=True, duration=160)
        bridge.caller.send(audio_packet(1, 0, event.serialize(), pt=101), bridge.a.local_port)
        await asyncio.sleep(0.1)
    finally:
        bridge.close()
    assert bridge.up.stats.no_event_type == 1
    assert not [p for p in bridge.officer.received if p.payload_type not in (0, 8)]


async def test_a_held_leg_gets_nothing_and_resumes_with_a_later_timestamp(
    clock: MediaClock,
) -> None:
    bridge = await open_bridge(clock, officer_codec=PCMA)
    payload = bytes(range(1, 161))
    try:
        await send_paced(bridge.caller, bridge.a.local_port,
                         [audio_packet(i, 160 * i, payload) for i in range(10)])  # fmt: skip
        bridge.b.sending = False  # the officer put the call on hold
        held_from = len(bridge.officer.received)
        await send_paced(bridge.caller, bridge.a.local_port,
                         [audio_packet(i, 160 * i, payload) for i in range(10, 20)])  # fmt: skip
        await asyncio.sleep(0.05)
        held_got = len(bridge.officer.received) - held_from
        bridge.b.sending = True
        await send_paced(bridge.caller, bridge.a.local_port,
                         [audio_packet(i, 160 * i, payload) for i in range(20, 30)])  # fmt: skip
        await asyncio.sleep(0.05)
    finally:
        bridge.close()
    assert held_got <= 1  # at most a packet already on its way
    assert bridge.up.stats.held >= 9
    copies = [p for p in bridge.officer.received if p.payload == payload]
    assert len(copies) >= 19
    resumed = copies[10:]
    assert resumed[0].marker
    timeline = [p.timestamp for p in bridge.officer.received]
    assert all(rtp.ts_delta(b, a) >= 0 for a, b in itertools.pairwise(timeline))


async def test_a_frame_reader_still_gets_the_decoded_audio_while_relayed(
    clock: MediaClock,
) -> None:
    bridge = await open_bridge(clock)
    frames: list[bytes] = []
    reader = bridge.a.frames()  # a recording of the caller's side

    async def read() -> None:
        async for frame in reader:
            frames.append(frame)

    task = asyncio.create_task(read())
    payload = g711.alaw_encode(bytes(range(0, 256)) + bytes(64))
    try:
        await send_paced(bridge.caller, bridge.a.local_port,
                         [audio_packet(i, 160 * i, payload) for i in range(10)])  # fmt: skip
        await asyncio.sleep(0.15)
    finally:
        bridge.close()
        await asyncio.wait_for(task, 2)
    assert bridge.up.stats.relayed == 10
    assert frames.count(g711.alaw_decode(payload)) >= 9
