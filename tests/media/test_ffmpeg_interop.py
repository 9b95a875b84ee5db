"""Interoperability with an independent RTP implementation: ffmpeg sends to and receives from a
MediaStream over real UDP, in real time, with a real recording."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from ivr.media.clock import MediaClock
from ivr.media.stream import PCMA, PCMU, Codec, MediaStream
from speech.audio import read_wav
from tests.support import need

pytestmark = pytest.mark.slow  # real time: about three seconds each

HOST = "127.0.0.1"
SECONDS = 1.5
FFMPEG_TIMEOUT_S = 20.0


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    clock = MediaClock()  # real 20 ms: ffmpeg paces itself in real time
    clock.start()
    yield clock
    await clock.close()


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    need(path, "ffmpeg is not installed")
    assert path is not None
    return path


def free_rtp_port() -> int:
    """An even port whose odd neighbour (RTCP for ffmpeg) is free too."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1] & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
                a.bind((HOST, port))
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                    b.bind((HOST, port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free even UDP port pair")


def aligned_snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """SNR of ``test`` against the part of ``reference`` it best lines up with (the receiver
    may have missed the first packets while starting)."""
    probe = test[:4000]
    lag = int(np.argmax(correlate(reference, probe, mode="valid")))
    length = min(len(test), len(reference) - lag)
    ref = reference[lag : lag + length]
    noise = ref - test[:length]
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-9)))


@pytest.mark.parametrize("codec", [PCMA, PCMU], ids=lambda c: c.name)
async def test_ffmpeg_decodes_what_we_send(
    clock: MediaClock, speech_dir: Path, tmp_path: Path, codec: Codec
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_1.wav", 8000)
    port = free_rtp_port()
    sdp = tmp_path / "in.sdp"
    sdp.write_text(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=tongdai\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {codec.payload_type}\r\n"
        f"a=rtpmap:{codec.payload_type} {codec.name}/8000\r\n"
    )
    out = tmp_path / "out.raw"
    proc = await asyncio.create_subprocess_exec(
        ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file,udp,rtp",
        "-i",
        str(sdp),
        "-t",
        str(SECONDS),
        "-f",
        "s16le",
        "-ar",
        "8000",
        "-ac",
        "1",
        "-y",
        str(out),
    )
    try:
        await asyncio.sleep(0.5)  # let ffmpeg bind its port
        stream = MediaStream(
            clock=clock,
            codec=codec,
            dtmf_payload_type=None,
            remote=(HOST, port),
            on_digit=lambda digit, source: None,
        )
        stream.play(pcm)
        await stream.open(HOST, 0)
        assert await asyncio.wait_for(proc.wait(), FFMPEG_TIMEOUT_S) == 0
        stream.close()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    received = np.frombuffer(out.read_bytes(), dtype="<i2").astype(np.float64)
    assert len(received) >= 8000  # at least a second of audio came through
    reference = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    snr = aligned_snr_db(reference, received)
    assert snr > 25, snr


async def test_we_decode_what_ffmpeg_sends(clock: MediaClock, speech_dir: Path) -> None:
    wav = speech_dir / "call8k_2.wav"
    pcm, _ = read_wav(wav, 8000)
    digits: list[str] = []
    stream = MediaStream(
        clock=clock,
        codec=PCMU,
        dtmf_payload_type=101,
        remote=None,
        on_digit=lambda digit, source: digits.append(digit),
    )
    await stream.open(HOST, 0)
    reader = stream.frames()
    proc = await asyncio.create_subprocess_exec(
        ffmpeg(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-i",
        str(wav),
        "-t",
        str(SECONDS),
        "-acodec",
        "pcm_mulaw",
        "-ar",
        "8000",
        "-ac",
        "1",
        "-f",
        "rtp",
        f"rtp://{HOST}:{stream.local_port}",
        stdout=asyncio.subprocess.DEVNULL,
    )
    frames: list[bytes] = []

    async def collect() -> None:
        async for frame in reader:
            frames.append(frame)

    collector = asyncio.create_task(collect())
    try:
        assert await asyncio.wait_for(proc.wait(), FFMPEG_TIMEOUT_S) == 0
        await asyncio.sleep(0.2)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stream.close()
        await collector
    assert stream.remote is not None  # latched onto ffmpeg's source address
    assert stream.stats.malformed == 0
    assert digits == []
    received = np.frombuffer(b"".join(frames), dtype="<i2").astype(np.float64)
    assert len(received) >= int(8000 * SECONDS * 0.9)
    reference = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    snr = aligned_snr_db(reference, received)
    assert snr > 25, snr
