"""The endpoint places a call to a real softphone: baresip rings, is answered through its
control port, and audio flows both ways (its 440 Hz microphone to us, our 1000 Hz tone to it);
then one side hangs up. Over UDP and TCP, as an officer's desk phone would be reached."""

from __future__ import annotations

import asyncio

import pytest

from ivr.call import Call
from speech.audio import read_wav
from tests.e2e.harness import start_ivr
from tests.e2e.test_baresip import (
    CLOSE_TIMEOUT_S,
    IVR_TONE_HZ,
    PEER_TONE_HZ,
    _dominant_hz,
    _peer,
    _tone,
    _until,
)

pytestmark = [pytest.mark.e2e]

RING_TIMEOUT_S = 5.0  # our INVITE to baresip's CALL_INCOMING on loopback


async def _never(call: Call) -> None:
    raise AssertionError("no inbound call is expected")


@pytest.mark.asyncio
@pytest.mark.parametrize(("transport", "codec", "who_hangs_up"), [
    ("udp", "PCMU", "we"), ("tcp", "PCMA", "they"),
])  # fmt: skip
async def test_dial_baresip_talk_both_ways_and_hang_up(
    transport: str, codec: str, who_hangs_up: str
) -> None:
    peer = _peer(transport, codec)
    ivr = await start_ivr(_never)
    try:
        await peer.start()
        target = f"sip:tester@127.0.0.1:{peer.sip_port}"
        if transport == "tcp":
            target += ";transport=tcp"
        dialling = asyncio.ensure_future(
            ivr.worker.endpoint.dial(
                target, from_uri=f"sip:hotline@127.0.0.1:{ivr.port}", timeout_s=10.0
            )
        )
        await peer.wait_event("CALL_INCOMING", RING_TIMEOUT_S)
        assert not dialling.done()
        await peer.command("accept")
        leg = await asyncio.wait_for(dialling, RING_TIMEOUT_S)
        call = leg.call
        assert call is not None and call.info.codec == codec
        await peer.wait_event("CALL_ESTABLISHED", RING_TIMEOUT_S)

        heard: list[bytes] = []

        async def listen() -> None:
            async for frame in call.audio_frames():
                heard.append(frame)

        listener = asyncio.ensure_future(listen())
        outcome = await call.play(_tone(IVR_TONE_HZ, 1.0), barge_in_digits=False)
        assert outcome.completed
        if who_hangs_up == "we":
            await call.hangup()
            closed = await peer.wait_event("CALL_CLOSED", CLOSE_TIMEOUT_S)
            assert closed.param == "Connection reset by peer", peer.output[-4000:]
            assert call.end_reason == "ivr-bye"
        else:
            await peer.hangup()
            await peer.wait_event("CALL_CLOSED", CLOSE_TIMEOUT_S)
            await _until(lambda: call.ended, CLOSE_TIMEOUT_S, "the BYE did not end the call", peer)
            assert call.end_reason == "caller-bye"
        await asyncio.wait_for(listener, CLOSE_TIMEOUT_S)
        await _until(
            lambda: ivr.worker.ports.in_use == 0, CLOSE_TIMEOUT_S, "RTP port not released", peer
        )
        # what we heard is baresip's microphone; what baresip heard is our tone
        assert heard, "no audio from baresip"
        assert abs(_dominant_hz(b"".join(heard)) - PEER_TONE_HZ) < 20
        recorded = peer.recordings().get("dec")
        assert recorded is not None, "baresip recorded nothing"
        pcm, rate = read_wav(recorded, rate=8000)
        assert abs(_dominant_hz(pcm, rate) - IVR_TONE_HZ) < 20
        invites = [m for m in peer.sip_messages() if m.first_line.startswith("INVITE ")]
        assert invites and invites[0].transport == transport.upper()
    finally:
        await peer.stop()
        await ivr.worker.stop()
