"""Soak: the shipped hotline for a long run at a steady arrival of long calls.

Starts ``--nodes`` ``tongdai serve`` nodes (the hotline app, PostgreSQL, each with its metrics
endpoint), Kamailio in front of them (deploy/kamailio/kamailio.cfg) when there is more than one
node or with ``--edge``, and Debian's Prometheus scraping every node's ``/metrics`` every 5 s.
sipp then places ``--rate`` calls/s for ``--minutes``; each call lasts ``--call-s`` seconds and
walks the default tree: the dossier menu, one spoken answer (a real Vietnamese recording), a
dossier code on the keypad, its confirmation, the status, back to the main menu, the procedure
guidance, back again, and so on until it hangs up.

Printed at the end: calls placed, succeeded and failed (sipp), the RSS of each node sampled
every 30 s and its slope after warm-up (MB/min, by least squares), call records in the database
(one per call, each ended), what Prometheus scraped (the calls it saw started), and the nodes'
errors. Timings are printed, never asserted.

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 2] [--call-s 120] [--nodes 2]

Needs sipp, kamailio (for the edge), prometheus and the PostgreSQL server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.pcap_audio import write_rtp_pcap  # noqa: E402  (the same pcaps as the tests)

TONGDAI = Path(sys.executable).with_name("tongdai")
TEMPLATE = ROOT / "bench" / "scenarios" / "soak_caller.xml.in"
KAMAILIO_CFG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
SPEECH = "call8k_1.wav"  # spoken digits: an answer for the dossier-code question
DTMF_DIR = Path("/usr/share/sip-tester")
PCAP_NAMES = {"#": "pound", "*": "star"}
KEY_GAP_MS = 400
RSS_PERIOD_S = 30.0
READY_TIMEOUT_S = 240.0
PG_URL = os.environ.get(
    "TONGDAI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# One walk through the tree: (pause before, what the caller does). "say" plays the recording.
WALK: list[tuple[int, str]] = [
    (2500, "say"),  # at the dossier-code question: spoken digits (too few: asked again)
    (6000, "key:2503039004#"),  # the code on the keypad
    (4000, "key:1"),  # "yes, that is the code"
    (5000, "key:#"),  # skip the personal check
    (14000, "key:2"),  # after the status: back to the main menu
    (4000, "key:2"),  # procedure guidance
    (4000, "key:1"),  # the department's procedures
    (12000, "key:2"),  # back to the main menu
    (4000, "key:1"),  # the dossier menu again
]
FIRST_PAUSE_MS = 13000  # the greeting, then "1" into the dossier menu


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = int(udp.getsockname()[1])
    return port


def caller_scenario(path: Path, speech_pcap: Path, call_s: float) -> Path:
    """The sipp caller: the walk repeated until ``call_s``, then BYE."""
    lines = [f'  <pause milliseconds="{FIRST_PAUSE_MS}"/>', _key("1")]
    spent = FIRST_PAUSE_MS + KEY_GAP_MS
    budget = int(call_s * 1000) - 2000
    while True:
        for pause_ms, action in WALK:
            cost = pause_ms + (6000 if action == "say" else KEY_GAP_MS * (len(action) - 4))
            if spent + cost > budget:
                lines.append(f'  <pause milliseconds="{max(0, budget - spent)}"/>')
                text = TEMPLATE.read_text().replace("<!-- STEPS -->", "\n".join(lines))
                path.write_text(text, encoding="iso-8859-1")
                return path
            lines.append(f'  <pause milliseconds="{pause_ms}"/>')
            if action == "say":
                lines.append(_play(speech_pcap))
                lines.append('  <pause milliseconds="6000"/>')
            else:
                lines += [_key(key) for key in action[4:]]
            spent += cost


def _play(pcap: Path) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'


def _key(key: str) -> str:
    pcap = DTMF_DIR / f"dtmf_2833_{PCAP_NAMES.get(key, key)}.pcap"
    return _play(pcap) + f'\n  <pause milliseconds="{KEY_GAP_MS}"/>'


@dataclass
class Node:
    index: int
    sip_port: int
    http_port: int
    proc: subprocess.Popen[bytes]
    log: Path
    rss_mb: list[tuple[float, float]] = field(default_factory=list)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return str(r.read().decode())

    def ready(self) -> bool:
        with contextlib.suppress(OSError):
            return json.loads(self.get("/readyz")).get("status") == "ready"
        return False

    def sample_rss(self, t: float) -> None:
        pids = [self.proc.pid, *_descendants(self.proc.pid)]
        kb = sum(_status_kb(pid, "VmRSS") for pid in pids)
        self.rss_mb.append((t, kb / 1024))


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{parent}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids = [int(k) for k in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
    return found


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def slope_mb_per_min(samples: list[tuple[float, float]], warmup_s: float) -> float:
    """Least-squares slope of RSS over time after ``warmup_s``."""
    points = [(t, mb) for t, mb in samples if t >= warmup_s]
    if len(points) < 3:
        return float("nan")
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in points)
    return 60 * cov / var if var else float("nan")


def start_nodes(args: argparse.Namespace, env: dict[str, str], work: Path) -> list[Node]:
    nodes = []
    per = 4000 // args.nodes
    for k in range(args.nodes):
        sip, http = free_port(), free_port()
        # behind Kamailio: the edge is exempt from the node's per-source limits (it limits each
        # caller itself) and its P-Asserted-Identity is believed
        node_env = dict(env, TONGDAI_SIP__LIMITS__EXEMPT='["127.0.0.1"]',
                        TONGDAI_SIP__TRUSTED_PROXIES='["127.0.0.1"]',
                        TONGDAI_DATA_DIR=str(work / f"node{k}"),
                        TONGDAI_MEDIA__RTP_PORT_MIN=str(26000 + k * per),
                        TONGDAI_MEDIA__RTP_PORT_MAX=str(26000 + (k + 1) * per - 1))  # fmt: skip
        log = work / f"node{k}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(TONGDAI), "serve", "--no-web", "--sip-host", "127.0.0.1",
                 "--sip-port", str(sip), "--metrics-port", str(http)],
                env=node_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        nodes.append(Node(k, sip, http, proc, log))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(node.ready() for node in nodes):
        if time.monotonic() > deadline or any(n.proc.poll() is not None for n in nodes):
            raise SystemExit(f"nodes did not become ready; logs in {work}")
        time.sleep(1)
    return nodes


def start_edge(nodes: list[Node], work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    listing = work / "dispatcher.list"
    listing.write_text("".join(f"1 sip:127.0.0.1:{n.sip_port}\n" for n in nodes))
    run = work / "kamailio"
    run.mkdir()
    proc = subprocess.Popen(
        ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", "256", "-Y", str(run),
         "-P", str(run / "kamailio.pid"), "-A", "WITH_CLI_LISTEN",
         "-A", f'DISPATCHER_LIST="{listing}"', "-A", "PIKE_DENSITY=2000",
         "-l", f"udp:127.0.0.1:{port}", "-l", f"tcp:127.0.0.1:{port}"],
        stdout=(work / "kamailio.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(3)
    if proc.poll() is not None:
        raise SystemExit(f"kamailio did not start; see {work / 'kamailio.log'}")
    return proc, port


def start_prometheus(nodes: list[Node], work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    targets = [f"127.0.0.1:{n.http_port}" for n in nodes]
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 5s}\n"
        "scrape_configs:\n"
        f"  - job_name: tongdai\n    static_configs: [{{targets: {json.dumps(targets)}}}]\n"
    )
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=(work / "prometheus.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    return proc, port


def prometheus_query(port: int, query: str) -> float:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            result = json.loads(response.read())["data"]["result"]
    except (OSError, ValueError, KeyError):
        return float("nan")
    return float(result[0]["value"][1]) if result else 0.0


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def call_records(url: str) -> tuple[int, int, int]:
    """(calls recorded, of them ended, of them with events) in the soak's schema."""
    from sqlalchemy import text

    from db import create_engine_from_url

    engine = create_engine_from_url(url)
    with engine.connect() as c:
        total = c.execute(text("select count(*) from calls")).scalar_one()
        ended = c.execute(
            text("select count(*) from calls where ended_at is not null")
        ).scalar_one()
        with_events = c.execute(
            text("select count(distinct call_id) from call_events")
        ).scalar_one()
    engine.dispose()
    return int(total), int(ended), int(with_events)


def main() -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2.0, help="calls per second")
    parser.add_argument("--call-s", type=float, default=120.0, help="length of each call")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--edge", action="store_true", help="Kamailio even for one node")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("sipp", "prometheus", *(["kamailio"] if args.nodes > 1 or args.edge else [])):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"skipped: {tool} is not installed")
            return 0
    work = Path(tempfile.mkdtemp(prefix="tongdai-soak-"))
    schema = f"soak_{uuid.uuid4().hex[:8]}"
    from sqlalchemy import text

    from db import create_engine_from_url
    from speech.audio import read_wav

    admin = create_engine_from_url(PG_URL)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    env = dict(os.environ, TONGDAI_DATABASE_URL=url, TONGDAI_WORKERS="0",
               TONGDAI_SPEECH__SYNTHESIZER="espeak-ng",
               TONGDAI_SPEECH__PROMPT_CACHE_DIR=str(work / "prompts"))  # fmt: skip
    subprocess.run([str(TONGDAI), "db", "init", "--sample"], env=env, cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    testdata = Path(os.environ.get("TONGDAI_TESTDATA", ROOT.parent / "shared" / "testdata"))
    pcm, _ = read_wav(testdata / "speech" / SPEECH, rate=8000)
    speech = write_rtp_pcap(work / "speech.pcap", pcm)
    scenario = caller_scenario(work / "caller.xml", speech, args.call_s)
    nodes: list[Node] = []
    edge = prometheus = sipp = None
    total = int(args.rate * args.minutes * 60)
    try:
        nodes = start_nodes(args, env, work)
        target = nodes[0].sip_port
        if args.nodes > 1 or args.edge:
            edge, target = start_edge(nodes, work)
        prometheus, prom_port = start_prometheus(nodes, work)
        print(f"soak: {total} calls at {args.rate:g}/s of {args.call_s:.0f} s over "
              f"{len(nodes)} node(s){' behind Kamailio' if edge else ''}; work dir {work}",
              flush=True)  # fmt: skip
        sipp = subprocess.Popen(
            ["sipp", "-sf", str(scenario), f"127.0.0.1:{target}", "-i", "127.0.0.1",
             "-p", str(free_port()), "-mp", "36000", "-m", str(total),
             "-l", str(int(args.rate * args.call_s * 1.5) + 10), "-r", f"{args.rate:g}",
             "-t", "u1", "-nostdin", "-default_behaviors", "all,-abortunexp",  # a late 180
             "-trace_stat", "-stf", "stat.csv", "-fd", "10",
             "-trace_err", "-error_file", "errors.log", "-recv_timeout", "30000",
             "-timeout", f"{int(args.minutes * 60 + args.call_s + 120)}s"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.monotonic()
        while sipp.poll() is None:
            t = time.monotonic() - started
            for node in nodes:
                node.sample_rss(t)
            time.sleep(min(RSS_PERIOD_S, args.minutes * 60 / 12))
        seconds = time.monotonic() - started
        time.sleep(6)  # one more scrape
        scraped = prometheus_query(prom_port, "sum(tongdai_calls_started_total)")
        up = prometheus_query(prom_port, "sum(up)")
        metrics = [node.get("/metrics") for node in nodes]
    finally:
        stop(sipp)
        for node in nodes:
            stop(node.proc)
        stop(edge)
        stop(prometheus)
    report(args, work, nodes, seconds, url, scraped, up, metrics)
    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(args: argparse.Namespace, work: Path, nodes: list[Node], seconds: float, url: str,
           scraped: float, up: float, metrics: list[str]) -> None:  # fmt: skip
    stats = (work / "stat.csv").read_text(errors="replace").splitlines()
    header, last = stats[0].split(";"), stats[-1].split(";")
    row = dict(zip(header, last, strict=False))
    ok, failed = row.get("SuccessfulCall(C)", "?"), row.get("FailedCall(C)", "?")
    print(f"calls: {row.get('TotalCallCreated', '?')} placed, {ok} succeeded, {failed} failed "
          f"in {seconds / 60:.1f} min", flush=True)  # fmt: skip
    warmup = min(args.call_s * 2, seconds / 3)
    for node in nodes:
        first, peak = (
            node.rss_mb[0][1] if node.rss_mb else 0,
            max(m for _, m in node.rss_mb or [(0, 0)]),
        )
        log = node.log.read_text(errors="replace")
        errors = log.count(" ERROR ") + log.count("Traceback")
        print(f"node {node.index}: RSS {first:.0f} MB at start, peak {peak:.0f} MB, slope after "
              f"{warmup / 60:.1f} min warm-up {slope_mb_per_min(node.rss_mb, warmup):+.2f} MB/min;"
              f" {errors} error lines", flush=True)  # fmt: skip
    total, ended, with_events = call_records(url)
    print(f"call records: {total} calls, {ended} ended, {with_events} with events", flush=True)
    started = sum(
        float(line.split()[-1]) for text in metrics for line in text.splitlines()
        if line.startswith("tongdai_calls_started_total ")
    )  # fmt: skip
    print(f"prometheus: {up:g} targets up, saw {scraped:g} calls started "
          f"(the nodes' own /metrics: {started:g})", flush=True)  # fmt: skip


if __name__ == "__main__":
    import urllib.parse

    sys.exit(main())
