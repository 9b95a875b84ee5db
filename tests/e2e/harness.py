"""Real peers for end-to-end tests: an in-process IVR worker, sipp and packet capture."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.call import Call
from ivr.events import MemorySink
from ivr.settings import MediaSettings, SipSettings
from ivr.worker import Worker
from tests.support import need


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def free_port_pair() -> int:
    """A port whose next port is free too (for peers that bind SIP on N and TLS on N+1)."""
    for _ in range(100):
        port = free_port()
        if port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind(("127.0.0.1", port + 1))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


_media_base = 31000 + (os.getpid() % 50) * 200


def media_range(size: int = 100) -> tuple[int, int]:
    """A private RTP port range for one test's worker."""
    global _media_base
    lo = _media_base
    _media_base += size
    if _media_base > 60000:
        _media_base = 31000
    return lo, lo + size - 1


@dataclass
class RunningIvr:
    worker: Worker
    sink: MemorySink
    port: int
    media: tuple[int, int]


async def start_ivr(
    on_call: Callable[[Call], Awaitable[None]],
    *,
    answer_delay_s: float = 0.0,
    inactivity_timeout_s: float = 30.0,
    max_calls: int = 500,
    media_size: int = 100,
    **sip_overrides: object,
) -> RunningIvr:
    """Start a worker on free ports of 127.0.0.1 (UDP and TCP)."""
    lo, hi = media_range(media_size)
    sip = SipSettings(
        host="127.0.0.1",
        port=free_port(),
        max_calls=max_calls,
        **sip_overrides,  # type: ignore[arg-type]
    )
    media = MediaSettings(
        rtp_port_min=lo, rtp_port_max=hi, inactivity_timeout_s=inactivity_timeout_s
    )
    sink = MemorySink()
    worker = Worker(sip=sip, media=media, on_call=on_call, sink=sink, answer_delay_s=answer_delay_s)
    await worker.start()
    return RunningIvr(worker, sink, worker.port, (lo, hi))


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    errors: str

    def count(self, what: str) -> int:
        """sipp's cumulative count of ``what`` ("Successful call", "Failed call") at its end."""
        lines = [line for line in self.stdout.splitlines() if line.strip().startswith(what)]
        assert lines, self.stdout[-2000:]
        return int(lines[-1].split("|")[2])


async def run_sipp(
    scenario: Path | str,
    port: int,
    *,
    calls: int = 1,
    concurrent: int = 1,
    rate: float = 10.0,
    timeout_s: float = 90.0,
    transport: str = "u1",
    extra: list[str] | None = None,
    local_ip: str = "127.0.0.1",
) -> SippResult:
    """Run sipp from ``local_ip`` against 127.0.0.1:port and wait for it to finish."""
    sipp = shutil.which("sipp")
    need(sipp, "sipp is not installed (Debian package sip-tester)")
    assert sipp is not None
    workdir = Path(tempfile.mkdtemp(prefix="sipp-"))
    local_port = free_port()
    media_port = media_range(10)[0]
    args = [
        sipp, "-sf", str(scenario), f"127.0.0.1:{port}",
        "-i", local_ip, "-p", str(local_port), "-mp", str(media_port),
        "-m", str(calls), "-l", str(concurrent), "-r", str(rate),
        "-t", transport, "-nostdin", "-timeout", f"{int(timeout_s)}s", "-timeout_error",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
        *(extra or []),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s + 30)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    errors_file = workdir / "errors.log"
    errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
    shutil.rmtree(workdir, ignore_errors=True)
    return SippResult(
        proc.returncode if proc.returncode is not None else -1,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        errors,
    )


class Capture:
    """tcpdump on the loopback interface, writing a pcap file."""

    def __init__(self, bpf: str) -> None:
        self.bpf = bpf
        self.path = Path(tempfile.mkdtemp(prefix="cap-")) / "cap.pcap"
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Capture:
        tcpdump = shutil.which("tcpdump") or (
            "/usr/bin/tcpdump" if Path("/usr/bin/tcpdump").exists() else None
        )
        need(tcpdump, "tcpdump is not installed")
        assert tcpdump is not None
        self._proc = await asyncio.create_subprocess_exec(
            tcpdump, "-i", "lo", "-U", "-n", "-B", "8192", "-w", str(self.path), self.bpf,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stderr is not None
        # wait until tcpdump says it is listening
        line = await asyncio.wait_for(self._proc.stderr.readline(), 10)
        assert b"listening" in line, line
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.returncode is None:
            await asyncio.sleep(0.3)
            self._proc.terminate()
            await self._proc.wait()

    def udp_payloads(self) -> list[tuple[int, int, bytes]]:
        """(source port, destination port, payload) of every UDP/IPv4 packet captured."""
        return [(s, d, p) for _, s, d, p in self.udp_packets()]

    def udp_packets(self) -> list[tuple[float, int, int, bytes]]:
        """(capture time, source port, destination port, payload) of every UDP/IPv4 packet."""
        data = self.path.read_bytes()
        magic = struct.unpack("<I", data[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        linktype = struct.unpack(endian + "I", data[20:24])[0]
        pos = 24
        out: list[tuple[float, int, int, bytes]] = []
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        while pos + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack(endian + "IIII", data[pos : pos + 16])
            when = sec + frac / (1e9 if nano else 1e6)
            frame = data[pos + 16 : pos + 16 + incl]
            pos += 16 + incl
            if linktype == 1:
                if frame[12:14] != b"\x08\x00":
                    continue
                ip = frame[14:]
            elif linktype == 113:
                ip = frame[16:]
            else:
                ip = frame
            if not ip or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 0x0F) * 4
            sport, dport, length = struct.unpack(">HHH", ip[ihl : ihl + 6])
            out.append((when, sport, dport, ip[ihl + 8 : ihl + length]))
        return out


def snr_db(reference: np.ndarray, received: np.ndarray) -> float:
    """Signal-to-noise ratio of ``received`` against ``reference`` after best alignment
    (cross-correlation over the whole received signal)."""
    from scipy.signal import correlate

    ref = reference.astype(np.float64)
    rec = received.astype(np.float64)
    if len(rec) < len(ref):
        return -99.0
    corr = correlate(rec, ref, mode="valid", method="fft")
    offset = int(np.argmax(corr))
    seg = rec[offset : offset + len(ref)]
    noise = seg - ref[: len(seg)]
    return float(10 * np.log10(np.sum(ref[: len(seg)] ** 2) / max(np.sum(noise**2), 1e-9)))


_PCAP_DIR = Path("/usr/share/sip-tester")
_PCAP_NAMES = {"#": "pound", "*": "star"}


def dtmf_scenario(
    path: Path,
    steps: list[tuple[int, str]],
    *,
    hangup_after_ms: int,
    audio_pcap: Path | None = None,
) -> Path:
    """Write a sipp caller: INVITE (PCMA/PCMU + telephone-event), then for each (pause in ms,
    keys) step it waits and presses the keys as RFC 2833 events (sipp's own pcaps, 250 ms
    apart), optionally plays an audio pcap first, waits ``hangup_after_ms`` and hangs up."""
    actions: list[str] = []
    if audio_pcap is not None:
        actions.append(f'  <nop><action><exec play_pcap_audio="{audio_pcap}"/></action></nop>')
    for pause_ms, keys in steps:
        actions.append(f'  <pause milliseconds="{pause_ms}"/>')
        for key in keys:
            name = _PCAP_NAMES.get(key, key)
            pcap = _PCAP_DIR / f"dtmf_2833_{name}.pcap"
            actions.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
            actions.append('  <pause milliseconds="400"/>')
    actions.append(f'  <pause milliseconds="{hangup_after_ms}"/>')
    template = (Path(__file__).parent / "scenarios" / "dtmf_caller.xml.in").read_text()
    path.write_text(template.replace("<!-- STEPS -->", "\n".join(actions)), encoding="iso-8859-1")
    return path
