"""A live call tells the echo guard what it plays: while a prompt goes out over RTP to a sipp
caller, the call's echo reference holds that prompt's energy at the moment it is sent, and
nothing once the prompt has stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio
from ivr.call import Call
from speech.audio import read_wav
from tests.e2e.harness import dtmf_scenario, run_sipp, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


async def test_the_call_records_what_it_plays(speech_dir: Path, tmp_path: Path) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_3.wav", rate=8000)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    during: list[float] = []
    after: list[float] = []

    async def on_call(call: Call) -> None:
        delays = np.arange(0, 2720, 40)
        playing = asyncio.ensure_future(call.play(Audio(pcm), barge_in_digits=False))
        for _ in range(10):  # sample the reference while the prompt goes out
            await asyncio.sleep(0.2)
            during.append(float(call.echo_reference.energies(delays).max()))
        await playing
        await asyncio.sleep(0.5)
        after.append(float(call.echo_reference.energies(delays).max()))
        await call.hangup()

    ivr = await start_ivr(on_call)
    try:
        scenario = dtmf_scenario(tmp_path / "listen.xml", [], hangup_after_ms=6000)
        result = await run_sipp(scenario, ivr.port, timeout_s=30)
        assert result.returncode in (0, 1), result.stdout[-1500:]
    finally:
        await ivr.worker.stop()
    loudest = float(np.max(np.convolve(samples**2, np.ones(160) / 160, "valid")))
    assert len(during) == 10 and min(during) > 0.0, during
    assert max(during) > 0.1 * loudest  # the prompt itself, as it is sent
    assert after == [0.0]
