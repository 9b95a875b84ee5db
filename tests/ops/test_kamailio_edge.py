"""Kamailio (deploy/kamailio/kamailio.cfg) in front of two real tongdai nodes on loopback:
calls pass through it, a SIGKILLed node's share goes to the other node, a flood from another
loopback address is banned while 200 genuine calls from the trusted trunk lose none."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, run_sipp
from tests.ops.serve_process import ServeProcess, db_init, serve_env
from tests.support import ROOT, need

pytestmark = pytest.mark.e2e
CONFIG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
INFO = ROOT / "tests" / "ops" / "scenarios" / "info_routed.xml"  # INVITE, INFO, BYE; routed
OPTIONS = ROOT / "tests" / "e2e" / "scenarios" / "options.xml"
# Kamailio's UDP workers relay a node's 180 and its 200 in parallel, so the 180 can arrive after
# the 200, as it may through any proxy; a UAC ignores it (RFC 3261 §17.1.1.2), so sipp must too.
LATE_180 = ["-default_behaviors", "all,-abortunexp"]


def start_kamailio(
    tmp_path: Path, port: int, nodes: list[int], *defines: str
) -> subprocess.Popen[bytes]:
    """Kamailio from the shipped config on 127.0.0.1:port (UDP and TCP) over ``nodes``."""
    kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
    need(Path(kamailio).exists(), "kamailio is not installed (Debian package kamailio)")
    listing = tmp_path / "dispatcher.list"
    listing.write_text("".join(f"1 sip:127.0.0.1:{node}\n" for node in nodes))
    runtime = tmp_path / "kamailio-run"
    runtime.mkdir()
    log = (tmp_path / "kamailio.log").open("wb")
    return subprocess.Popen(
        [kamailio, "-f", str(CONFIG), "-DD", "-E", "-m", "64", "-M", "8",
         "-Y", str(runtime), "-P", str(runtime / "kamailio.pid"),
         "-A", "WITH_CLI_LISTEN", "-A", f'DISPATCHER_LIST="{listing}"',
         "-A", "PIKE_DENSITY=40", "-A", "PROBE_INTERVAL_S=1",
         *[arg for define in defines for arg in ("-A", define)],
         "-l", f"udp:127.0.0.1:{port}", "-l", f"tcp:127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[int, list[ServeProcess], Path]]:
    env = serve_env(tmp_path, f"sqlite:///{tmp_path / 'cluster.db'}")
    db_init(env)
    nodes = []
    for k in range(2):
        # The nodes take the edge's rate as it is (their own per-source limits exempt it).
        node_env = dict(env, TONGDAI_DATA_DIR=str(tmp_path / f"var{k}"),
                        TONGDAI_SIP__LIMITS__EXEMPT='["127.0.0.1"]')  # fmt: skip
        nodes.append(ServeProcess.start(tmp_path, node_env, "--app", "digits", name=f"node{k}"))
    port = free_port()
    proxy: subprocess.Popen[bytes] | None = None
    try:
        for node in nodes:
            node.wait_for("answering calls", 60)
        # The genuine callers' address is the trusted trunk: never banned for its rate.
        proxy = start_kamailio(
            tmp_path, port, [node.sip_port for node in nodes], 'TRUSTED_TRUNKS="127.0.0.1/32"'
        )
        time.sleep(3)  # first OPTIONS probes
        assert proxy.poll() is None, (tmp_path / "kamailio.log").read_text(errors="replace")
        yield port, nodes, tmp_path / "kamailio.log"
    finally:
        if proxy is not None:
            proxy.send_signal(signal.SIGTERM)
            try:
                proxy.wait(10)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait()
        for node in nodes:
            node.stop()


def _calls_per_node(nodes: list[ServeProcess]) -> list[int]:
    return [node.output().count("call-started") for node in nodes]


async def test_calls_pass_and_survive_a_killed_node(
    edge: tuple[int, list[ServeProcess], Path],
) -> None:
    port, nodes, log = edge
    result = await run_sipp(INFO, port, calls=8, concurrent=8, rate=10, extra=LATE_180)
    assert result.returncode == 0, result.errors[-3000:] + log.read_text(errors="replace")[-3000:]
    first = _calls_per_node(nodes)
    assert sum(first) == 8 and all(count > 0 for count in first), first
    nodes[0].process.send_signal(signal.SIGKILL)
    nodes[0].process.wait(5)
    result = await run_sipp(INFO, port, calls=8, concurrent=4, rate=4, extra=LATE_180)
    assert result.returncode == 0, result.errors[-3000:] + log.read_text(errors="replace")[-3000:]
    after = _calls_per_node(nodes)
    assert after[1] - first[1] == 8  # every new call went to the live node, none lost
    assert "Traceback" not in nodes[1].output()


async def test_a_flood_is_banned_and_genuine_calls_pass(
    edge: tuple[int, list[ServeProcess], Path],
) -> None:
    """200 genuine calls from the trunk at 25 calls/s while 127.0.0.2 floods the edge with
    OPTIONS at 400/s: the flood is banned, the calls all succeed."""
    port, nodes, log = edge
    sipp = shutil.which("sipp")
    need(sipp, "sipp is not installed (Debian package sip-tester)")
    genuine = asyncio.create_task(
        run_sipp(INFO, port, calls=200, concurrent=60, rate=25, extra=LATE_180)
    )
    await asyncio.sleep(0.5)  # the flood starts among calls already up
    flood = await asyncio.to_thread(
        subprocess.run,
        [str(sipp), "-sf", str(OPTIONS), f"127.0.0.1:{port}", "-i", "127.0.0.2",
         "-p", str(free_port()), "-m", "800", "-l", "800", "-r", "400", "-t", "u1",
         "-nostdin", "-timeout", "10s", "-recv_timeout", "2000"],
        capture_output=True, text=True, timeout=60, cwd=log.parent,
    )  # fmt: skip
    result = await genuine
    text = log.read_text(errors="replace")
    assert flood.returncode != 0  # most of the flood got no answer
    assert "flood from 127.0.0.2" in text, text[-3000:]
    assert "flood from 127.0.0.1" not in text, text[-3000:]
    answered = sum(node.output().count("OPTIONS") for node in nodes)
    assert answered < 200, answered  # bounded: the ban stopped the rest
    assert result.returncode == 0, result.errors[-3000:] + text[-3000:]
    assert result.count("Successful call") == 200, result.stdout[-2000:]
    assert result.count("Failed call") == 0, result.stdout[-2000:]
    assert sum(_calls_per_node(nodes)) == 200


def _options(call_id: str, headers: str = "") -> bytes:
    return (
        f"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:0901234567@127.0.0.1>;tag={call_id}\r\nTo: <sip:hotline@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{headers}"
        f"Content-Length: 0\r\n\r\n"
    ).encode()


def test_identity_only_from_the_trunk_and_scanners_dropped(tmp_path: Path) -> None:
    """What the edge forwards, seen by a socket standing in for a node."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as node:
        node.bind(("127.0.0.1", 0))
        node.settimeout(0.2)
        port = free_port()
        proxy = start_kamailio(tmp_path, port, [node.getsockname()[1]],
                               'TRUSTED_TRUNKS="127.0.0.2/32"')  # fmt: skip
        try:
            time.sleep(2)
            pai = "P-Asserted-Identity: <sip:0912345678@trunk>\r\n"
            sent = {
                "from-caller": ("127.0.0.1", pai),
                "from-trunk": ("127.0.0.2", pai),
                "scanner": ("127.0.0.3", "User-Agent: friendly-scanner\r\n"),
                "after-scan": ("127.0.0.3", ""),
            }
            for call_id, (source, headers) in sent.items():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
                    caller.bind((source, 0))
                    caller.sendto(_options(call_id, headers), ("127.0.0.1", port))
                time.sleep(0.3)
            seen: dict[str, str] = {}
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    data = node.recv(65535).decode(errors="replace")
                except TimeoutError:
                    continue
                for call_id in sent:
                    if f"Call-ID: {call_id}\r\n" in data:
                        seen[call_id] = data
        finally:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(10)
    assert set(seen) == {"from-caller", "from-trunk"}  # the scanner's address is banned
    assert "P-Asserted-Identity" not in seen["from-caller"]
    assert "P-Asserted-Identity: <sip:0912345678@trunk>" in seen["from-trunk"]
    log = (tmp_path / "kamailio.log").read_text(errors="replace")
    assert "scanner User-Agent from 127.0.0.3" in log
