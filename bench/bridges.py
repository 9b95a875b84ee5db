"""Bridged calls held at once: sipp callers queued and bridged to sipp "officer" phones.

One worker in this process (its own media clock), the department queue in memory and N
officers whose registered phone is a sipp UAS that answers after 300 ms with ``--officer-codec``
(PCMU by default, so every packet is converted from and to the callers' PCMA) and echoes RTP
(-rtp_echo). N sipp callers (recorded Vietnamese speech from $TONGDAI_TESTDATA, looped for the
whole call, as PCMA RTP 20 ms apart) call in over ``--ramp`` seconds and stay ``--duration``
seconds; each is put in line, its officer's phone rung, and the two legs bridged until the
caller hangs up (the bridge then hangs up the officer).

Printed: sipp's exit codes (0: every call of that side succeeded), bridges made, INVITE->200 of
the officer legs p50/p95; per direction, packets relayed and not sent; the relay's added delay
(kernel receive time to our send, one packet in 4) p50/p99/max; the interval between packets
tongdai sends on each leg p50/p99/max, beside the interval between the packets sipp sent that
it relays (a relay sends as packets come, so its send intervals can be no smoother than its
input); media clock lateness and tick cost.

    .venv/bin/python -m bench.bridges [--bridges 50] [--duration 15] [--ramp 5] [--no-record]

Needs sipp (and root for its pcap audio). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script by make bench
from bench.calls import Capture, udp_packets
from core.audio import Audio
from ivr.bridge.officer_line import BridgeLine
from ivr.bridge.recording import BridgeRecorder
from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.media.latency_histogram import LatencyHistogram
from ivr.officer_settings import QueueSettings
from ivr.priority import Priority, apply_priority, settle_garbage_collector
from ivr.queue.model import OfficerState
from ivr.queue.music import default_music
from ivr.queue.store import MemoryQueueStore
from ivr.queue.waiting import QueueDoor, QueueResult
from ivr.settings import MediaSettings, SipSettings, SourceLimitSettings
from ivr.sip.bindings import Binding, BindingChange, MemoryBindings
from ivr.worker import Worker
from speech.audio import read_wav
from tests.e2e.harness import dtmf_scenario, free_port, run_sipp
from tests.e2e.pcap_audio import write_rtp_pcap

ROOT = Path(__file__).resolve().parent.parent
UAS = ROOT / "tests" / "e2e" / "scenarios" / "uas_answer.xml"
SPEECH = "call8k_1.wav"
DEPT = "bench"
OFFICER_MEDIA_PORT = 40000  # the officers' sipp; the callers' sipp uses 31000 and up
WIRE_SNAPLEN = 96  # headers up to the RTP SSRC are enough for the intervals
PROBE_EVERY = 4  # the added delay is measured on one relayed packet in 4 (a system call each)


async def silence(text: str) -> Audio:
    return Audio(bytes(1600), 8000)  # 0.1 s: announcements cost nothing here


async def run(
    bridges: int,
    duration_s: float,
    ramp_s: float,
    officer_codec: str,
    priority: Priority,
    record: bool,
) -> None:
    uas_port = free_port()
    store, bindings = MemoryQueueStore(), MemoryBindings()
    now = time.time()
    for n in range(bridges):
        user = f"officer{n}"
        contact = f"sip:{user}@127.0.0.1:{uas_port}"
        await bindings.apply(
            BindingChange(user, upsert=[Binding(user, contact, "udp", "b", 1, now, now + 3600)]),
            now=now,
        )
        await store.set_state(user, DEPT, OfficerState.AVAILABLE, now=now)
    results: list[QueueResult] = []
    holder: list[QueueDoor] = []

    async def on_call(call: Call) -> None:
        with contextlib.suppress(CallerHungUp):  # a caller gone before their turn: not served
            results.append(await holder[0].wait(call, DEPT))

    # below the sipp callers' media ports (tests.e2e.harness.media_range: 31000 and up)
    worker_media = MediaSettings(rtp_port_min=20000, rtp_port_max=20000 + 8 * bridges)
    worker = Worker(
        # sipp on loopback stands for a trunk carrying many callers: exempt from the per-source
        # limits (a flood guard for one caller), as a trunk is
        sip=SipSettings(
            host="127.0.0.1",
            port=free_port(),
            max_calls=4 * bridges,
            limits=SourceLimitSettings(exempt=["127.0.0.1"]),
        ),
        media=worker_media,
        on_call=on_call,
        sink=_NullSink(),
    )
    # As a shipped worker runs (ivr/commands.py): its event loop at the configured priority
    # (real-time by default; sipp, started later, is reset to normal by the kernel) and the
    # garbage collector settled once started.
    applied = apply_priority(priority)
    await worker.start()
    settle_garbage_collector()
    print(f"worker priority {applied.asked.value}: "
          f"{applied.detail if applied.granted else 'refused, ' + applied.detail}")  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="bench-bridges-"))
    recorder = BridgeRecorder(workdir / "recordings") if record else None
    line = BridgeLine(
        worker.endpoint.dial,
        bindings,
        from_uri=f"sip:hotline@127.0.0.1:{worker.port}",
        whisper=silence,
        clock=time.time,
        probe_every=PROBE_EVERY,
        recorder=recorder,
    )
    holder.append(
        QueueDoor(
            store=store,
            settings=QueueSettings(ring_timeout_s=10, poll_s=0.5),
            prompts=silence,
            music=default_music(),
            officers=line,
            clock=time.time,
        )
    )
    callers = dtmf_scenario(
        workdir / "caller.xml",
        [],
        hangup_after_ms=int(duration_s * 1000),
        audio_pcap=speech_pcap(workdir / "speech.pcap", duration_s),
    )
    rate = max(1.0, bridges / max(ramp_s, 0.1))
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed (Debian package sip-tester)")
    uas_scenario = officer_scenario(workdir, officer_codec)
    uas = await asyncio.create_subprocess_exec(
        sipp, "-sf", str(uas_scenario), "-i", "127.0.0.1", "-p", str(uas_port),
        "-mp", str(OFFICER_MEDIA_PORT), "-rtp_echo", "-m", str(bridges), "-nostdin", "-timeout",
        f"{int(duration_s + ramp_s + 60)}s", "-timeout_error",
        cwd=workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    rtp_ports = (worker_media.rtp_port_min, worker_media.rtp_port_max)
    capture = Capture(
        workdir / "rtp.pcap", rtp_ports, [], [], snaplen=WIRE_SNAPLEN,
        bpf=f"udp and portrange {rtp_ports[0]}-{rtp_ports[1]}",
    )  # fmt: skip
    await asyncio.to_thread(capture.start)
    await asyncio.sleep(0.5)
    uac = await run_sipp(
        callers, worker.port, calls=bridges, concurrent=bridges, rate=rate,
        timeout_s=duration_s + ramp_s + 60,
    )  # fmt: skip
    uas_code = await uas.wait()
    if uac.returncode:
        print("sipp callers:", (uac.errors or uac.stderr).strip()[-600:])
    stats = worker.clock.stats
    await asyncio.to_thread(capture.stop)
    wire = await asyncio.to_thread(wire_intervals, capture.path, rtp_ports, OFFICER_MEDIA_PORT)
    written = "not recorded"
    if recorder is not None:
        await recorder.drain()
        wavs = list(recorder.directory.glob("bridge-*.wav"))
        size = sum(p.stat().st_size for p in wavs)
        written = f"{len(wavs)} recordings, {size / 1e6:.1f} MB"
    await worker.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    served = [r for r in results if r.outcome == "served"]
    ring = sorted(line.ring_times_s)
    up = [u for u, _ in line.relays]
    down = [d for _, d in line.relays]
    print(f"bridges asked {bridges}, made {len(served)}; sipp exit caller {uac.returncode}, "
          f"officer {uas_code}; {written}")  # fmt: skip
    if ring:
        p95 = ring[min(len(ring) - 1, int(0.95 * len(ring)))]
        print(f"officer INVITE->200 p50 {1000 * statistics.median(ring):.0f} ms, "
              f"p95 {1000 * p95:.0f} ms")  # fmt: skip
    print(f"packets relayed caller->officer {sum(s.relayed for s in up)}, not sent "
          f"{sum(s.dropped for s in up)}; officer->caller {sum(s.relayed for s in down)}, "
          f"not sent {sum(s.dropped for s in down)}; converted PCMA<->PCMU "
          f"{sum(s.media.transcoded for s in up + down)}")  # fmt: skip
    delay = merged(s.media.added_delay for s in up + down)
    print(f"relay added delay (kernel arrival -> send, {delay.count} packets) "
          f"{spread(delay)}")  # fmt: skip
    for name, side in (("officer leg (caller->officer)", up), ("caller leg (officer->caller)",
                                                                down)):  # fmt: skip
        sent = merged(s.media.send_intervals for s in side)
        came = merged(s.media.arrival_intervals for s in side)
        print(f"{name}: tongdai's send interval {spread(sent)}; sipp's packets arrived "
              f"{spread(came)} apart")  # fmt: skip
    print(f"on the wire (tcpdump, kernel times; {capture.kernel_drops} packets dropped by the "
          f"capture):")  # fmt: skip
    for name, key in (("officer leg", "officer"), ("caller leg", "caller")):
        print(f"  {name}: tongdai's send interval {wire_spread(wire['out', key])}; "
              f"sipp's input to the relay {wire_spread(wire['in', key])}")  # fmt: skip
    print(f"media clock lateness p50/p99/max {1000 * stats.lateness_p50_s:.1f}/"
          f"{1000 * stats.lateness_p99_s:.1f}/{1000 * stats.lateness_max_s:.1f} ms, tick cost "
          f"p99 {1000 * stats.tick_cost_p99_s:.1f} ms, skipped {stats.skipped}")  # fmt: skip


def wire_intervals(
    pcap: Path, ours: tuple[int, int], officer_port: int
) -> dict[tuple[str, str], np.ndarray]:
    """Intervals (ms) between consecutive packets of each RTP stream on the wire, pooled by
    direction ("out": tongdai sends, "in": sipp sends to tongdai) and by leg ("officer": the
    officer phone's side, "caller"). What the relay sends on the officer leg it took from the
    caller leg and the reverse, so ("out", "officer") pairs with ("in", "caller")."""
    times: dict[tuple[str, str, int, int], list[float]] = collections.defaultdict(list)
    ssrc_of = struct.Struct("!I")
    low, high = ours
    for when, sport, dport, data, start, end in udp_packets(pcap):
        if end - start < 12:
            continue
        sent = low <= sport <= high
        peer = dport if sent else sport
        leg = "officer" if peer >= officer_port else "caller"
        direction = "out" if sent else "in"
        port = sport if sent else dport  # our port: one per leg (sipp may share its own)
        times[(direction, leg, port, ssrc_of.unpack_from(data, start + 8)[0])].append(when)
    pooled: dict[tuple[str, str], list[np.ndarray]] = collections.defaultdict(list)
    for (direction, leg, _, _), stamps in times.items():
        if len(stamps) > 1:
            pooled[(direction, leg)].append(np.diff(np.asarray(stamps)) * 1000)
    # what the relay sends on a leg comes in on the other one
    out: dict[tuple[str, str], np.ndarray] = {}
    for direction in ("out", "in"):
        for leg in ("officer", "caller"):
            source = leg if direction == "out" else ("caller" if leg == "officer" else "officer")
            parts = pooled.get((direction, source), [])
            out[direction, leg] = np.concatenate(parts) if parts else np.zeros(0)
    return out


def wire_spread(values: np.ndarray) -> str:
    if not len(values):
        return "none captured"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50/p99/max {p50:.1f}/{p99:.1f}/{values.max():.1f} ms"


def merged(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    total = LatencyHistogram()
    for h in histograms:
        total.merge(h)
    return total


def spread(h: LatencyHistogram) -> str:
    """p50/p99/max in ms."""
    return (f"p50/p99/max {1000 * h.percentile(0.5):.1f}/{1000 * h.percentile(0.99):.1f}/"
            f"{1000 * h.max_s:.1f} ms")  # fmt: skip


def speech_pcap(path: Path, seconds: float) -> Path:
    """The shared test recording repeated for `seconds`, as PCMA RTP packets 20 ms apart (sipp's
    own g711a.pcap is 7 s of 30 ms packets: it would end before the call, and its spacing is
    not the 20 ms that phones send)."""
    testdata = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata"))
    pcm, _ = read_wav(testdata / "speech" / SPEECH, rate=8000)
    size = int(seconds * 8000) * 2
    looped = (pcm * (1 + size // max(1, len(pcm))))[:size]
    return write_rtp_pcap(path, looped, lead_silence_s=0.0, trail_silence_s=0.0)


def officer_scenario(workdir: Path, codec: str) -> Path:
    """The officer UAS answering with `codec` (the shared scenario answers PCMA)."""
    if codec == "PCMA":
        return UAS
    text = UAS.read_text().replace("RTP/AVP 8 101", "RTP/AVP 0 101")
    path = workdir / "officer.xml"
    path.write_text(text.replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000"))
    return path


class _NullSink:
    def emit(self, event: object) -> None:
        """Events are not needed here."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridges", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--officer-codec", choices=["PCMU", "PCMA"], default="PCMU")
    parser.add_argument(
        "--priority", type=Priority, choices=list(Priority), default=MediaSettings().priority,
        help="the worker's CPU priority (default: the shipped media.priority)",
    )  # fmt: skip
    parser.add_argument(
        "--no-record", action="store_true", help="bridges unrecorded (queues.record_bridges off)"
    )
    args = parser.parse_args()
    asyncio.run(
        run(args.bridges, args.duration, args.ramp, args.officer_codec, args.priority,
            record=not args.no_record)
    )  # fmt: skip


if __name__ == "__main__":
    main()
