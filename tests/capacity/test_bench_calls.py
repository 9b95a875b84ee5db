"""bench/calls.py: its capture reading on a real tcpdump capture, its profile summary, its
argument checks, and one small real run (tongdai serve, sipp, tcpdump)."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import ROOT, need

BENCH = ROOT / "bench" / "calls.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_calls", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_calls"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def _sip(first_line: str, call_id: str, cseq: str) -> bytes:
    return (
        f"{first_line}\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _need_capture() -> None:
    need(shutil.which("tcpdump") or Path("/usr/sbin/tcpdump").exists(), "tcpdump missing")
    need(os.geteuid() == 0, "tcpdump on lo needs root")


def test_read_capture_times_sip_exchanges_and_splits_rtp_streams(tmp_path: Path) -> None:
    _need_capture()
    calls = _bench()
    server, caller, sink = _udp(), _udp(), _udp()
    senders = [_udp(), _udp()]
    sender_ports = [_port(s) for s in senders]
    sip_port = _port(server)
    ports = sorted(sender_ports)
    capture = calls.Capture(tmp_path / "wire.pcap", (ports[0], ports[1]), [_port(sink)], [sip_port])
    capture.start()
    try:
        to_server = ("127.0.0.1", _port(server))
        to_caller = ("127.0.0.1", _port(caller))
        caller.sendto(_sip("INVITE sip:x@127.0.0.1 SIP/2.0", "call-a", "1 INVITE"), to_server)
        caller.sendto(_sip("INVITE sip:x@127.0.0.1 SIP/2.0", "call-a", "1 INVITE"), to_server)
        time.sleep(0.05)
        server.sendto(_sip("SIP/2.0 100 Trying", "call-a", "1 INVITE"), to_caller)
        time.sleep(0.05)
        server.sendto(_sip("SIP/2.0 200 OK", "call-a", "1 INVITE"), to_caller)
        server.sendto(_sip("SIP/2.0 200 OK", "call-a", "1 INVITE"), to_caller)  # retransmitted
        caller.sendto(_sip("BYE sip:x@127.0.0.1 SIP/2.0", "call-a", "2 BYE"), to_server)
        time.sleep(0.03)
        server.sendto(_sip("SIP/2.0 200 OK", "call-a", "2 BYE"), to_caller)
        # an INVITE never answered counts nowhere
        caller.sendto(_sip("INVITE sip:x@127.0.0.1 SIP/2.0", "call-b", "1 INVITE"), to_server)
        for seq in range(5):
            for ssrc, sender in enumerate(senders, start=1):
                header = struct.pack("!BBHII", 0x80, 8, seq, seq * 160, ssrc)
                sender.sendto(header + bytes(160), ("127.0.0.1", _port(sink)))
            time.sleep(0.02)
        sink.sendto(b"not ours", ("127.0.0.1", _port(senders[0])))  # wrong direction
    finally:
        capture.stop()
        for sock in (server, caller, sink, *senders):
            sock.close()
    wire = calls.read_capture(capture.path, {sip_port})
    assert sorted(wire.streams) == sorted(zip(sender_ports, (1, 2), strict=True))
    assert all(len(times) == 5 for times in wire.streams.values())
    assert len(wire.invite_100_ms) == 1 and len(wire.invite_200_ms) == 1
    assert len(wire.bye_200_ms) == 1
    # lower bounds are the sleeps between the packets; kernel timestamps keep their order
    assert 50 <= wire.invite_100_ms[0] < wire.invite_200_ms[0]
    assert wire.invite_200_ms[0] >= 100
    assert wire.bye_200_ms[0] >= 30
    assert capture.kernel_drops == 0


def test_profile_summary_counts_own_and_inclusive_samples() -> None:
    calls = _bench()
    collapsed = "\n".join(
        [
            'process 7:"tongdai";thread (0x1):"MainThread";run (asyncio/base_events.py:600);'
            "tick (ivr/media/stream.py:412) 30",
            'process 7:"tongdai";thread (0x1):"MainThread";run (asyncio/base_events.py:600);'
            "tick (ivr/media/stream.py:412);build (ivr/media/rtp.py:159) 10",
            'process 7:"tongdai";thread (0x1):"MainThread";run (asyncio/base_events.py:600) 60',
            "garbage line without a count",
        ]
    )
    summary = calls.summarise_profile(collapsed)
    assert summary.splitlines()[0].startswith("py-spy: 100 samples")
    own_table, inclusive = summary.split("inclusive)")
    own = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r"^\s+([\d.]+)\s+(\S+ \(\S+\))$", own_table, re.MULTILINE)
    }
    assert own["run (base_events.py)"] == 60.0  # first table: self
    assert own["tick (stream.py)"] == 30.0
    assert own["build (rtp.py)"] == 10.0
    assert re.search(r"^\s+40\.0\s+tick \(stream\.py\)$", inclusive, re.MULTILINE)
    assert re.search(r"^\s+100\.0\s+run \(base_events\.py\)$", inclusive, re.MULTILINE)
    assert calls.summarise_profile("") == "py-spy collected no samples"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--levels", "ten"], "expected numbers"),
        (["--levels", "0"], "positive"),
        (["--duration", "2"], "--duration must be at least"),
        (["--duration", "10", "--ramp", "12"], "--ramp must be"),
        (["--rtp-ports", "30000"], "expected LOW-HIGH"),
    ],
)
def test_bad_arguments_are_refused_with_a_message(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.e2e
@pytest.mark.slow
def test_a_small_real_run_prints_a_row_with_every_call_answered() -> None:
    need(shutil.which("sipp"), "sipp is not installed (Debian package sip-tester)")
    _need_capture()
    done = subprocess.run(
        [sys.executable, str(BENCH), "--levels", "3", "--duration", "3", "--ramp", "1",
         "--rtp-ports", "27000-27099"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("    3 ")]
    assert len(rows) == 1, done.stdout
    calls, ok, failed, peak = (int(value) for value in rows[0][:4])
    assert (calls, ok, failed) == (3, 3, 0), done.stdout
    assert 1 <= peak <= 3
    # figures exist (not "nan"): the capture saw the INVITEs, their 200s and our RTP
    assert not math.isnan(float(rows[0][7]))  # INVITE->200 p50 on the wire
    assert not math.isnan(float(rows[0][11]))  # send interval p50
    assert "RTP streams captured" not in done.stdout
