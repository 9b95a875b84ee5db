"""Process priority of call-carrying processes: raised for the event-loop thread only, never
for the threads and processes it starts; a refusal is a warning, not a failure."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import priority
from ivr.priority import Priority, apply_priority

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, os, subprocess, threading
from ivr.priority import apply_priority
applied = apply_priority({level!r})
seen = {{}}
def look():
    seen["policy"] = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    seen["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
worker = threading.Thread(target=look)
worker.start()
worker.join()
child = subprocess.run(["nice"], capture_output=True, text=True).stdout.strip()
print(json.dumps({{
    "granted": applied.granted,
    "policy": os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK,
    "nice": os.getpriority(os.PRIO_PROCESS, 0),
    "thread": seen,
    "child_nice": int(child),
}}))
"""


def _probe(level: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(level=level)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _may_raise_priority() -> bool:
    return os.geteuid() == 0


@pytest.mark.parametrize(
    ("level", "policy", "nice"),
    [("realtime", os.SCHED_RR, None), ("high", os.SCHED_OTHER, priority.HIGH_NICE)],
)
def test_only_the_asking_thread_is_raised(level: str, policy: int, nice: int | None) -> None:
    if not _may_raise_priority():
        pytest.skip("raising a priority needs root or CAP_SYS_NICE")
    seen = _probe(level)
    assert seen["granted"] is True
    assert seen["policy"] == policy
    if nice is not None:
        assert seen["nice"] == nice
    # threads (recognition, call log) and processes (espeak-ng) started later run normally
    assert seen["thread"] == {"policy": os.SCHED_OTHER, "nice": 0}
    assert seen["child_nice"] == 0


def test_normal_asks_for_nothing() -> None:
    seen = _probe("normal")
    assert seen["granted"] is True
    assert seen["policy"] == os.SCHED_OTHER


def test_a_refusal_is_logged_and_the_process_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with caplog.at_level(logging.WARNING, logger="ivr.priority"):
        applied = apply_priority(Priority.REALTIME)
    assert applied.granted is False
    assert "Operation not permitted" in applied.detail
    assert "CAP_SYS_NICE" in caplog.text


def test_unknown_priority_is_refused_before_anything_changes() -> None:
    with pytest.raises(ValueError):
        apply_priority("urgent")


LEASH_PROBE = """
import json, os, time
from ivr.priority import apply_priority
applied = apply_priority("realtime")
def policy():
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
# A busy event loop blocks often: 1.5 s of 10 ms bursts with short sleeps keeps its priority.
end = time.monotonic() + 1.5
while time.monotonic() < end:
    burst = time.monotonic() + 0.01
    while time.monotonic() < burst:
        pass
    time.sleep(0.001)
kept = policy()
# A runaway loop never blocks: the kernel's SIGXCPU demotes it.
started = time.monotonic()
while policy() == os.SCHED_RR and time.monotonic() - started < 4.0:
    pass
print(json.dumps({"granted": applied.granted, "detail": applied.detail, "kept": kept,
                  "after": policy(), "spun_s": time.monotonic() - started}))
"""


def test_a_runaway_realtime_thread_is_demoted(tmp_path: Path) -> None:
    if not _may_raise_priority():
        pytest.skip("raising a priority needs root or CAP_SYS_NICE")
    done = subprocess.run(
        [sys.executable, "-c", LEASH_PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["granted"] is True, seen
    assert seen["kept"] == os.SCHED_RR  # blocking now and then: no demotion
    assert seen["after"] == os.SCHED_OTHER, seen  # the runaway loop lost real-time priority
    assert seen["spun_s"] < priority.RT_LEASH_S + 1.5, seen
    assert "demoted to normal scheduling" in done.stderr  # and said so
