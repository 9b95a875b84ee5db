"""Acceptance: baresip, a real softphone, calls the IVR, presses keys, and the call ends cleanly
from either side (real SIP over UDP and TCP, real RTP with RFC 4733 telephone-events).

baresip runs headless (tests/e2e/baresip_peer.py): a tone file as microphone, a virtual speaker
whose audio is recorded, and a SIP trace that shows every message it sent and received.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ivr.call import Call
from ivr.channel import Audio, CallerHungUp, DigitsOutcome, DigitSpec, collect_digits
from ivr.events import CallEnded, CallStarted, DigitReceived
from speech.audio import read_wav
from tests.e2e.baresip_peer import (
    MODULE_DIRS,
    REQUIRED_MODULES,
    BaresipError,
    BaresipPeer,
    decode_netstrings,
    encode_netstring,
    find_module_dir,
    parse_sip_trace,
    write_config,
)
from tests.e2e.harness import RunningIvr, free_port, free_port_pair, media_range, start_ivr
from tests.support import need

pytestmark = [pytest.mark.e2e]  # the softphone tests are marked asyncio one by one

ESTABLISH_TIMEOUT_S = 5.0  # INVITE to CALL_ESTABLISHED on loopback
DIGITS_TIMEOUT_S = 6.0  # four RFC 4733 key presses arrive (baresip sends one every ~240 ms)
INTER_DIGIT_TIMEOUT_S = 3.0
CLOSE_TIMEOUT_S = 5.0  # BYE sent and answered
IVR_TONE_HZ = 1000.0  # what the IVR plays; baresip's microphone is 440 Hz (BaresipPeer)
PEER_TONE_HZ = 440.0
CASES = [("udp", "PCMU"), ("tcp", "PCMA")]


def _tone(hz: float, seconds: float) -> Audio:
    t = np.arange(int(8000 * seconds)) / 8000
    return Audio((np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes())


def _dominant_hz(pcm: bytes, rate: int = 8000) -> float:
    """The strongest frequency in a piece of 16-bit PCM (0.0 for silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if len(samples) < rate // 10 or not np.any(samples):
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[0] = 0.0
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def _peer(transport: str, codec: str) -> BaresipPeer:
    executable = shutil.which("baresip")
    need(executable, "baresip is not installed (Debian package baresip-core)")
    module_dir = find_module_dir()
    need(module_dir, f"baresip modules {', '.join(REQUIRED_MODULES)} not found in {MODULE_DIRS}")
    assert executable is not None and module_dir is not None
    return BaresipPeer(
        sip_port=free_port_pair(),  # baresip also binds TLS on the next port
        ctrl_port=free_port(),
        rtp_ports=media_range(10),
        module_dir=module_dir,
        transport=transport,
        codecs=(codec,),
        executable=executable,
    )


async def _until(
    condition: Callable[[], bool], timeout_s: float, what: str, peer: BaresipPeer
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            pytest.fail(
                f"{what} within {timeout_s} s\n--- baresip output ---\n{peer.output[-4000:]}"
            )
        await asyncio.sleep(0.05)


def _digits(ivr: RunningIvr) -> list[tuple[str, str]]:
    return [(e.digit, e.source) for e in ivr.sink.of(DigitReceived)]  # type: ignore[attr-defined]


def _ended(ivr: RunningIvr) -> list[str]:
    return [e.reason for e in ivr.sink.of(CallEnded)]  # type: ignore[attr-defined]


async def _call_and_press(peer: BaresipPeer, ivr: RunningIvr, codec: str) -> None:
    """Dial the hotline, check what both sides agreed on, press 1 2 3 #."""
    await peer.dial(f"sip:hotline@127.0.0.1:{ivr.port}")
    established = await peer.wait_event("CALL_ESTABLISHED", ESTABLISH_TIMEOUT_S)
    started = ivr.sink.of(CallStarted)
    assert len(started) == 1, peer.output[-4000:]
    assert started[0].call_id == established.fields.get("id")  # the same dialog on both sides
    assert started[0].codec == codec  # type: ignore[attr-defined]
    assert started[0].callee == "hotline"  # type: ignore[attr-defined]
    await peer.send_digits("123#")


@pytest.mark.asyncio
@pytest.mark.parametrize(("transport", "codec"), CASES)
async def test_baresip_presses_keys_and_ivr_hangs_up(transport: str, codec: str) -> None:
    outcome: list[DigitsOutcome] = []

    async def on_call(call: Call) -> None:
        try:
            # keys pressed during the prompt are kept (type-ahead) for collect_digits
            await call.play(_tone(IVR_TONE_HZ, 0.6), barge_in_digits=False)
            spec = DigitSpec(
                max_digits=8,
                terminator="#",
                first_timeout_s=DIGITS_TIMEOUT_S,
                inter_timeout_s=INTER_DIGIT_TIMEOUT_S,
            )
            outcome.append(await collect_digits(call, spec))
            await call.hangup()
        except CallerHungUp:
            pass

    peer = _peer(transport, codec)
    ivr = await start_ivr(on_call)
    try:
        await peer.start()
        await _call_and_press(peer, ivr, codec)
        closed = await peer.wait_event("CALL_CLOSED", DIGITS_TIMEOUT_S + CLOSE_TIMEOUT_S)
        # baresip's own words for a call the far end ended with BYE
        assert closed.param == "Connection reset by peer", peer.output[-4000:]
        ivr_sip = f"127.0.0.1:{ivr.port}"
        bye = await peer.wait_sip("BYE ", "BYE", CLOSE_TIMEOUT_S)
        assert bye.source == ivr_sip and bye.transport == transport.upper()
        await peer.wait_sip("SIP/2.0 200", "BYE", CLOSE_TIMEOUT_S, destination=ivr_sip)
        ours = [m for m in peer.sip_messages() if m.is_request and m.source != ivr_sip]
        assert "BYE" not in [m.method for m in ours], "baresip sent a BYE of its own"

        assert outcome == [DigitsOutcome("123", terminated=True)]
        assert _digits(ivr) == [(d, "rfc4733") for d in "123#"]
        assert _ended(ivr) == ["ivr-bye"]
        await _until(
            lambda: ivr.worker.ports.in_use == 0, CLOSE_TIMEOUT_S, "RTP ports not released", peer
        )

        # what baresip heard is the IVR's prompt, decoded from the negotiated codec
        heard = peer.recordings().get("dec")
        assert heard is not None, f"baresip recorded nothing: {sorted(peer.directory.iterdir())}"
        pcm, rate = read_wav(heard, rate=8000)
        assert abs(_dominant_hz(pcm, rate) - IVR_TONE_HZ) < 20
    finally:
        await peer.stop()
        await ivr.worker.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize(("transport", "codec"), CASES)
async def test_baresip_presses_keys_and_hangs_up(transport: str, codec: str) -> None:
    frames: list[bytes] = []

    async def on_call(call: Call) -> None:
        # listen to the caller until they hang up; digits are reported by the call itself
        async for frame in call.audio_frames():
            frames.append(frame)

    peer = _peer(transport, codec)
    ivr = await start_ivr(on_call)
    try:
        await peer.start()
        await _call_and_press(peer, ivr, codec)
        await _until(lambda: len(_digits(ivr)) >= 4, DIGITS_TIMEOUT_S, "four digits not seen", peer)
        await peer.hangup()
        await peer.wait_event("CALL_CLOSED", CLOSE_TIMEOUT_S)
        ivr_sip = f"127.0.0.1:{ivr.port}"
        bye = await peer.wait_sip("BYE ", "BYE", CLOSE_TIMEOUT_S, destination=ivr_sip)
        assert bye.transport == transport.upper()
        ok = await peer.wait_sip("SIP/2.0 200", "BYE", CLOSE_TIMEOUT_S)
        assert ok.source == ivr_sip

        assert _digits(ivr) == [(d, "rfc4733") for d in "123#"]
        await _until(lambda: bool(_ended(ivr)), CLOSE_TIMEOUT_S, "IVR did not end the call", peer)
        assert _ended(ivr) == ["caller-bye"]
        await _until(
            lambda: ivr.worker.ports.in_use == 0, CLOSE_TIMEOUT_S, "RTP ports not released", peer
        )

        # what the IVR heard is baresip's microphone
        assert frames, "the IVR received no audio from baresip"
        assert abs(_dominant_hz(b"".join(frames)) - PEER_TONE_HZ) < 20
    finally:
        await peer.stop()
        await ivr.worker.stop()


# -- the helper's own wire handling (no process needed) ------------------------------------------
TRACE = (
    "call: connecting\n\x1b[36;1m#\nUDP 127.0.0.1:5070 -> 127.0.0.1:5060\n"
    "BYE sip:tongdai@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070\r\n"
    "CSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n\x1b[;m\n"
    "\x1b[36;1m#\nTCP 127.0.0.1:5060 -> 127.0.0.1:5070\n"
    "SIP/2.0 200 OK\r\ncseq:   7 BYE  \r\nContent-Length: 0\r\n\r\n\x1b[;m\n"
)


def test_sip_trace_is_parsed_in_order() -> None:
    bye, ok = parse_sip_trace(TRACE)
    assert (bye.transport, bye.source, bye.destination) == (
        "UDP",
        "127.0.0.1:5070",
        "127.0.0.1:5060",
    )
    assert bye.first_line == "BYE sip:tongdai@127.0.0.1:5060 SIP/2.0" and bye.is_request
    assert (ok.transport, ok.first_line, ok.cseq, ok.method) == (
        "TCP",
        "SIP/2.0 200 OK",
        "7 BYE",
        "BYE",
    )
    assert not ok.is_request
    assert parse_sip_trace("baresip is ready.\n") == []


def test_netstrings_round_trip_and_partial_input() -> None:
    buffer = bytearray(encode_netstring(b'{"a":1}') + encode_netstring(b"") + b"5:ab")
    assert decode_netstrings(buffer) == [b'{"a":1}', b""]
    assert buffer == b"5:ab"  # incomplete: kept for the next read
    buffer += b"cde,"
    assert decode_netstrings(buffer) == [b"abcde"] and buffer == b""


@pytest.mark.parametrize("bad", [b"x1:a,", b"3:abcX", b"99999999:", b"1" * 30])
def test_malformed_netstring_is_a_typed_error(bad: bytes) -> None:
    with pytest.raises(BaresipError):
        decode_netstrings(bytearray(bad))


def test_unsupported_transport_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BaresipError, match="transport"):
        write_config(
            tmp_path,
            sip_port=1,
            ctrl_port=2,
            rtp_ports=(3, 4),
            module_dir=tmp_path,
            transport="sctp",
        )


def test_module_dir_needs_every_module(tmp_path: Path) -> None:
    for name in REQUIRED_MODULES[:-1]:
        (tmp_path / f"{name}.so").touch()
    assert find_module_dir((tmp_path,)) is None  # ctrl_tcp missing: no scriptable softphone
    (tmp_path / "ctrl_tcp.so").touch()
    assert find_module_dir((tmp_path / "absent", tmp_path)) == tmp_path
