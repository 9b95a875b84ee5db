"""MediaStream.send_digit: RFC 4733 events on the wire, understood by a second stream."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.rtp import TelephoneEvent
from tests.media.test_stream import FAST_PERIOD_S, HOST, Digits, Peer, open_peer, open_stream


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    clock = MediaClock(period_s=FAST_PERIOD_S)
    clock.start()
    yield clock
    await clock.close()


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    peer = await open_peer()
    yield peer
    assert peer.transport is not None
    peer.transport.close()


async def test_sent_digits_are_events_another_stream_understands(
    clock: MediaClock, peer: Peer
) -> None:
    sender = await open_stream(clock, (HOST, peer.port))
    assert sender.send_digit("5")
    await peer.wait_for(20)
    events = [p for p in peer.received if p.payload_type == 101]
    assert len(events) == 10  # 8 packets of growing duration, the end packet twice more
    parsed = [TelephoneEvent.parse(p.payload) for p in events]
    assert {e.event for e in parsed} == {5}
    assert [e.duration for e in parsed[:8]] == [160 * n for n in range(1, 9)]
    assert [e.end for e in parsed] == [False] * 7 + [True] * 3
    assert len({p.timestamp for p in events}) == 1 and events[0].marker
    seqs = [p.sequence for p in peer.received]
    assert all(rtp.seq_delta(b, a) == 1 for a, b in itertools.pairwise(seqs))
    sender.close()

    digits = Digits()
    receiver = await open_stream(clock, None, on_digit=digits)
    other = await open_stream(clock, (HOST, receiver.local_port))
    for digit in "12#":
        assert other.send_digit(digit)
    async with asyncio.timeout(5):
        while digits.text != "12#":
            await asyncio.sleep(0.01)
    assert {source for _, source in digits.seen} == {"rfc4733"}
    no_events = await open_stream(clock, (HOST, peer.port), dtmf_payload_type=None)
    assert not no_events.send_digit("1")  # the peer did not negotiate telephone-event
    assert not other.send_digit("x")
    for stream in (receiver, other, no_events):
        stream.close()


async def test_a_reinvite_without_telephone_event_drops_the_digit_being_sent(
    clock: MediaClock, peer: Peer
) -> None:
    sender = await open_stream(clock, (HOST, peer.port))
    assert sender.send_digit("5")
    await peer.wait_for(3)
    assert peer.received[-1].payload_type == 101  # the digit is on its way
    sender.set_codec(sender.codec, None)  # a re-INVITE answered without telephone-event
    count = len(peer.received)
    await peer.wait_for(count + 12)
    after = peer.received[count + 1 :]  # one event packet may have been in flight
    assert after and {p.payload_type for p in after} == {8}  # audio again, the stream alive
    assert clock.stats.errors == 0
    sender.close()
