"""MediaStream over real UDP sockets on 127.0.0.1, with a real recording.

The clock runs at 5 ms instead of 20 ms so the tests take a quarter of real time; every packet
still carries 20 ms (160 samples) of audio.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from core import g711
from ivr.media import rtp
from ivr.media.clock import MediaClock
from ivr.media.rtp import RtpPacket, TelephoneEvent
from ivr.media.stream import PCMA, PCMU, RELATCH_AFTER_S, Codec, MediaError, MediaStream
from speech.audio import read_wav
from tests.media.test_dtmf import sequence, to_pcm
from tests.support import need

FAST_PERIOD_S = 0.005
HOST = "127.0.0.1"


class Peer(asyncio.DatagramProtocol):
    """The far end: a plain UDP socket that records what it receives and can send."""

    def __init__(self) -> None:
        self.received: list[RtpPacket] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.append(rtp.parse(data))

    def send(self, data: bytes, port: int) -> None:
        # Straight on the socket: asyncio's transport silently drops empty datagrams.
        self.sock.sendto(data, (HOST, port))

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                await asyncio.sleep(0.005)


async def open_peer() -> Peer:
    loop = asyncio.get_running_loop()
    peer = Peer()
    transport, _ = await loop.create_datagram_endpoint(lambda: peer, sock=peer.sock)
    peer.transport = transport
    return peer


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


class Digits:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, digit: str, source: str) -> None:
        self.seen.append((digit, source))

    @property
    def text(self) -> str:
        return "".join(d for d, _ in self.seen)


async def open_stream(clock: MediaClock, remote: tuple[str, int] | None, **kw: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "codec": PCMA,
        "dtmf_payload_type": 101,
        "on_digit": Digits(),
    }
    options.update(kw)
    stream = MediaStream(clock=clock, remote=remote, **options)  # type: ignore[arg-type]
    await stream.open(HOST, 0)
    return stream


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    noise = reference - test
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum(noise**2), 1e-9)))


def as_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


@pytest.mark.parametrize(
    ("codec", "right", "wrong"),
    [(PCMA, g711.alaw_decode, g711.ulaw_decode), (PCMU, g711.ulaw_decode, g711.alaw_decode)],
)
async def test_recording_sent_decodes_as_its_codec(
    clock: MediaClock,
    peer: Peer,
    speech_dir: Path,
    codec: Codec,
    right,
    wrong,  # type: ignore[no-untyped-def]
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_1.wav", 8000)
    stream = MediaStream(
        clock=clock,
        codec=codec,
        dtmf_payload_type=101,
        remote=(HOST, peer.port),
        on_digit=Digits(),
        ssrc=0x1234,
    )
    done = stream.play(pcm)  # queued before the socket opens: the first packet is the prompt
    await stream.open(HOST, 0)
    assert await asyncio.wait_for(done, 10) is True
    packets = len(pcm) // 320 + 1
    await peer.wait_for(packets + 2)
    stream.close()
    got = peer.received
    assert all(p.payload_type == codec.payload_type and p.ssrc == 0x1234 for p in got)
    assert got[0].marker and not any(p.marker for p in got[1:])
    for a, b in itertools.pairwise(got):
        assert rtp.seq_delta(b.sequence, a.sequence) == 1
        assert rtp.ts_delta(b.timestamp, a.timestamp) == 160
    audio = b"".join(p.payload for p in got[:packets])
    ref = as_float(pcm)
    assert snr_db(ref, as_float(right(audio))[: len(ref)]) > 30
    assert snr_db(ref, as_float(wrong(audio))[: len(ref)]) < 10
    # After the prompt: encoded silence keeps flowing.
    silence = bytes([0xD5 if codec is PCMA else 0xFF]) * 160
    assert got[packets].payload == silence


async def test_frames_reordered_duplicated_and_fanned_out(
    clock: MediaClock, peer: Peer, speech_dir: Path
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_2.wav", 8000)
    pcm = pcm[: 320 * 60]
    encoded = g711.alaw_encode(pcm)
    stream = await open_stream(clock, (HOST, peer.port))
    first, second = stream.frames(), stream.frames()
    # The first packet fixes the start; after it every pair is swapped and every tenth
    # packet repeated.
    order = [0]
    for i in range(1, 58, 2):
        order += [i + 1, i]
        if i % 10 == 1:
            order.append(i)
    order.append(59)
    for i in order:
        packet = rtp.build(
            8, 65500 + i, 1000 + 160 * i, 77, encoded[160 * i : 160 * i + 160], i == 0
        )
        peer.send(packet, stream.local_port)
    frames: list[bytes] = []
    async with asyncio.timeout(5):
        async for frame in first:
            frames.append(frame)
            if len(frames) == 60:
                break
    assert b"".join(frames) == g711.alaw_decode(encoded)
    stats = stream.stats
    assert stats.duplicate == 6
    assert stats.lost == 0
    stream.close()
    rest = [frame async for frame in second]
    assert b"".join(rest) == b"".join(frames)
    assert [f async for f in stream.frames()] == []  # a reader made after close ends at once


async def test_lost_packets_become_silence(clock: MediaClock, peer: Peer) -> None:
    stream = await open_stream(clock, (HOST, peer.port))
    reader = stream.frames()
    tone = bytes([0x2A]) * 160  # loud A-law code
    for i in (0, 1, 2, 4, 5, 6, 7):  # packet 3 lost, beyond the reorder depth
        peer.send(rtp.build(8, i, 160 * i, 5, tone, False), stream.local_port)
    frames = []
    async with asyncio.timeout(5):
        async for frame in reader:
            frames.append(frame)
            if len(frames) == 8:
                break
    stream.close()
    assert frames[3] == bytes(320)
    assert all(f == g711.alaw_decode(tone) for i, f in enumerate(frames) if i != 3)
    assert stream.stats.lost == 1


def event_packet(seq: int, ts: int, code: int, end: bool, duration: int) -> bytes:
    payload = TelephoneEvent(code, end=end, duration=duration).serialize()
    return rtp.build(101, seq, ts, 99, payload, not end and duration == 160)


def keypress(seq: int, ts: int, code: int) -> list[bytes]:
    starts = [event_packet(seq + i, ts, code, False, 160 * (i + 1)) for i in range(3)]
    ends = [event_packet(seq + 3 + i, ts, code, True, 480) for i in range(3)]
    return starts + ends


async def test_rfc4733_digits_survive_malformed_datagrams(clock: MediaClock, peer: Peer) -> None:
    digits = Digits()
    stream = await open_stream(clock, (HOST, peer.port), on_digit=digits)
    port = stream.local_port
    for datagram in keypress(1, 8000, 1):
        peer.send(datagram, port)
    malformed = [
        b"",  # empty
        b"\x80\x08\x00",  # truncated header
        b"\x40" + bytes(20),  # version 1
        b"\x8f\x08" + bytes(14),  # 15 CSRCs in a 16-byte datagram
        b"\xa0\x08" + bytes(10) + b"\x00\xff",  # padding longer than the packet
        rtp.build(101, 8, 9000, 99, b"\x05", False),  # telephone-event payload too short
    ]
    for datagram in malformed:
        peer.send(datagram, port)
    for datagram in keypress(20, 12000, 16) + keypress(30, 16000, 2) + keypress(40, 20000, 11):
        peer.send(datagram, port)
    async with asyncio.timeout(5):
        while len(digits.seen) < 3:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    stream.close()
    assert digits.seen == [("1", "rfc4733"), ("2", "rfc4733"), ("#", "rfc4733")]
    assert stream.stats.malformed == 6


async def test_inband_digits_through_the_stream(clock: MediaClock, peer: Peer) -> None:
    digits = Digits()
    stream = await open_stream(clock, (HOST, peer.port), codec=PCMU, on_digit=digits)
    pcm = to_pcm(sequence("3*9", tone_ms=100, gap_ms=80))
    pcm += bytes(320 - len(pcm) % 320)
    encoded = g711.ulaw_encode(pcm)
    for i in range(len(encoded) // 160):
        packet = rtp.build(0, i, 160 * i, 3, encoded[160 * i : 160 * (i + 1)], i == 0)
        peer.send(packet, stream.local_port)
    async with asyncio.timeout(5):
        while len(digits.seen) < 3:
            await asyncio.sleep(0.01)
    stream.close()
    assert digits.seen == [("3", "inband"), ("*", "inband"), ("9", "inband")]


async def test_inactivity_fires_once_and_not_on_hold(clock: MediaClock, peer: Peer) -> None:
    fired: list[float] = []
    loop = asyncio.get_running_loop()
    stream = await open_stream(
        clock,
        (HOST, peer.port),
        inactivity_timeout_s=0.3,
        on_inactive=lambda: fired.append(loop.time()),
    )
    held = await open_stream(
        clock,
        (HOST, peer.port),
        inactivity_timeout_s=0.3,
        on_inactive=lambda: fired.append(-1.0),
    )
    held.sending = False
    start = loop.time()
    # Packets keep the first stream alive for a while, then stop.
    for i in range(10):
        peer.send(rtp.build(8, i, 160 * i, 1, bytes(160), False), stream.local_port)
        await asyncio.sleep(0.02)
    assert fired == []
    await asyncio.sleep(0.6)
    stream.close()
    held.close()
    assert len(fired) == 1
    assert fired[0] - start > 0.45  # the last packet at >= 0.18 s, then 0.3 s of silence


async def test_sequence_and_timestamp_wrap(clock: MediaClock, peer: Peer) -> None:
    stream = await open_stream(
        clock, (HOST, peer.port), first_sequence=65533, first_timestamp=2**32 - 480
    )
    await peer.wait_for(8)
    stream.close()
    got = peer.received[:8]
    assert [p.sequence for p in got] == [65533, 65534, 65535, 0, 1, 2, 3, 4]
    assert [p.timestamp for p in got[:5]] == [2**32 - 480, 2**32 - 320, 2**32 - 160, 0, 160]


async def test_hold_sends_nothing_and_resumes_with_marker(clock: MediaClock, peer: Peer) -> None:
    stream = await open_stream(clock, (HOST, peer.port))
    await peer.wait_for(3)
    stream.sending = False
    await asyncio.sleep(0.02)
    count = len(peer.received)
    done = stream.play(bytes(320 * 3))
    await asyncio.sleep(0.1)
    assert len(peer.received) == count  # nothing sent, the prompt waits
    assert not done.done()
    stream.sending = True
    assert await asyncio.wait_for(done, 2) is True
    await peer.wait_for(count + 4)
    stream.close()
    before, after = peer.received[count - 1], peer.received[count]
    assert after.marker
    assert rtp.seq_delta(after.sequence, before.sequence) == 1
    assert rtp.ts_delta(after.timestamp, before.timestamp) >= 160 * 5  # time went on


async def test_play_queue_stop_and_marker_per_talkspurt(clock: MediaClock, peer: Peer) -> None:
    stream = await open_stream(clock, (HOST, peer.port))
    await peer.wait_for(2)
    loud = (np.ones(800) * 5000).astype("<i2").tobytes()  # 100 ms
    first, second = stream.play(loud), stream.play(loud)
    assert await asyncio.wait_for(first, 2) is True
    assert await asyncio.wait_for(second, 2) is True
    await asyncio.sleep(0.02)
    long = stream.play(loud * 50)
    queued = stream.play(loud)
    await asyncio.sleep(0.02)
    stream.stop_playback()
    assert await long is False
    assert await queued is False
    await asyncio.sleep(0.02)
    stream.close()
    assert await stream.play(loud) is False
    loud_code = g711.alaw_encode(loud[:2])
    marks = [p for p in peer.received if p.marker]
    # Stream start, the two queued prompts as one talk-spurt, then the stopped one.
    assert len(marks) == 3
    assert all(p.payload[:1] == loud_code for p in marks[1:])
    with pytest.raises(g711.G711Error):
        stream.play(b"\x00")


async def test_symmetric_rtp_latches_to_the_real_source(clock: MediaClock, peer: Peer) -> None:
    stranger = await open_peer()
    # The SDP address is wrong (as behind NAT); the peer's packets show where it really is.
    stream = await open_stream(clock, (HOST, 9))
    peer.send(rtp.build(8, 1, 160, 1, bytes(160), False), stream.local_port)
    await peer.wait_for(3)
    assert stream.remote == (HOST, peer.port)
    # While the peer is alive another source cannot take the call over.
    peer.send(rtp.build(8, 2, 320, 1, bytes(160), False), stream.local_port)
    stranger.send(rtp.build(8, 3, 480, 1, bytes(160), False), stream.local_port)
    await asyncio.sleep(0.05)
    assert stranger.received == []
    assert stream.stats.foreign == 1
    # After the peer fell silent (its NAT binding changed), the new source is taken.
    await asyncio.sleep(RELATCH_AFTER_S)
    stranger.send(rtp.build(8, 4, 640, 1, bytes(160), False), stream.local_port)
    await stranger.wait_for(2)
    stream.close()
    assert stream.remote == (HOST, stranger.port)
    assert stranger.transport is not None
    stranger.transport.close()


async def test_dropped_reader_is_forgotten(clock: MediaClock, peer: Peer) -> None:
    stream = await open_stream(clock, (HOST, peer.port))
    kept = stream.frames()
    stream.frames()  # dropped at once, never read
    gc.collect()
    for i in range(3):
        peer.send(rtp.build(8, i, 160 * i, 1, bytes(160), False), stream.local_port)
    frames = []
    async with asyncio.timeout(5):
        async for frame in kept:
            frames.append(frame)
            if len(frames) == 3:
                break
    await kept.aclose()
    assert len(stream._readers) == 0
    stream.close()


async def test_codec_switch_and_new_ssrc(clock: MediaClock, peer: Peer) -> None:
    stream = await open_stream(clock, (HOST, peer.port))
    reader = stream.frames()
    await peer.wait_for(2)
    stream.set_codec(PCMU, 96)
    await asyncio.sleep(0.02)
    count = len(peer.received)
    await peer.wait_for(count + 2)
    assert peer.received[-1].payload_type == 0
    assert peer.received[-1].payload == b"\xff" * 160
    # The peer switches too, with a new SSRC and a sequence just below its old one.
    a = bytes([0x2A]) * 160
    peer.send(rtp.build(8, 1000, 0, 1, a, False), stream.local_port)
    peer.send(rtp.build(0, 990, 5000, 2, a, True), stream.local_port)
    frames = []
    async with asyncio.timeout(5):
        async for frame in reader:
            frames.append(frame)
            if len(frames) == 2:
                break
    stream.close()
    assert frames == [g711.alaw_decode(a), g711.ulaw_decode(a)]
    assert stream.stats.late == 0


async def test_bad_codec_and_double_open(clock: MediaClock) -> None:
    with pytest.raises(MediaError):
        Codec("G729", 18)
    with pytest.raises(MediaError):
        Codec("PCMA", 8, rate=16000)
    stream = await open_stream(clock, None)
    with pytest.raises(MediaError):
        await stream.open(HOST, 0)
    stream.close()
    stream.close()
    assert stream.closed


async def test_codec_switch_mid_prompt_keeps_the_audio(
    clock: MediaClock, peer: Peer, speech_dir: Path
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_3.wav", 8000)
    pcm = pcm[: 320 * 100]  # 2 s: crosses the 1 s encoding chunks
    stream = MediaStream(
        clock=clock,
        codec=PCMA,
        dtmf_payload_type=None,
        remote=(HOST, peer.port),
        on_digit=Digits(),
    )
    done = stream.play(pcm)
    await stream.open(HOST, 0)
    await peer.wait_for(30)
    stream.set_codec(PCMU, None)
    assert await asyncio.wait_for(done, 5) is True
    await peer.wait_for(100)
    stream.close()
    got = peer.received[:100]
    switch = next(i for i, p in enumerate(got) if p.payload_type == 0)
    assert 30 <= switch < 100
    assert all(p.payload_type == 8 for p in got[:switch])
    assert all(p.payload_type == 0 for p in got[switch:])
    decoded = b"".join(
        (g711.alaw_decode if p.payload_type == 8 else g711.ulaw_decode)(p.payload) for p in got
    )
    assert snr_db(as_float(pcm), as_float(decoded)) > 30


async def test_bad_remote_and_failing_callbacks(clock: MediaClock, peer: Peer) -> None:
    for bad in (("", 5000), (HOST, 0), (HOST, 70000), ("x",), None):
        with pytest.raises(MediaError):
            stream = await open_stream(clock, (HOST, peer.port))
            try:
                stream.set_remote(bad)  # type: ignore[arg-type]
            finally:
                stream.close()

    def explode(*_: object) -> None:
        raise RuntimeError("callback bug")

    stream = await open_stream(
        clock, (HOST, peer.port), on_digit=explode, on_inactive=explode, inactivity_timeout_s=0.05
    )
    for datagram in keypress(1, 800, 4):
        peer.send(datagram, stream.local_port)
    await asyncio.sleep(0.2)
    # Both callbacks failed, yet the stream still sends and still counts.
    count = len(peer.received)
    await peer.wait_for(count + 3)
    assert stream.stats.digits == 1
    assert clock.stats.errors == 0
    stream.close()


async def test_open_by_host_name(clock: MediaClock, peer: Peer) -> None:
    stream = MediaStream(
        clock=clock,
        codec=PCMU,
        dtmf_payload_type=None,
        remote=(HOST, peer.port),
        on_digit=Digits(),
    )
    await stream.open("localhost", 0)
    await peer.wait_for(3)
    stream.close()
    assert stream.local_port > 0
    assert peer.received[0].payload == b"\xff" * 160


async def test_fuzzed_datagrams_never_stop_the_stream(clock: MediaClock, peer: Peer) -> None:
    rng = random.Random(2833)
    digits = Digits()
    stream = await open_stream(clock, (HOST, peer.port), on_digit=digits)
    reader = stream.frames()
    templates = [
        rtp.build(8, 10, 1600, 42, bytes([0x2A]) * 160, False),
        event_packet(11, 3200, 5, False, 160),
    ]
    for i in range(600):
        if i % 3 == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 60)))
        else:
            mutated = bytearray(rng.choice(templates))
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            data = bytes(mutated[: rng.randrange(0, len(mutated) + 1)])
        peer.send(data, stream.local_port)
        if i % 100 == 0:
            await asyncio.sleep(0.005)  # let the stream drain its socket
    for datagram in keypress(30000, 999_999, 9):
        peer.send(datagram, stream.local_port)
    async with asyncio.timeout(5):
        while not digits.seen or digits.seen[-1] != ("9", "rfc4733"):
            await asyncio.sleep(0.01)
    count = len(peer.received)
    await peer.wait_for(count + 3)  # still sending
    stream.close()
    assert stream.stats.malformed > 50
    frames = [f async for f in reader]  # ends, as the stream closed
    assert all(len(f) == 320 for f in frames)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


async def test_ipv6_both_ways(clock: MediaClock) -> None:
    need(ipv6_loopback(), "no IPv6 loopback on this machine")
    far = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    far.bind(("::1", 0))
    far.setblocking(False)
    loop = asyncio.get_running_loop()
    digits = Digits()
    stream = MediaStream(
        clock=clock, codec=PCMA, dtmf_payload_type=101, remote=("::1", 9), on_digit=digits
    )
    await stream.open("::1", 0)
    try:
        for datagram in keypress(1, 160, 3):
            far.sendto(datagram, ("::1", stream.local_port))
        async with asyncio.timeout(5):
            # Latched onto the IPv6 source (its 4-tuple address reduced to host and port).
            data = await loop.sock_recv(far, 2048)
        assert rtp.parse(data).payload_type == 8
        assert stream.remote == ("::1", far.getsockname()[1])
        assert digits.seen == [("3", "rfc4733")]
    finally:
        stream.close()
        far.close()


async def test_packets_already_arriving_while_opening(clock: MediaClock, peer: Peer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    stop = threading.Event()

    def blast() -> None:  # the peer's RTP is already flowing when we bind (early media)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            seq = 0
            while not stop.is_set():
                sender.sendto(rtp.build(8, seq, 160 * seq, 7, bytes(160), False), (HOST, port))
                seq += 1
                time.sleep(0.0005)

    thread = threading.Thread(target=blast)
    thread.start()
    try:
        await asyncio.sleep(0.02)
        stream = MediaStream(
            clock=clock,
            codec=PCMA,
            dtmf_payload_type=None,
            remote=(HOST, peer.port),
            on_digit=Digits(),
        )
        await stream.open(HOST, port)
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    stream.close()
    assert stream.stats.packets_in > 10
    assert stream.stats.malformed == 0


async def test_socket_lost_ends_the_media(clock: MediaClock, peer: Peer) -> None:
    fired: list[bool] = []
    stream = await open_stream(clock, (HOST, peer.port), on_inactive=lambda: fired.append(True))
    reader = stream.frames()
    playing = stream.play(bytes(320 * 100))
    stream.connection_lost(OSError("socket failed"))  # as asyncio reports a fatal error
    assert fired == [True]
    assert stream.closed
    assert await playing is False
    assert [f async for f in reader] == []
    stream.connection_lost(None)  # the close that follows is ours: nothing more
    assert fired == [True]
