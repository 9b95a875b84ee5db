"""A stream that nobody listens to (no frame reader, no in-band digits to look for) skips
decoding the caller's audio; a reader made later still gets whole, gap-free frames."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest

from core import g711
from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.stream import PCMA, MediaStream

HOST = "127.0.0.1"
TONE = bytes([0x2A]) * 160  # a loud A-law code


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    clock = MediaClock(period_s=0.005)
    clock.start()
    yield clock
    await clock.close()


@pytest.fixture
def sender() -> AsyncIterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    yield sock
    sock.close()


async def _stream(
    clock: MediaClock, sender: socket.socket, digits: list[str], **kw: bool
) -> MediaStream:
    stream = MediaStream(
        clock=clock,
        codec=PCMA,
        dtmf_payload_type=101,
        remote=(HOST, sender.getsockname()[1]),
        on_digit=lambda digit, source: digits.append(digit),
        **kw,
    )
    await stream.open(HOST, 0)
    return stream


async def _received(stream: MediaStream, count: int) -> None:
    async with asyncio.timeout(5):
        while stream.stats.packets_in < count:
            await asyncio.sleep(0.005)


async def test_a_reader_made_later_gets_frames_without_a_gap(
    clock: MediaClock, sender: socket.socket
) -> None:
    stream = await _stream(clock, sender, [], inband_dtmf=False)
    first = stream.frames()
    _send(stream, sender, range(5))
    await _received(stream, 5)
    await first.aclose()
    _send(stream, sender, range(5, 10))  # heard by nobody
    await _received(stream, 10)
    later = stream.frames()
    _send(stream, sender, range(10, 15))
    frames = []
    async with asyncio.timeout(5):
        async for frame in later:
            frames.append(frame)
            if len(frames) == 5:
                break
    stream.close()
    # no silence inserted for the packets nobody listened to: their timestamps were followed
    assert frames == [g711.alaw_decode(TONE)] * 5
    assert stream.stats.lost == 0


def _send(stream: MediaStream, sender: socket.socket, sequences: range) -> None:
    for i in sequences:
        sender.sendto(rtp.build(8, i, 160 * i, 7, TONE, False), (HOST, stream.local_port))


async def test_inband_digits_are_still_found_with_no_reader(
    clock: MediaClock, sender: socket.socket
) -> None:
    digits: list[str] = []
    stream = await _stream(clock, sender, digits, inband_dtmf=True)
    t = [n / 8000 for n in range(8000 // 10)]  # 100 ms of the '5' tone (770 + 1336 Hz)
    samples = np.array(t)
    tone = 6000 * (np.sin(2 * np.pi * 770 * samples) + np.sin(2 * np.pi * 1336 * samples)) / 2
    pcm = tone.astype("<i2").tobytes() + bytes(2 * 800)  # then 100 ms of silence
    payload = g711.alaw_encode(pcm)
    for i in range(len(payload) // 160):
        chunk = payload[160 * i : 160 * (i + 1)]
        sender.sendto(rtp.build(8, i, 160 * i, 9, chunk, False), (HOST, stream.local_port))
    await _received(stream, len(payload) // 160)
    async with asyncio.timeout(5):
        while not digits:
            await asyncio.sleep(0.005)
    stream.close()
    assert digits == ["5"]
