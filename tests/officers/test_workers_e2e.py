"""`tongdai serve --workers 2`: an officer's phone registers through the dispatcher (the
binding is in the database every worker reads), a wrong password is refused the same way, and a
caller pressing 0 is bridged to the registered phone by whichever worker carries the call."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_department
from ivr.registrar_db import DbRegistry
from tests.e2e.harness import dtmf_scenario, free_port, media_range, run_sipp
from tests.officers.phones import officer_phone
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PASSWORD = "b1m4t-1001"


async def test_registration_and_bridge_through_two_workers(tmp_path: Path) -> None:
    port = free_port()
    lo, hi = media_range(200)
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    env = {
        **os.environ,
        "TONGDAI_DATABASE_URL": url,
        "TONGDAI_SPEECH__SYNTHESIZER": "espeak-ng",
        "TONGDAI_SPEECH__RECOGNIZER": "none",
        "TONGDAI_SPEECH__PROMPT_CACHE_DIR": str(tmp_path / "prompts"),
        "TONGDAI_QUEUES__RECORDINGS_DIR": str(tmp_path / "call-recordings"),
        "TONGDAI_MEDIA__RTP_PORT_MIN": str(lo),
        "TONGDAI_MEDIA__RTP_PORT_MAX": str(hi),
        "TONGDAI_REGISTRAR__DIGEST_ALGORITHMS": '["MD5"]',  # baresip 1.0
    }

    def cli(*args: str, stdin: str = "") -> None:
        subprocess.run(
            [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, check=True,
            capture_output=True, input=stdin.encode(), timeout=120,
        )  # fmt: skip

    cli("db", "init", "--sample", "--sample-count", "20")
    cli("officers", "add", "tong-dai", "1001", "--name", "Nguyễn Văn An", "--password-stdin",
        stdin=PASSWORD + "\n")  # fmt: skip
    cli("queue", "state", "1001", "available")
    engine = create_engine_from_url(url)
    with unit_of_work(session_factory(engine)) as session:  # open whenever the suite runs
        always = {day: ["00:00-23:59"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        save_department(session, dept_id="tong-dai", name="Tổng đài", hours=always)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--no-web", "--workers", "2",
             "--sip-host", "127.0.0.1", "--sip-port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    registry = DbRegistry(session_factory(engine), realm="tongdai")
    try:
        for _ in range(300):
            if log.read_text(errors="replace").count("answering calls") >= 2:
                break
            await asyncio.sleep(0.1)
        async with officer_phone(port, "1001", PASSWORD) as phone:
            await phone.wait_sip("SIP/2.0 200", "REGISTER", 10)
            (binding,) = await registry.bindings("1001", now=time.time())
            assert binding.source == f"udp:127.0.0.1:{phone.sip_port}"
        async with officer_phone(port, "1001", "sai-mat-khau") as wrong:
            await wrong.wait_sip("SIP/2.0 403", "REGISTER", 10)
        # press 0: the worker carrying the call rings the phone another worker registered
        async with officer_phone(port, "1001", PASSWORD, answer="auto") as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            scenario = dtmf_scenario(tmp_path / "zero.xml", [(2000, "0")], hangup_after_ms=8000)
            result = await run_sipp(scenario, port, timeout_s=40)
            assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
            await officer.wait_event("CALL_CLOSED", 5)
            invites = [m for m in officer.sip_messages() if m.first_line.startswith("INVITE")]
            assert len(invites) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        engine.dispose()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    # the conversation was recorded by the worker that carried it, owner-only
    folder = tmp_path / "call-recordings"
    recordings = [p for p in folder.iterdir() if p.name.startswith("bridge-")]
    assert len(recordings) == 1 and recordings[0].suffix == ".wav", recordings
    assert recordings[0].stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
