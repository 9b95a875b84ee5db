"""The endpoint places a call to a real callee: sipp as UAS on loopback rings, answers with SDP
and echoes our RTP; we hear our own tone back, then hang up with BYE."""

from __future__ import annotations

import asyncio
import math
import shutil
import struct
import tempfile
from pathlib import Path

from ivr.call import Call
from ivr.channel import Audio
from tests.e2e.harness import free_port, media_range, start_ivr
from tests.support import need

SCENARIO = Path(__file__).parent / "scenarios" / "uas_answer.xml"


def _tone(seconds: float, hz: float = 700.0, rate: int = 8000) -> bytes:
    count = int(seconds * rate)
    samples = (int(9000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(count))
    return b"".join(struct.pack("<h", s) for s in samples)


def _rms(frame: bytes) -> float:
    values = struct.unpack(f"<{len(frame) // 2}h", frame)
    return math.sqrt(sum(v * v for v in values) / max(len(values), 1))


async def _never(call: Call) -> None:
    raise AssertionError("no inbound call is expected")


async def test_dial_a_sipp_callee_hear_the_echo_and_hang_up() -> None:
    sipp = shutil.which("sipp")
    need(sipp, "sipp is not installed (Debian package sip-tester)")
    assert sipp is not None
    ivr = await start_ivr(_never)
    workdir = Path(tempfile.mkdtemp(prefix="sipp-uas-"))
    sipp_port = free_port()
    args = [
        sipp, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(sipp_port),
        "-mp", str(media_range(10)[0]), "-rtp_echo", "-m", "1", "-nostdin",
        "-timeout", "30s", "-timeout_error", "-trace_err",
        "-error_file", str(workdir / "errors.log"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    progress: list[int] = []
    try:
        leg = await ivr.worker.endpoint.dial(
            f"sip:officer@127.0.0.1:{sipp_port}",
            from_uri=f"sip:hotline@127.0.0.1:{ivr.port}",
            timeout_s=10.0,
            on_progress=lambda resp: progress.append(resp.status),
        )
        call = leg.call
        assert call is not None and not leg.inbound
        assert 180 in progress and call.info.codec == "PCMA"
        frames = call.audio_frames()
        heard: list[float] = []

        async def listen() -> None:
            async for frame in frames:
                heard.append(_rms(frame))

        listener = asyncio.ensure_future(listen())
        outcome = await call.play(Audio(_tone(1.0), 8000), barge_in_digits=False)
        assert outcome.completed
        await asyncio.sleep(0.3)  # the last echoed packets
        await call.hangup()
        await asyncio.wait_for(listener, 5)
        loud = [r for r in heard if r > 2000]
        assert len(loud) >= 35, (len(heard), len(loud))  # >= 0.7 s of our 1 s tone came back
        assert call.ended and call.end_reason == "ivr-bye"
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        errors = (workdir / "errors.log").read_text() if (workdir / "errors.log").exists() else ""
        assert proc.returncode == 0, (err.decode(errors="replace")[-2000:], errors[-2000:])
        assert ivr.worker.endpoint.stats.calls_placed == 1
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await ivr.worker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
