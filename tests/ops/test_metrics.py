"""``/metrics`` scraped from real ``tongdai serve`` processes after real sipp calls: one
worker, two workers added up, the web app; JSON logs carry the Call-ID."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import free_port, run_sipp
from tests.ops.serve_process import ServeProcess, db_init, serve_env
from tests.support import ROOT

pytestmark = pytest.mark.e2e
SCENARIO = ROOT / "tests" / "e2e" / "scenarios" / "info.xml"  # INVITE, INFO digits, BYE


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


async def _calls_then_scrape(
    tmp_path: Path, workers: int, calls: int, later: int = 0, **env_extra: str
) -> tuple[
    dict[tuple[str, tuple[tuple[str, str], ...]], float], ServeProcess
]:  # fmt: skip
    env = serve_env(tmp_path, f"sqlite:///{tmp_path / 'node.db'}", TONGDAI_WORKERS=str(workers),
                    **env_extra)  # fmt: skip
    db_init(env)
    node = ServeProcess.start(tmp_path, env, "--app", "digits")
    try:
        node.wait_for("answering calls" if workers == 1 else "dispatching", 60)
        before = samples(node.get("/metrics")[1])
        assert value(before, "tongdai_calls_started_total") == 0
        result = await run_sipp(SCENARIO, node.sip_port, calls=calls, concurrent=calls, rate=20)
        assert result.returncode == 0, result.stdout[-1500:] + node.output()[-3000:]
        if later:  # calls after the first ones: their prompts are in memory by now
            result = await run_sipp(SCENARIO, node.sip_port, calls=later, concurrent=later)
            assert result.returncode == 0, result.stdout[-1500:] + node.output()[-3000:]
        time.sleep(2.5)  # two sampler periods
        scrape = samples(node.get("/metrics")[1])
    finally:
        assert node.stop() == 0
    return scrape, node


async def test_one_worker_counts_its_calls_and_media(tmp_path: Path) -> None:
    scrape, node = await _calls_then_scrape(tmp_path, 1, 6, later=2)
    assert value(scrape, "tongdai_calls_started_total") == 8
    assert value(scrape, "tongdai_calls_ended_total", outcome="caller-bye") == 8
    assert value(scrape, "tongdai_calls_up") == 0
    assert value(scrape, "tongdai_digits_total", source="info") >= 6
    assert value(scrape, "tongdai_sip_messages_received_total") >= 6 * 4  # INVITE ACK INFO BYE
    assert value(scrape, "tongdai_rtp_packets_total", direction="out") > 6 * 25
    wakeups = value(scrape, "tongdai_media_clock_lateness_seconds_count")
    assert wakeups > 50
    assert value(scrape, "tongdai_rtp_send_interval_seconds_count") >= wakeups
    on_time = value(scrape, "tongdai_rtp_send_interval_seconds_bucket", le="0.025")
    assert on_time > 0.5 * wakeups  # most sends 20 ms apart even on a busy machine
    # the greeting is rendered once; the later calls find it in memory
    assert value(scrape, "tongdai_prompt_cache_lookups_total", result="render") >= 1
    assert value(scrape, "tongdai_prompt_cache_lookups_total", result="memory") >= 2
    assert "Traceback" not in node.output()


async def test_two_workers_add_up_on_one_endpoint(tmp_path: Path) -> None:
    scrape, node = await _calls_then_scrape(tmp_path, 2, 10)
    assert value(scrape, "tongdai_calls_started_total") == 10
    assert value(scrape, "tongdai_calls_ended_total", outcome="caller-bye") == 10
    assert value(scrape, "tongdai_calls_up") == 0
    # both workers wrote their files (the calls were spread by Call-ID)
    per_worker = [line for line in node.output().splitlines() if "call-started" in line]
    assert {"worker-0" in line for line in per_worker} == {True, False}
    assert "Traceback" not in node.output()


async def test_json_logs_carry_the_call_id(tmp_path: Path) -> None:
    _, node = await _calls_then_scrape(tmp_path, 1, 2, TONGDAI_NODE__LOG_FORMAT="json")
    entries = [json.loads(line) for line in node.err.read_text().splitlines()
               if line.startswith("{")]  # fmt: skip
    started = [e for e in entries if "call-started" in e["message"]]
    assert len(started) == 2
    assert all(e["call_id"] and e["call_id"][:12] in e["message"] for e in started)
    assert {e["level"] for e in entries} <= {"DEBUG", "INFO", "WARNING", "ERROR"}


def test_web_app_serves_its_metrics_and_readiness(tmp_path: Path) -> None:
    env = serve_env(tmp_path, f"sqlite:///{tmp_path / 'web.db'}")
    db_init(env)
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        ready = json.loads(urllib.request.urlopen(f"{base}/readyz", timeout=5).read())
        assert ready == {"status": "ready", "database": "ok"}
        # the API needs a session or a token: an anonymous request is counted with its 401
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/menus/versions", timeout=5).read()
        assert refused.value.code == 401
        scrape = samples(urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode())
        assert value(scrape, "tongdai_web_requests_total", route="/readyz", status="200") == 1
        assert value(scrape, "tongdai_web_requests_total", route="/api/menus/versions",
                     status="401") == 1  # fmt: skip
        assert value(scrape, "process_resident_memory_bytes") > 0
    finally:
        web.terminate()
        web.wait(10)
