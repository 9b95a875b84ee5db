"""Acceptance: a sipp caller with G.711 audio and RFC 2833 digits 1 2 3 # (real UDP, real RTP).

The IVR greets with a known recording, collects digits up to '#', reads them back and hangs up.
tcpdump captures what we send, which must decode as the negotiated codec to the source prompt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import g711
from ivr.call import Call
from ivr.channel import Audio
from ivr.events import CallEnded, DigitReceived
from ivr.media.rtp import RtpPacket
from ivr.runtime.greeting import GREETING, digits_greeting
from speech.audio import read_wav
from tests.e2e.harness import Capture, run_sipp, snr_db, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


def _tone(seconds: float = 0.4) -> Audio:
    t = np.arange(int(8000 * seconds)) / 8000
    return Audio((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())


def _scenario(sip_dir: Path, tmp_path: Path, codec: str) -> Path:
    source = (sip_dir / "sipp" / "uac_ivr.xml").read_text(encoding="iso-8859-1")
    if codec == "PCMA":
        return sip_dir / "sipp" / "uac_ivr.xml"
    text = source.replace("RTP/AVP 8 101", "RTP/AVP 0 101").replace(
        "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000"
    )
    assert text != source
    path = tmp_path / "uac_ivr_pcmu.xml"
    path.write_text(text, encoding="iso-8859-1")
    return path


@pytest.mark.parametrize(("codec", "payload_type"), [("PCMA", 8), ("PCMU", 0)])
async def test_sipp_caller_digits_and_audio(
    codec: str, payload_type: int, sip_dir: Path, speech_dir: Path, tmp_path: Path
) -> None:
    prompt_pcm, _ = read_wav(speech_dir / "call8k_3.wav", rate=8000)
    seen: list[str] = []

    async def prompts(text: str) -> Audio:
        return Audio(prompt_pcm) if text == GREETING else _tone()

    rtp_ports: list[int] = []

    async def on_call(call: Call) -> None:
        rtp_ports.append(call.stream.local_port)
        seen.append(await digits_greeting(call, prompts, timeout_s=15))

    ivr = await start_ivr(on_call)
    try:
        lo, hi = ivr.media
        async with Capture(f"udp and src portrange {lo}-{hi}") as cap:
            result = await run_sipp(_scenario(sip_dir, tmp_path, codec), ivr.port, timeout_s=60)
        assert result.returncode == 0, result.stdout[-2000:] + result.errors[-2000:]
        assert seen == ["123"]
        digits = [e.digit for e in ivr.sink.of(DigitReceived)]  # type: ignore[attr-defined]
        assert digits == ["1", "2", "3", "#"]
        ended = ivr.sink.of(CallEnded)
        assert [e.reason for e in ended] == ["ivr-bye"]  # type: ignore[attr-defined]

        # what our stream sent (other programs may use ports of the range meanwhile)
        packets = [RtpPacket.parse(p) for s, _, p in cap.udp_payloads() if s == rtp_ports[0]]
        assert packets, "no RTP captured"
        assert {p.payload_type for p in packets} == {payload_type}
        decode = g711.alaw_decode if codec == "PCMA" else g711.ulaw_decode
        received = np.frombuffer(b"".join(decode(p.payload) for p in packets), dtype="<i2")
        reference = np.frombuffer(prompt_pcm, dtype="<i2")
        snr = snr_db(reference, received)
        assert snr > 25, f"{codec} audio does not decode to the prompt (SNR {snr:.1f} dB)"
        # the wrong law gives noise: proves the codec really is the negotiated one
        wrong = g711.ulaw_decode if codec == "PCMA" else g711.alaw_decode
        garbled = np.frombuffer(b"".join(wrong(p.payload) for p in packets), dtype="<i2")
        assert snr_db(reference, garbled) < 10
    finally:
        await ivr.worker.stop()
