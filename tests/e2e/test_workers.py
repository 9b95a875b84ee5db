"""Several IVR worker processes behind one SIP port (`tongdai serve --workers 2`): the
dispatcher hands every message of a call to the worker that owns it (by Call-ID)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import Settings
from ivr.commands import worker_settings
from ivr.settings import MediaSettings, SipSettings
from ivr.sip.dialog import Peer
from ivr.sip.relay import decode_frame, encode_frame, worker_for
from tests.e2e.harness import free_port, media_range, run_sipp
from tests.support import ROOT

SCENARIOS = Path(__file__).parent / "scenarios"


def _message(call_id: bytes, compact: bool = False) -> bytes:
    name = b"i" if compact else b"Call-ID"
    return b"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n" + name + b": " + call_id + b"\r\n\r\n"


def test_a_call_always_goes_to_the_same_worker() -> None:
    owners = {worker_for(_message(b"call-%d@host" % n), 4) for n in range(200)}
    assert owners == {0, 1, 2, 3}  # calls spread over the workers
    for n in range(50):
        call_id = b"abc-%d@10.0.0.1" % n
        assert worker_for(_message(call_id), 4) == worker_for(_message(call_id, True), 4)
    assert worker_for(b"garbage without headers", 4) == 0


def test_frames_round_trip() -> None:
    peer = Peer("tcp", "192.0.2.7", 5071)
    assert decode_frame(encode_frame(peer, b"SIP/2.0 200 OK\r\n\r\n")) == (
        peer,
        b"SIP/2.0 200 OK\r\n\r\n",
    )
    with pytest.raises(ValueError):
        decode_frame(b"nonsense")


def test_worker_settings_split_ports_and_calls() -> None:
    settings = Settings(
        sip=SipSettings(max_calls=401), media=MediaSettings(rtp_port_min=20000, rtp_port_max=23999)
    )
    first, second = (worker_settings(settings, i, 2) for i in range(2))
    assert (first.media.rtp_port_min, first.media.rtp_port_max) == (20000, 21999)
    assert (second.media.rtp_port_min, second.media.rtp_port_max) == (22000, 23999)
    assert first.sip.max_calls == second.sip.max_calls == 201
    # each worker loads its own model: the recognition slots and threads are shared out too
    assert settings.speech.max_streams == 32 and settings.speech.asr_workers == 2
    assert first.speech.max_streams == second.speech.max_streams == 16
    assert first.speech.asr_workers == second.speech.asr_workers == 1


@pytest.mark.e2e
@pytest.mark.asyncio
async def test_two_workers_share_the_calls_of_one_port(tmp_path: Path) -> None:
    port = free_port()
    lo, hi = media_range(200)
    env = {
        **os.environ,
        "TONGDAI_DATABASE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "TONGDAI_SPEECH__SYNTHESIZER": "espeak-ng",
        "TONGDAI_SPEECH__PROMPT_CACHE_DIR": str(tmp_path / "prompts"),
        "TONGDAI_MEDIA__RTP_PORT_MIN": str(lo),
        "TONGDAI_MEDIA__RTP_PORT_MAX": str(hi),
    }
    subprocess.run(
        [sys.executable, "-m", "cli", "db", "init"], cwd=ROOT, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--app", "digits", "--no-web",
             "--workers", "2", "--sip-host", "127.0.0.1", "--sip-port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        for _ in range(200):
            if log.read_text(errors="replace").count("answering calls") >= 2:
                break
            await asyncio.sleep(0.1)
        udp = await run_sipp(SCENARIOS / "info.xml", port, calls=20, concurrent=20, rate=40)
        assert udp.returncode == 0, udp.stdout[-1500:] + log.read_text(errors="replace")[-3000:]
        tcp = await run_sipp(SCENARIOS / "info.xml", port, calls=4, concurrent=4, transport="t1")
        assert tcp.returncode == 0, tcp.stdout[-1500:] + log.read_text(errors="replace")[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    text = log.read_text(errors="replace")
    per_worker = {
        name: len(re.findall(rf" {name} ivr\.hotline: call \S+ call-started", text))
        for name in ("worker-0", "worker-1")
    }
    assert sum(per_worker.values()) == 24, text[-3000:]
    assert all(count > 0 for count in per_worker.values()), per_worker
    assert "Traceback" not in text
