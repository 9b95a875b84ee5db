"""A real ``tongdai serve`` process for the operations tests: its environment, its output and
small HTTP helpers (no client library: urllib against the real endpoint)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.harness import free_port, media_range
from tests.support import ROOT


def serve_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """Environment of a node on private ports, espeak-ng prompts, keypad only."""
    lo, hi = media_range(100)
    env = {
        **os.environ,
        "TONGDAI_DATABASE_URL": database_url,
        "TONGDAI_DATA_DIR": str(tmp_path / "var"),
        "TONGDAI_SPEECH__SYNTHESIZER": "espeak-ng",
        "TONGDAI_SPEECH__RECOGNIZER": "none",
        "TONGDAI_SPEECH__PROMPT_CACHE_DIR": str(tmp_path / "prompts"),
        "TONGDAI_MEDIA__RTP_PORT_MIN": str(lo),
        "TONGDAI_MEDIA__RTP_PORT_MAX": str(hi),
        "TONGDAI_MEDIA__PRIORITY": "normal",
        "TONGDAI_WORKERS": "1",
    }
    env.update(extra)
    return env


def db_init(env: dict[str, str], *, sample: bool = False) -> None:
    """``tongdai db init`` on the environment's database."""
    command = [sys.executable, "-m", "cli", "db", "init", *(["--sample"] if sample else [])]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)


@dataclass
class ServeProcess:
    """A running ``tongdai serve``: its SIP and HTTP ports and its output files."""

    process: subprocess.Popen[bytes]
    sip_port: int
    http_port: int
    out: Path
    err: Path

    @classmethod
    def start(cls, tmp_path: Path, env: dict[str, str], *args: str,
              name: str = "serve") -> ServeProcess:  # fmt: skip
        sip_port, http_port = free_port(), free_port()
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "serve", "--no-web", "--sip-host", "127.0.0.1",
                 "--sip-port", str(sip_port), "--metrics-port", str(http_port), *args],
                cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
            )  # fmt: skip
        return cls(process, sip_port, http_port, out, err)

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_for(self, text: str, timeout_s: float = 60.0) -> None:
        """Wait until ``text`` appears in the output; fail with the output otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared:\n{self.output()[-4000:]}")

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of GET ``path`` on the node's HTTP endpoint."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def ready(self) -> tuple[int, dict[str, str]]:
        status, body = self.get("/readyz")
        return status, json.loads(body)

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)
