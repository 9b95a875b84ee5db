"""Call-capacity benchmark: sipp callers at rising concurrency against ``tongdai serve``.

By default the shipped hotline is measured as ``make run`` runs it: the published menu tree on
the dialog runtime, the call log, the sample database and the web app (``--app digits`` for the
bare greeting instead). For every level N a fresh ``tongdai serve`` process answers N sipp calls
that start over ``--ramp`` seconds (or arrive at ``--rate`` calls/s; ``--burst``: all N in one
second) and each last ``--duration`` seconds. ``--runs K`` measures steady state: each level is
run K times back to back on one process, each run reported on its own row. Each caller sends
recorded PCMA speech, then RFC 4733 digits 1 2 3 (no '#'), and hangs up with BYE
(bench/scenarios/caller.xml).

Printed per level (see bench/README.md for what each figure means):
  failed calls (sipp's count), peak concurrent calls, INVITE->200 p50/p99/max (sipp -trace_rtt),
  our RTP send interval p50/p99/max at the receiver (tcpdump on lo: kernel timestamps of the
  packets we send, per stream), CPU of the tongdai process (average and busiest second, % of
  one core), CPU of the processes it spawned, its peak RSS, and the load generators' CPU.

    .venv/bin/python bench/calls.py [--levels 50,100,200,400,800] [--duration 10] [--ramp 5]
                                    [--rate 50 | --burst] [--runs 3] [--app digits]
                                    [--profile 400] [--corpora]

``--corpora`` (with ``--runs``) first fires the RFC 4475 torture messages and the 4527 PROTOS
c07-sip datagrams at the process from 127.0.0.1, the address the callers come from (exempt from the
per-source limits as a trunk or proxy in front is, so that every datagram is parsed and answered,
where a hostile address of its own would be banned after a few hundred), waits until the
transactions they opened have timed out, and only then measures: the history a hotline has after
weeks on a public address.

Needs sipp and tcpdump, and root (tcpdump, and sipp's raw socket for the pcap audio).
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "bench" / "scenarios" / "caller.xml"
TONGDAI = Path(sys.executable).with_name("tongdai")
DIGITS_TAIL_S = 2.0  # the scenario's fixed part after the speech: three digits and a pause
READY_TIMEOUT_S = 60.0  # tongdai start-up (imports, database, prompt cache)
STOP_TIMEOUT_S = 15.0
SAMPLE_PERIOD_S = 0.25  # CPU sampling of the measured processes
RECV_TIMEOUT_MS = 20_000  # sipp fails a call whose expected message is this late
LATE_INTERVAL_MS = 40.0  # a send interval over two packet times: the receiver heard a gap
CAPTURE_FLUSH_S = 1.5  # longer than libpcap's 1 s block timeout
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class BenchError(Exception):
    """The benchmark could not run a level (a tool missing, a process that did not start)."""


# ------------------------------------------------------------------------- process figures
def proc_cpu_ticks(pid: int) -> tuple[int, int]:
    """(own utime+stime, reaped children's cutime+cstime) of ``pid`` in clock ticks."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def descendants(pid: int) -> list[int]:
    """The live children of ``pid``, and theirs (``tongdai serve --workers N``'s workers)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids = [int(k) for k in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
    return found


def tree_cpu_ticks(pid: int) -> tuple[int, int]:
    """:func:`proc_cpu_ticks` of ``pid`` with its live descendants' own ticks added to the
    first figure, so a dispatcher and its workers count as one tongdai."""
    own, reaped = proc_cpu_ticks(pid)
    for child in descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            own += proc_cpu_ticks(child)[0]
    return own, reaped


def proc_status_kb(pid: int, key: str) -> int:
    """A ``kB`` figure of /proc/PID/status (VmHWM, VmRSS), 0 when the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


class CpuSampler(threading.Thread):
    """Samples the CPU ticks of some processes, and of the machine, every SAMPLE_PERIOD_S."""

    def __init__(self, pids: dict[str, int], trees: Collection[str] = ()) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.trees = set(trees)  # names whose live descendants are counted with them
        self.samples: list[tuple[float, dict[str, tuple[int, int]], tuple[int, int]]] = []
        self._halt = threading.Event()

    def _sample(self) -> None:
        ticks: dict[str, tuple[int, int]] = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError, ValueError, IndexError):
                ticks[name] = (tree_cpu_ticks if name in self.trees else proc_cpu_ticks)(pid)
        self.samples.append((time.monotonic(), ticks, machine_ticks()))

    def run(self) -> None:
        self._sample()
        while not self._halt.wait(SAMPLE_PERIOD_S):
            self._sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self._sample()

    def average_pct(self, name: str, *, children: bool = False) -> float:
        """CPU of ``name`` over the whole sampling, in % of one core."""
        have = [(t, ticks[name]) for t, ticks, _ in self.samples if name in ticks]
        if len(have) < 2:
            return 0.0
        (t0, a), (t1, b) = have[0], have[-1]
        used = (b[1] - a[1]) if children else (b[0] - a[0])
        return 100.0 * used / CLK_TCK / max(t1 - t0, 1e-9)

    def peak_pct(self, name: str, window_s: float = 1.0) -> float:
        """The busiest ``window_s`` of ``name``'s own CPU, in % of one core."""
        have = [(t, ticks[name][0]) for t, ticks, _ in self.samples if name in ticks]
        best = 0.0
        j = 0
        for i in range(len(have)):
            while j < len(have) and have[j][0] - have[i][0] < window_s:
                j += 1
            if j < len(have):
                span = have[j][0] - have[i][0]
                best = max(best, 100.0 * (have[j][1] - have[i][1]) / CLK_TCK / span)
        return best

    def machine_pct(self) -> float:
        """How busy all CPUs were over the sampling (100 = every core busy)."""
        if len(self.samples) < 2:
            return 0.0
        (b0, t0), (b1, t1) = self.samples[0][2], self.samples[-1][2]
        return 100.0 * (b1 - b0) / max(t1 - t0, 1)


# ------------------------------------------------------------------------------- sip tools
def free_port() -> int:
    """A port free for UDP and TCP on 127.0.0.1 (sipp and tongdai bind both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise BenchError("no free port on 127.0.0.1")


def start_tongdai(
    workdir: Path, sip_port: int, env: dict[str, str], app: str = "hotline"
) -> subprocess.Popen[bytes]:
    """``tongdai serve --app APP`` on 127.0.0.1:sip_port (the hotline with its web app on a
    free port); returns once it answers calls: its workers say so and the node's ``/readyz``
    (and the web app's) answer 200, so no call waits for a worker still starting."""
    log_path = workdir / "tongdai.log"
    web_port, node_port = free_port(), free_port()
    web = ["--web-port", str(web_port)] if app == "hotline" else ["--no-web"]
    ready_urls = [f"http://127.0.0.1:{node_port}/readyz"]
    if app == "hotline":
        ready_urls.append(f"http://127.0.0.1:{web_port}/readyz")
    # sipp on loopback stands for a trunk or a proxy carrying many callers: the per-source
    # limits (a flood guard for one caller) would throttle it, so it is exempt, as a trunk is.
    env = {"TONGDAI_SIP__LIMITS__EXEMPT": '["127.0.0.1"]', **env}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(TONGDAI), "serve", "--app", app, *web, "--metrics-port", str(node_port),
             "--sip-host", "127.0.0.1", "--sip-port", str(sip_port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=workdir, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not (
        re.search(rb"answering calls on|dispatching sip:", log_path.read_bytes())
        and all(_answers_200(url) for url in ready_urls)
    ):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise BenchError(f"tongdai serve did not start (exit {proc.returncode}):\n{tail}")
        time.sleep(0.1)
    return proc


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:  # refused, not ready yet (503 is an HTTPError, an OSError)
        return False


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Capture:
    """tcpdump on lo: the RTP tongdai's ports send to sipp's media port, and all SIP on
    tongdai's SIP port. The kernel timestamps every packet as it crosses lo, so the figures do
    not depend on how quickly sipp gets to read them."""

    SNAPLEN = 2048  # whole SIP messages; RTP packets are 214 bytes on lo

    def __init__(
        self,
        path: Path,
        rtp_ports: tuple[int, int],
        sink_ports: Sequence[int],
        sip_ports: Sequence[int],
        *,
        bpf: str | None = None,
        snaplen: int = SNAPLEN,
    ) -> None:
        """``bpf`` replaces the filter made of the ports; ``snaplen`` the bytes kept a packet."""
        self.path = path
        self.snaplen = snaplen
        sinks = " or ".join(f"dst port {port}" for port in sink_ports)
        sips = " or ".join(f"port {port}" for port in sip_ports)
        self.bpf = bpf or (
            f"udp and ((src portrange {rtp_ports[0]}-{rtp_ports[1]} and ({sinks})) or {sips})"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.kernel_drops = 0

    def start(self) -> None:
        tcpdump = shutil.which("tcpdump") or "/usr/sbin/tcpdump"
        self.proc = subprocess.Popen(
            [tcpdump, "-i", "lo", "-n", "-B", "65536", "-s", str(self.snaplen),
             "-w", str(self.path), self.bpf],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if b"listening" not in line:
            raise BenchError(f"tcpdump did not start: {line.decode(errors='replace').strip()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        # libpcap hands packets over in blocks, a block at the latest after its 1 s timeout;
        # a block still open when tcpdump is interrupted is lost.
        time.sleep(CAPTURE_FLUSH_S)
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        found = re.search(rb"(\d+) packets? dropped by kernel", err)
        self.kernel_drops = int(found.group(1)) if found else 0


def udp_packets(pcap: Path) -> Iterator[tuple[float, int, int, bytes, int, int]]:
    """(capture time, source port, destination port, buffer, payload start, payload end) of
    every UDP/IPv4 packet of a pcap file; the payload is ``buffer[start:end]`` (not copied)."""
    data = pcap.read_bytes()
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    scale = 1e-9 if magic in (0xA1B23C4D, 0x4D3CB2A1) else 1e-6
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    link = {1: 14, 113: 16}.get(linktype, 0)  # Ethernet (lo), Linux cooked, raw IP
    record = struct.Struct(endian + "IIII")
    ports = struct.Struct("!HH")
    pos = 24
    end = len(data)
    while pos + 16 <= end:
        sec, frac, incl, _ = record.unpack_from(data, pos)
        ip = pos + 16 + link
        pos += 16 + incl
        if incl < link + 28 or data[ip] >> 4 != 4 or data[ip + 9] != 17:
            continue
        udp = ip + (data[ip] & 0x0F) * 4
        sport, dport = ports.unpack_from(data, udp)
        yield sec + frac * scale, sport, dport, data, udp + 8, min(pos, end)


@dataclass
class Wire:
    """What the capture shows: RTP arrival times per stream and SIP timings per call."""

    streams: dict[tuple[int, int], list[float]]  # (source port, SSRC) -> capture times
    invite_100_ms: np.ndarray  # first INVITE to our first 100 Trying, per call
    invite_200_ms: np.ndarray  # first INVITE to our first 200, per call
    bye_200_ms: np.ndarray  # the caller's first BYE to our 200, per call


_CALL_ID = re.compile(r"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_CSEQ = re.compile(r"^cseq[ \t]*:[ \t]*\d+[ \t]+(\S+)", re.IGNORECASE | re.MULTILINE)


def read_capture(pcap: Path, sip_ports: Collection[int]) -> Wire:
    """Split the capture into our RTP streams and the SIP exchanges on ``sip_ports``."""
    streams: dict[tuple[int, int], list[float]] = collections.defaultdict(list)
    first: dict[tuple[str, str], float] = {}  # (call-id, what) -> first time seen
    ssrc_of = struct.Struct("!I")
    for when, sport, dport, data, start, end in udp_packets(pcap):
        to_us = dport in sip_ports
        from_us = sport in sip_ports
        if not to_us and not from_us:
            if end - start >= 12:
                streams[(sport, ssrc_of.unpack_from(data, start + 8)[0])].append(when)
            continue
        text = data[start:end].decode("latin-1")
        call_id = _CALL_ID.search(text)
        cseq = _CSEQ.search(text)
        if call_id is None or cseq is None:
            continue
        method = cseq.group(1).upper()
        if to_us and not text.startswith("SIP/2.0"):
            what = text.split(" ", 1)[0]  # a request: INVITE, ACK, BYE
        elif from_us and text.startswith("SIP/2.0 "):
            what = f"{text[8:11]} {method}"  # a response: "200 INVITE", "100 INVITE"
        else:
            continue
        first.setdefault((call_id.group(1), what), when)

    def delays(request: str, response: str) -> np.ndarray:
        out = [
            1000 * (first[(cid, response)] - sent)
            for (cid, what), sent in first.items()
            if what == request and (cid, response) in first
        ]
        return np.array(out, dtype=np.float64)

    return Wire(
        streams=streams,
        invite_100_ms=delays("INVITE", "100 INVITE"),
        invite_200_ms=delays("INVITE", "200 INVITE"),
        bye_200_ms=delays("BYE", "200 BYE"),
    )


def read_rtt_ms(workdir: Path) -> np.ndarray:
    """INVITE->200 times of every answered call from sipp's -trace_rtt file(s)."""
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            with contextlib.suppress(IndexError, ValueError):
                values.append(float(parts[1]))
    return np.array(values, dtype=np.float64)


def read_sipp_stats(path: Path) -> tuple[dict[str, str], int]:
    """sipp's last -trace_stat row by column name, and the peak of CurrentCall over rows."""
    if not path.exists():
        return {}, 0
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2:
        return {}, 0
    names = lines[0].split(";")
    rows = [dict(zip(names, line.split(";"), strict=False)) for line in lines[1:]]
    peak = max(int(row.get("CurrentCall", "0") or 0) for row in rows)
    return rows[-1], peak


def end_reasons(log_text: str) -> collections.Counter[str]:
    """How tongdai's log says the calls ended (caller-bye, media-timeout, ...)."""
    text = log_text
    return collections.Counter(re.findall(r"call-ended \{'reason': '([^']*)'", text))


# ------------------------------------------------------------------------------- one level
@dataclass
class LevelResult:
    """The figures of one concurrency level."""

    level: int
    sipp_exit: int = -1
    ok: int = 0
    failed: int = 0
    created: int = 0
    peak_calls: int = 0
    retransmissions: int = 0
    rtt_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wire_100_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    wire_200_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bye_200_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    intervals_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    streams: int = 0
    capture_drops: int = 0
    cpu_pct: float = 0.0
    cpu_peak_pct: float = 0.0
    child_cpu_pct: float = 0.0
    rss_mb: float = 0.0
    rss_now_mb: float = 0.0
    sipp_cpu_pct: float = 0.0
    machine_pct: float = 0.0
    seconds: float = 0.0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    log_errors: int = 0
    profile: str = ""


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def split_ports(ports: tuple[int, int], parts: int) -> list[tuple[int, int]]:
    """``ports`` cut into ``parts`` disjoint ranges, one per tongdai process."""
    size = (ports[1] - ports[0] + 1) // parts
    if size < 4:
        raise BenchError(f"RTP port range {ports} is too small for {parts} processes")
    return [(ports[0] + k * size, ports[0] + (k + 1) * size - 1) for k in range(parts)]


def start_sipp(
    workdir: Path, calls: int, sip_port: int, sink_port: int, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    """sipp placing ``calls`` calls (all allowed up at once) over ``args.ramp`` seconds."""
    rate = calls / args.ramp  # the arrival rate (main() turns --rate and --burst into a ramp)
    pause_ms = int((args.duration - DIGITS_TAIL_S) * 1000)
    return subprocess.Popen(
        ["sipp", "-sf", str(SCENARIO), f"127.0.0.1:{sip_port}",
         "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(sink_port),
         "-m", str(calls), "-l", str(calls), "-r", f"{rate:.3f}", "-rp", "1000",
         "-t", "u1", "-d", str(pause_ms), "-nostdin",
         "-trace_stat", "-stf", "stat.csv", "-fd", "1",
         "-trace_rtt", "-rtt_freq", "1",
         "-trace_err", "-error_file", "errors.log",
         "-recv_timeout", str(RECV_TIMEOUT_MS),
         "-timeout", f"{sipp_timeout_s(args)}s", "-timeout_error"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def sipp_timeout_s(args: argparse.Namespace) -> int:
    return int(args.ramp + args.duration + 60)


@dataclass
class Fleet:
    """The tongdai processes under test, their SIP ports and where they log."""

    dirs: list[Path]
    sip_ports: list[int]
    procs: list[subprocess.Popen[bytes]]

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)


def _shares(level: int, parts: int) -> list[int]:
    return [level // parts + (1 if k < level % parts else 0) for k in range(parts)]


def start_fleet(workdir: Path, level: int, args: argparse.Namespace, env: dict[str, str]) -> Fleet:
    """``args.processes`` tongdai processes sized for ``level`` calls."""
    parts = args.processes
    dirs = [workdir / f"tongdai-{k}" for k in range(parts)]
    ranges = split_ports(args.rtp_ports, parts)
    fleet = Fleet(dirs, [free_port() for _ in range(parts)], [])
    try:
        for k, share in enumerate(_shares(level, parts)):
            dirs[k].mkdir(parents=True)
            fleet.procs.append(
                start_tongdai(
                    dirs[k],
                    fleet.sip_ports[k],
                    {
                        **env,
                        "TONGDAI_SIP__MAX_CALLS": str(share + max(10, share // 10)),
                        "TONGDAI_MEDIA__RTP_PORT_MIN": str(ranges[k][0]),
                        "TONGDAI_MEDIA__RTP_PORT_MAX": str(ranges[k][1]),
                    },
                    args.app,
                )
            )
    except BaseException:
        fleet.stop()
        raise
    return fleet


def run_level(
    level: int, args: argparse.Namespace, root: Path, env: dict[str, str],
    fleet: Fleet | None = None, run: int = 1,
) -> LevelResult:  # fmt: skip
    """Drive ``level`` calls (each of ``args.processes`` tongdai processes with its own sipp
    and a share of the calls), collect the figures. Without ``fleet`` a fresh one is started
    and stopped; with one (steady state) it is reused and left running."""
    workdir = root / f"level-{level}-run-{run}"
    parts = args.processes
    shares = _shares(level, parts)
    dirs = [workdir / f"process-{k}" for k in range(parts)]
    for path in dirs:
        path.mkdir(parents=True)
    result = LevelResult(level)
    own_fleet = fleet is None
    fleet = fleet or start_fleet(workdir, level, args, env)
    sip_ports = fleet.sip_ports
    log_start = [(d / "tongdai.log").stat().st_size for d in fleet.dirs]
    sink_ports = [free_port() for _ in range(parts)]
    tongdais = fleet.procs
    sipps: list[subprocess.Popen[bytes]] = []
    capture = Capture(workdir / "wire.pcap", args.rtp_ports, sink_ports, sip_ports)
    sampler: CpuSampler | None = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        capture.start()
        for k in range(parts):
            sipps.append(start_sipp(dirs[k], shares[k], sip_ports[k], sink_ports[k], args))
        pids = {f"tongdai{k}": proc.pid for k, proc in enumerate(tongdais)}
        pids.update({f"sipp{k}": proc.pid for k, proc in enumerate(sipps)})
        sampler = CpuSampler(pids, trees=[f"tongdai{k}" for k in range(parts)])
        sampler.start()
        if args.profile == level:
            profiler = start_profiler(tongdais[0].pid, workdir, args.ramp + args.duration)
        started = time.monotonic()
        deadline = started + sipp_timeout_s(args) + 30
        for sipp in sipps:
            try:
                code = sipp.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                sipp.kill()
                code = sipp.wait()
            result.sipp_exit = max(result.sipp_exit, code)
        result.seconds = time.monotonic() - started
        sampler.stop()
        pids_now = [pid for p in tongdais for pid in [p.pid, *descendants(p.pid)]]
        result.rss_mb = sum(proc_status_kb(pid, "VmHWM") for pid in pids_now) / 1024
        # resident now, the run's calls ended: across runs on one process, what stays
        result.rss_now_mb = sum(proc_status_kb(pid, "VmRSS") for pid in pids_now) / 1024
    finally:
        if profiler is not None:
            result.profile = finish_profiler(profiler, workdir)
        capture.stop()
        for sipp in sipps:
            if sipp.poll() is None:
                sipp.kill()
                sipp.wait()
        if own_fleet:
            fleet.stop()
    if sampler is not None:
        names = [f"tongdai{k}" for k in range(parts)]
        result.cpu_pct = sum(sampler.average_pct(name) for name in names)
        result.cpu_peak_pct = max(sampler.peak_pct(name) for name in names)
        result.child_cpu_pct = sum(sampler.average_pct(name, children=True) for name in names)
        result.sipp_cpu_pct = sum(sampler.average_pct(f"sipp{k}") for k in range(parts))
        result.machine_pct = sampler.machine_pct()
    rtts = []
    for path in dirs:
        last, peak = read_sipp_stats(path / "stat.csv")
        result.peak_calls += peak
        result.ok += int(last.get("SuccessfulCall(C)", "0") or 0)
        result.failed += int(last.get("FailedCall(C)", "0") or 0)
        result.created += int(last.get("TotalCallCreated", "0") or 0)
        result.retransmissions += int(last.get("Retransmissions(C)", "0") or 0)
        rtts.append(read_rtt_ms(path))
    for k, log_dir in enumerate(fleet.dirs):
        with (log_dir / "tongdai.log").open("rb") as log_file:
            log_file.seek(log_start[k])  # this run's part of a reused process's log
            log_text = log_file.read().decode(errors="replace")
        result.reasons += end_reasons(log_text)
        result.log_errors += len(re.findall(r" (?:ERROR|CRITICAL) ", log_text))
    result.rtt_ms = np.concatenate(rtts)
    wire = read_capture(capture.path, set(sip_ports))
    gaps = [np.diff(np.asarray(times)) for times in wire.streams.values() if len(times) > 1]
    result.intervals_ms = np.concatenate(gaps) * 1000 if gaps else np.zeros(0)
    result.streams = len(wire.streams)
    result.wire_100_ms = wire.invite_100_ms
    result.wire_200_ms = wire.invite_200_ms
    result.bye_200_ms = wire.bye_200_ms
    result.capture_drops = capture.kernel_drops
    if not args.keep:
        capture.path.unlink(missing_ok=True)
    return result


# -------------------------------------------------------------------------------- profiling
def start_profiler(pid: int, workdir: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` (all threads, native frames off) into collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
         "--rate", "200",
         "--duration", str(int(seconds) + 1), "--nonblocking",
         "--output", str(workdir / "profile.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def finish_profiler(proc: subprocess.Popen[bytes], workdir: Path) -> str:
    """Wait for py-spy and summarise its stacks: where the samples were (self and total)."""
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    path = workdir / "profile.txt"
    if not path.exists():
        return "py-spy wrote no profile"
    return summarise_profile(path.read_text(errors="replace"))


def summarise_profile(collapsed: str, top: int = 25) -> str:
    """Self and inclusive shares per function from py-spy's collapsed ('raw') stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    idle = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        names = [_frame_name(frame) for frame in frames]
        if names[-1].startswith(("select (selectors.py", "select.epoll", "_worker (concurrent")):
            idle += count
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    if not total:
        return "py-spy collected no samples"
    lines = [f"py-spy: {total} samples, {100 * idle / total:.0f}% waiting in the event loop"]
    lines.append("  self %  function")
    lines += [f"  {100 * n / total:6.1f}  {name}" for name, n in own.most_common(top)]
    lines.append("  total %  function (inclusive)")
    lines += [f"  {100 * n / total:7.1f}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _frame_name(frame: str) -> str:
    # py-spy writes "function (path/file.py:line)"; keep the function and the file name only
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    return f"{match.group(1)} ({Path(match.group(2)).name})"


# ---------------------------------------------------------------------------- hostile history
HOSTILE_SOURCE = "127.0.0.1"
CORPORA_RATE = 500  # datagrams a second: a scanner's pace, not a flood
CORPORA_SETTLE_S = 40.0  # Timer B / H (64 * T1 = 32 s) and the calls left unACKed


def testdata_dir() -> Path:
    return Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata"))


def hostile_corpora() -> list[bytes]:
    """The RFC 4475 torture messages and the PROTOS c07-sip datagrams, in that order."""
    sip = testdata_dir() / "sip"
    folder = sip / "rfc4475"
    archive = sip / "protos-c07-sip-corpus.tar.xz"
    if not folder.is_dir() or not archive.exists():
        raise BenchError(f"--corpora needs {folder} and {archive} (TONGDAI_TESTDATA)")
    cases = [path.read_bytes() for path in sorted(folder.glob("*.dat"))]
    with tarfile.open(archive, "r|xz") as tar:  # streamed: no seeking in the xz stream
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and member.name.endswith(".bin"):
                cases.append(handle.read())
    return cases


def fire_corpora(port: int) -> tuple[int, int]:
    """Send the corpora to 127.0.0.1:port from HOSTILE_SOURCE at CORPORA_RATE; the number
    sent and the number of datagrams that came back to the sending socket."""
    cases = hostile_corpora()
    answers = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOSTILE_SOURCE, 0))
        sock.setblocking(False)
        start = time.monotonic()
        for n, data in enumerate(cases):
            delay = start + n / CORPORA_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with contextlib.suppress(OSError):
                sock.sendto(data, ("127.0.0.1", port))
            while True:
                try:
                    sock.recv(65536)
                except (BlockingIOError, OSError):
                    break
                answers += 1
    return len(cases), answers


# ------------------------------------------------------------------------------------- main
def run_runs(level: int, args: argparse.Namespace, root: Path, env: dict[str, str]) -> None:
    """One level: one run on a fresh process, or ``args.runs`` back to back on one process."""
    if args.runs == 1:
        result = run_level(level, args, root, env)
        print_row(result)
        print_notes(result)
        return
    fleet = start_fleet(root / f"level-{level}", level, args, env)
    try:
        if args.corpora:
            for port in fleet.sip_ports:
                sent, answers = fire_corpora(port)
                print(
                    f"      corpora: {sent} hostile datagrams sent to port {port} from "
                    f"{HOSTILE_SOURCE}, {answers} answers; waiting {CORPORA_SETTLE_S:.0f} s for "
                    "their transactions to time out",
                    flush=True,
                )
            time.sleep(CORPORA_SETTLE_S)
        for run in range(1, args.runs + 1):
            result = run_level(level, args, root, env, fleet, run)
            print_row(result)
            print(
                f"      level {level} run {run} of {args.runs} on one process; "
                f"resident after the run {result.rss_now_mb:.0f} MB",
                flush=True,
            )
            print_notes(result)
    finally:
        fleet.stop()


def check_tools() -> str | None:
    """Why the benchmark cannot run here, or None."""
    if shutil.which("sipp") is None:
        return "sipp is not installed (Debian package sip-tester)"
    if shutil.which("tcpdump") is None and not Path("/usr/sbin/tcpdump").exists():
        return "tcpdump is not installed"
    if os.geteuid() != 0:
        return "needs root: tcpdump on lo and sipp's raw socket for the pcap audio"
    if not TONGDAI.exists():
        return f"{TONGDAI} not found: install the project (pip install -e .)"
    if not Path("/usr/share/sip-tester/g711a.pcap").exists():
        return "sipp's pcap audio files are missing (/usr/share/sip-tester)"
    return None


def prepare(root: Path, args: argparse.Namespace) -> dict[str, str]:
    """The environment of every tongdai process: a private database, prompt cache, RTP ports."""
    env = dict(os.environ)
    env.update(
        TONGDAI_DATABASE_URL=args.database_url or f"sqlite:///{root / 'bench.db'}",
        TONGDAI_DATA_DIR=str(root),
        TONGDAI_MEDIA__RTP_PORT_MIN=str(args.rtp_ports[0]),
        TONGDAI_MEDIA__RTP_PORT_MAX=str(args.rtp_ports[1]),
        # No network here: the offline synthesiser, its prompts cached under the run directory.
        TONGDAI_SPEECH__SYNTHESIZER="espeak-ng",
        TONGDAI_SPEECH__PROMPT_CACHE_DIR=str(root / "prompts"),
    )
    env.update(args.set)
    sample = ["--sample"] if args.app == "hotline" else []  # the dossiers callers ask about
    init = subprocess.run(
        [str(TONGDAI), "db", "init", *sample], env=env, cwd=root, capture_output=True, text=True
    )
    if init.returncode != 0:
        print(f"warning: tongdai db init failed: {init.stderr.strip()[-300:]}", flush=True)
    return env


def print_header() -> None:
    print(
        f"{'':>22}|{'INVITE->200 ms':^29}|{'BYE':^6}|{'our RTP send interval ms':^30}|"
        f"{'tongdai':^19}|{'others %':^13}\n"
        f"{'calls':>5} {'ok':>5} {'fail':>4} {'peak':>4} {'retr':>5} "
        f"{'sipp50':>6} {'sipp99':>6} {'wire50':>6} {'wire99':>6} {'max':>6} {'p99':>6} "
        f"{'p50':>6} {'p99':>6} {'max':>7} {'>40ms':>7} "
        f"{'cpu %':>5} {'1s pk':>5} {'rssMB':>5} {'sipp':>6} {'host':>6}",
        flush=True,
    )


def _max(values: np.ndarray) -> float:
    return float(values.max()) if len(values) else float("nan")


def print_row(r: LevelResult) -> None:
    late = int((r.intervals_ms > LATE_INTERVAL_MS).sum())
    print(
        f"{r.level:>5} {r.ok:>5} {r.failed:>4} {r.peak_calls:>4} {r.retransmissions:>5} "
        f"{pct(r.rtt_ms, 50):>6.0f} {pct(r.rtt_ms, 99):>6.0f} "
        f"{pct(r.wire_200_ms, 50):>6.1f} {pct(r.wire_200_ms, 99):>6.1f} "
        f"{_max(r.wire_200_ms):>6.0f} {pct(r.bye_200_ms, 99):>6.1f} "
        f"{pct(r.intervals_ms, 50):>6.2f} {pct(r.intervals_ms, 99):>6.2f} "
        f"{_max(r.intervals_ms):>7.1f} {late:>7} "
        f"{r.cpu_pct:>5.0f} {r.cpu_peak_pct:>5.0f} {r.rss_mb:>5.0f} "
        f"{r.sipp_cpu_pct:>6.1f} {r.machine_pct:>6.1f}",
        flush=True,
    )


def print_notes(r: LevelResult) -> None:
    notes = []
    if r.sipp_exit not in (0, 1):
        notes.append(f"sipp exit {r.sipp_exit}")
    if r.created != r.level:
        notes.append(f"{r.created} calls created")
    if r.streams != r.ok + r.failed:
        notes.append(f"{r.streams} RTP streams captured")
    if r.child_cpu_pct >= 0.5:
        notes.append(f"processes tongdai spawned used {r.child_cpu_pct:.0f}% of a core")
    if r.capture_drops:
        notes.append(f"tcpdump dropped {r.capture_drops} packets")
    if r.log_errors:
        notes.append(f"{r.log_errors} ERROR lines in tongdai's log")
    other = {k: v for k, v in r.reasons.items() if k != "caller-bye"}
    if other:
        notes.append(f"ended otherwise: {dict(other)}")
    if notes:
        print(f"      level {r.level}: " + "; ".join(notes), flush=True)
    if r.profile:
        print(r.profile, flush=True)


def parse_ports(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        ports = int(low), int(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH, got {text!r}") from None
    if not 1024 <= ports[0] < ports[1] <= 65535:
        raise argparse.ArgumentTypeError(f"bad port range {text!r}")
    return ports


def parse_setting(text: str) -> tuple[str, str]:
    """``media.inband_dtmf=false`` -> the environment variable TONGDAI_MEDIA__INBAND_DTMF."""
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", name):
        raise argparse.ArgumentTypeError(f"expected section.name=value, got {text!r}")
    return "TONGDAI_" + name.replace(".", "__").upper(), value


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 50,100, got {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("levels must be positive call counts")
    return levels


def main() -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--levels", type=parse_levels, default=parse_levels("50,100,200,400,800"))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per call (>= 3)")
    parser.add_argument(
        "--ramp", type=float, help="seconds over which a level's calls start (default duration/2)"
    )
    parser.add_argument("--rtp-ports", type=parse_ports, default=(22000, 25999))
    parser.add_argument("--database-url", help="default: a fresh SQLite file per run")
    parser.add_argument(
        "--profile", type=int, metavar="LEVEL", help="sample tongdai with py-spy at this level"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="split each level over this many independent tongdai processes, each with its "
        "own sipp, SIP port and RTP ports (what a Call-ID dispatcher in front of workers "
        "would give)",
    )
    parser.add_argument(
        "--set",
        type=parse_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a tongdai setting for every level, e.g. media.inband_dtmf=false (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and captures")
    parser.add_argument(
        "--app", choices=["hotline", "digits"], default="hotline",
        help="hotline: make run's full hotline (runtime, call log, web app); digits: greeting",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, help="arrival rate, calls/s (instead of --ramp)")
    parser.add_argument("--burst", action="store_true", help="each level's calls in one second")
    parser.add_argument(
        "--runs", type=int, default=1,
        help="steady state: run each level this many times back to back on one process",
    )  # fmt: skip
    parser.add_argument(
        "--corpora", action="store_true",
        help="fire the RFC 4475 and PROTOS corpora at the process before the measured runs",
    )  # fmt: skip
    args = parser.parse_args()
    if args.burst:
        args.rate = float(max(args.levels))
    if args.rate is not None:
        if args.rate <= 0:
            parser.error("--rate must be positive")
        args.ramp = max(args.levels) / args.rate
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.corpora and args.runs == 1:
        args.runs = 2  # the corpora are fired at a process that then carries the runs
    if args.duration < DIGITS_TAIL_S + 1:
        parser.error(f"--duration must be at least {DIGITS_TAIL_S + 1:.0f} s")
    if not 1 <= args.processes <= 16:
        parser.error("--processes must be between 1 and 16")
    args.ramp = args.ramp or args.duration / 2
    if not 0 < args.ramp < args.duration:
        parser.error("--ramp must be positive and shorter than --duration")
    reason = check_tools()
    if reason:
        print(f"skipped: {reason}")
        return 0
    root = Path(tempfile.mkdtemp(prefix="tongdai-bench-calls-"))
    load = os.getloadavg()
    print(
        f"app {args.app}; calls of {args.duration:.0f} s starting over {args.ramp:.1f} s; "
        f"{os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} at start; work dir {root}"
        + (f"; {args.processes} tongdai processes" if args.processes > 1 else "")
        + "".join(f"; {name}={value}" for name, value in args.set),
        flush=True,
    )
    env = prepare(root, args)
    print_header()
    try:
        for level in args.levels:
            try:
                run_runs(level, args, root, env)
            except BenchError as exc:
                print(f"{level:>5} failed to run: {exc}", flush=True)
                continue
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
