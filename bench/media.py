"""RTP media engine benchmark: N streams on one MediaClock, measured by another process.

Each stream plays a real recording on a loop to a receiver process. The receiver takes the
kernel's arrival timestamp of every packet (SO_TIMESTAMPNS, so its own scheduling delays do not
count), and by default echoes every packet back, so the streams also run their receive path
(parse, reorder, decode, in-band DTMF, frames) as in a real call where both sides talk.

Prints, per stream count: the send interval at the receiver (p50/p99/max and how many were over
40 ms), packets lost on the way, datagrams the receiver's kernel dropped, the CPU used by the
sending process (% of one core), the clock's lateness p99 and skipped periods, the median time
one 20 ms tick took for all streams, and the echoed packets the streams received. The load
average is printed too: on a shared machine other processes take the CPU the figures need.
On loopback the kernel's receive work is charged to the sender, so CPU is higher than on a NIC.

    .venv/bin/python bench/media.py [--streams 100,400,800] [--seconds 6] [--no-echo] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux values; not exported by Python
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # count of datagrams the kernel dropped
WARM_UP_S = 1.0
TESTDATA = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata"))


# ---------------------------------------------------------------------------- receiver process
def receive(port_file: str, echo: bool, limit_s: float) -> None:
    """Receiver: record kernel arrival times per SSRC between the START and STOP lines read
    from stdin (a reliable channel, unlike UDP), echo RTP back to its sender, then print the
    intervals' figures as JSON."""
    give_up = time.monotonic() + limit_s
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    Path(port_file).write_text(str(sock.getsockname()[1]))
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    arrivals: dict[int, list[int]] = {}
    sequences: dict[int, list[int]] = {}
    recording = False
    stopped = False
    drops = 0
    start_cpu = time.process_time()
    while not stopped and time.monotonic() < give_up:
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                line = sys.stdin.readline().strip()
                if line == "START":
                    recording = True
                    start_cpu = time.process_time()
                else:  # STOP or end of input
                    stopped = True
                continue
            for _ in range(512):  # drain what is queued
                try:
                    data, ancillary, _flags, addr = sock.recvmsg(2048, 128)
                except BlockingIOError:
                    break
                if len(data) < 12:
                    continue
                if echo:
                    with contextlib.suppress(BlockingIOError):
                        sock.sendto(data, addr)
                if not recording:
                    continue
                stamp = time.time_ns()
                for level, kind, value in ancillary:
                    if level != socket.SOL_SOCKET:
                        continue
                    if kind == SO_TIMESTAMPNS:
                        seconds, nanos = struct.unpack("qq", value[:16])
                        stamp = seconds * 1_000_000_000 + nanos
                    elif kind == SO_RXQ_OVFL:
                        drops = max(drops, struct.unpack("I", value[:4])[0])
                sequence, ssrc = struct.unpack_from("!H4xI", data, 2)
                arrivals.setdefault(ssrc, []).append(stamp)
                sequences.setdefault(ssrc, []).append(sequence)
    gaps = [np.diff(np.array(times)) for times in arrivals.values() if len(times) > 1]
    intervals = np.concatenate(gaps) / 1e6 if gaps else np.zeros(1)
    lost = 0
    for seqs in sequences.values():
        span = (seqs[-1] - seqs[0]) % 65536 + 1
        lost += max(0, span - len(set(seqs)))
    print(
        json.dumps(
            {
                "streams": len(arrivals),
                "packets": int(sum(len(t) for t in arrivals.values())),
                "p50_ms": float(np.percentile(intervals, 50)),
                "p99_ms": float(np.percentile(intervals, 99)),
                "max_ms": float(intervals.max()),
                "over_40ms": int((intervals > 40).sum()),
                "lost": lost,
                "receiver_drops": drops,
                "receiver_cpu_s": time.process_time() - start_cpu,
            }
        ),
        flush=True,
    )


# ---------------------------------------------------------------------------- sending side
async def run_streams(count: int, seconds: float, echo: bool, prompt: bytes) -> dict[str, object]:
    """Run ``count`` streams against a fresh receiver process; return the measured figures."""
    from ivr.media.clock import MediaClock
    from ivr.media.stream import PCMA, MediaStream

    port_file = Path(f"/tmp/tongdai-bench-media-{os.getpid()}.port")
    port_file.unlink(missing_ok=True)
    limit_s = WARM_UP_S + seconds + count / 50 + 60  # a safety net only
    args = [sys.executable, __file__, "--receiver", str(port_file), "--limit", str(limit_s)]
    if not echo:
        args.append("--no-echo")
    receiver = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert receiver.stdin is not None
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            await asyncio.sleep(0.02)
        target = ("127.0.0.1", int(port_file.read_text()))
        clock = MediaClock()
        streams = []
        for _ in range(count):
            stream = MediaStream(
                clock=clock,
                codec=PCMA,
                dtmf_payload_type=101,
                remote=target,
                on_digit=lambda digit, source: None,
            )
            await stream.open("127.0.0.1", 0)
            streams.append(stream)

            def again(_done: object, stream: MediaStream = stream) -> None:
                if not stream.closed:
                    stream.play(prompt).add_done_callback(again)

            again(None)
        clock.start()
        await asyncio.sleep(WARM_UP_S)
        receiver.stdin.write("START\n")
        receiver.stdin.flush()
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        receiver.stdin.write("STOP\n")
        receiver.stdin.flush()
        clock_stats = clock.stats
        received = sum(s.stats.packets_in for s in streams)
        for stream in streams:
            stream.close()
        await clock.close()
        out = await asyncio.to_thread(receiver.stdout.read) if receiver.stdout else "{}"
        await asyncio.to_thread(receiver.wait, limit_s)
        figures: dict[str, object] = json.loads(out)
        figures.update(
            sender_cpu_pct=100 * cpu / wall,
            clock_late_p99_ms=clock_stats.lateness_p99_s * 1000,
            clock_late_max_ms=clock_stats.lateness_max_s * 1000,
            clock_skipped=clock_stats.skipped,
            tick_cost_p50_ms=clock_stats.tick_cost_p50_s * 1000,
            tick_cost_max_ms=clock_stats.tick_cost_max_s * 1000,
            echoed_packets_in=received,
        )
        return figures
    finally:
        if receiver.poll() is None:
            receiver.kill()
        port_file.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="100,400,800")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--no-echo", action="store_true")
    parser.add_argument(
        "--uvloop", action="store_true", help="run the streams on uvloop (if it is installed)"
    )
    parser.add_argument("--receiver", metavar="PORT_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receive(args.receiver, echo=not args.no_echo, limit_s=args.limit)
        return
    # Imported here, not at the top, so the receiver process starts light.
    sys.path.insert(0, str(ROOT))
    from core import g711
    from speech.audio import read_wav

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    g711.warm_up()
    wav = TESTDATA / "speech" / "call8k_1.wav"
    if wav.exists():
        prompt, _ = read_wav(wav, 8000)
    else:  # still measure something without the test material: a 440 Hz tone
        t = np.arange(8000 * 3) / 8000
        prompt = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(
        f"{'streams':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'>40ms':>6} {'lost':>5} "
        f"{'rxdrop':>6} "
        f"{'cpu %':>6} {'late99':>7} {'skip':>5} {'tick50':>7} {'echo in':>8}"
    )
    if args.uvloop:
        import uvloop  # optional: only to compare event loops

        uvloop.install()
    for count in (int(n) for n in args.streams.split(",")):
        f = asyncio.run(run_streams(count, args.seconds, not args.no_echo, prompt))
        print(
            f"{count:>7} {f['p50_ms']:>7.2f} {f['p99_ms']:>7.2f} {f['max_ms']:>7.2f} "
            f"{f['over_40ms']:>6} {f['lost']:>5} {f['receiver_drops']:>6} "
            f"{f['sender_cpu_pct']:>6.1f} "
            f"{f['clock_late_p99_ms']:>7.2f} {f['clock_skipped']:>5} {f['tick_cost_p50_ms']:>7.2f} "
            f"{f['echoed_packets_in']:>8}",
            flush=True,
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"sender peak RSS {rss_mb:.0f} MB; echo={'off' if args.no_echo else 'on'}; loop={loop}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
