"""Web page latency with many calls and dossiers in PostgreSQL.

    python bench/web_pages.py [--dossiers 1000000] [--calls 100000] [--repeat 20]
    python bench/web_pages.py --dossiers 20000 --calls 2000 --repeat 5     # a quick run

Creates a throw-away schema on the PostgreSQL server (``TONGDAI_TEST_POSTGRES_URL``, default
127.0.0.1:5432/test), migrates it, loads the sample catalogue and demo dossiers
(``tongdai db init --sample``), publishes the shipped menu, then COPYs ``--dossiers`` dossiers
and ``--calls`` calls spread over the last 90 days, each with its events, inputs and (some)
transfers and survey answers, shaped as the call-log sink writes them, and counts them into the
hourly figures (``tongdai calls rollup``, as after any bulk load). Then it starts the real
web app (``uvicorn server:create_app --factory``) on that schema, makes an admin API token
with ``tongdai users``, requests every page an administrator uses ``--repeat`` times and prints
p50/p95/max in milliseconds per page. The goal is p95 <= 300 ms at full size; nothing is
asserted. The schema is dropped at the end (``--keep`` leaves it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from lookup import code_of, rows
from sqlalchemy import Engine, text

from db import create_engine_from_url
from integrations.privacy import mask_numbers_in

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = os.environ.get(
    "TONGDAI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DAYS = 90
NODES = ["main", "lookup", "lookup-code", "procedures", "transfer", "survey", "goodbye"]
REASONS = ["caller-bye", "caller-bye", "caller-bye", "ivr-bye", "cancel", "media-timeout", "error"]
DEPARTMENTS = ["land", "civil", "business", "tax"]
BIN = Path(sys.executable).parent


def load_dossiers(engine: Engine, count: int) -> None:
    """COPY ``count`` generated dossiers after the ids already there (the demo ones)."""
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM dossiers")
            base = int(cur.fetchone()[0])
            cols = (
                "id, code, tail, procedure_code, procedure_name, applicant_name, applicant_type, "
                "phone, email, received_on, due_on, status, processing_unit, channel, "
                "return_method, result_documents, updated_at"
            )
            with cur.copy(f"COPY dossiers ({cols}) FROM STDIN") as copy:
                for d, _, _ in rows(count):
                    copy.write_row((d[0] + base, *d[1:]))
            with cur.copy(
                "COPY dossier_progress (dossier_id, position, at, unit, action) FROM STDIN"
            ) as copy:
                for _, p, _ in rows(count):
                    copy.write_row((p[1] + base, *p[2:]))
            with cur.copy(
                "COPY dossier_fees (dossier_id, position, name, amount_vnd, paid) FROM STDIN"
            ) as copy:
                for _, _, f in rows(count):
                    if f is not None:
                        copy.write_row((f[1] + base, *f[2:]))
            cur.execute(f"SELECT setval(pg_get_serial_sequence('dossiers', 'id'), {base + count})")
        conn.commit()
    finally:
        raw.close()


def call_rows(count: int, now: datetime) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Per call: its row and its children's rows, as the sink would have written them."""
    rng = random.Random(11)
    span = DAYS * 86400
    for i in range(count):
        started = now - timedelta(seconds=rng.randrange(span))
        call_id = f"{uuid.UUID(int=rng.getrandbits(128)).hex}@bench"
        web = rng.random() < 0.1
        caller = f"09{rng.randrange(10**8):08d}" if not web else f"web-{i}"
        duration = rng.uniform(10, 300)
        transferred = rng.random() < 0.2
        reason = "transferred" if transferred else rng.choice(REASONS)
        node = "transfer" if transferred else rng.choice(NODES)
        # stored masked, as the sink keeps numbers at rest
        out: dict[str, list[tuple[Any, ...]]] = {
            "calls": [(call_id, mask_numbers_in(caller), "1900", "web" if web else "PCMA", started,
                       started + timedelta(seconds=1), started + timedelta(seconds=duration),
                       reason, duration, 1, node, "ERR_LOOKUP" if reason == "error" else "")],
            "call_events": [], "call_inputs": [], "call_transfers": [], "survey_answers": [],
        }  # fmt: skip
        events = out["call_events"]

        def event(kind: str, offset: float, payload: dict[str, Any]) -> None:
            at = started + timedelta(seconds=offset)  # noqa: B023 (used at once)
            events.append((call_id, len(events), at, kind, json.dumps(payload)))  # noqa: B023

        event("call-started", 0, {"caller": "09******" + caller[-2:], "codec": "PCMA"})
        event("call-answered", 1, {})
        event("prompt-started", 1.2, {"node_id": "main", "text": "Xin chào"})
        digit = str(rng.randint(1, 4))
        event("input", 6, {"node_id": "main", "mode": "dtmf", "value": digit})
        out["call_inputs"].append((call_id, started + timedelta(seconds=6), "main", "dtmf",
                                   digit, True, None, f"option-{digit}"))  # fmt: skip
        if rng.random() < 0.5:
            code, _ = code_of(rng.randrange(1_000_000))
            event("input", 20, {"node_id": "lookup-code", "mode": "dtmf", "value": "*" * 10})
            out["call_inputs"].append((call_id, started + timedelta(seconds=20), "lookup-code",
                                       "speech", code[-10:], True, 0.9, None))  # fmt: skip
            found = rng.random() < 0.8
            event("lookup-done", 21, {"lookup": "dossier", "ok": True, "found": found,
                                      "elapsed_ms": rng.randint(2, 40)})  # fmt: skip
        if transferred:
            dept = rng.choice(DEPARTMENTS)
            ok = rng.random() < 0.7
            event("transfer-requested", 30, {"node_id": "transfer", "department": dept})
            event("transfer-result", 40, {"status": 200 if ok else 486, "ok": ok})
            out["call_transfers"].append((call_id, started + timedelta(seconds=30), "transfer",
                                          dept, f"sip:{dept}@pbx", "caller asked",
                                          started + timedelta(seconds=40),
                                          200 if ok else 486, ok))  # fmt: skip
        elif rng.random() < 0.4:
            score = rng.randint(1, 5)
            event("survey-answer", duration - 5, {"node_id": "survey", "score": score})
            out["survey_answers"].append((call_id, started + timedelta(seconds=duration - 5),
                                          "survey", score))  # fmt: skip
        event("call-ended", duration, {"reason": reason})
        yield out


COLUMNS = {
    "calls": "call_id, caller, callee, codec, started_at, answered_at, ended_at, end_reason, "
    "duration_s, tree_version, last_node, error_code",
    "call_events": "call_id, seq, at, kind, payload",
    "call_inputs": "call_id, at, node_id, mode, value, valid, confidence, matched",
    "call_transfers": "call_id, requested_at, node_id, department, target, reason, result_at, "
    "status, ok",
    "survey_answers": "call_id, at, node_id, score",
}


def load_calls(engine: Engine, count: int, now: datetime) -> tuple[str, int]:
    """COPY ``count`` calls with their children; one call id to open and the events written."""
    raw = engine.raw_connection()
    spool: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
    first = ""
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:

            def flush() -> None:
                for table, batch in spool.items():
                    with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                        for row in batch:
                            copy.write_row(row)
                    batch.clear()

            events = 0
            for one in call_rows(count, now):
                first = first or one["calls"][0][0]
                events += len(one["call_events"])
                for table, batch in one.items():
                    spool[table].extend(batch)
                if len(spool["calls"]) >= 20_000:
                    flush()
            flush()
            for table in ("dossiers", "dossier_progress", "dossier_fees", *COLUMNS):
                cur.execute(f"ANALYZE {table}")
        conn.commit()
    finally:
        raw.close()
    return first, events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def tongdai(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [str(BIN / "tongdai"), *args], input=stdin, env=env, cwd=ROOT,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"tongdai {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def pages(client: httpx.Client, call_id: str, dossiers: int) -> list[tuple[str, str]]:
    """(label, path) of every page an administrator uses."""
    today = datetime.now(UTC).date()
    quarter = f"since={today - timedelta(days=DAYS)}&until={today}"
    code, tail = code_of(dossiers // 2)
    draft = client.post("/menus/drafts", data={"version": "1"}, follow_redirects=False)
    draft_path = draft.headers.get("location", "/menus")
    return [
        ("home", "/"),
        ("dashboard (7 days)", "/dashboard"),
        ("dashboard (90 days)", f"/dashboard?{quarter}"),
        ("dashboard.csv daily 90 d", f"/dashboard.csv?table=daily&{quarter}"),
        ("dashboard.csv lookups", "/dashboard.csv?table=lookups"),
        ("calls (7 days)", "/calls"),
        ("calls 90 d page 1", f"/calls?{quarter}"),
        ("calls 90 d page 100", f"/calls?{quarter}&page=100"),
        ("calls outcome=transferred", f"/calls?{quarter}&outcome=transferred"),
        ("calls node=survey", f"/calls?{quarter}&node=survey"),
        ("calls caller=0912345678", f"/calls?{quarter}&caller=0912345678"),
        ("calls channel=web", f"/calls?{quarter}&channel=web"),
        ("call timeline", f"/calls/{call_id}"),
        ("calls.csv (7 days)", "/calls.csv"),
        ("calls.csv transferred 90 d", f"/calls.csv?{quarter}&outcome=transferred"),
        ("dossiers by code", f"/dossiers?code={code}"),
        ("dossiers by tail", f"/dossiers?code={tail}"),
        ("dossiers not found", "/dossiers?code=000.00.00.X99-991231-9999"),
        ("procedures", "/procedures"),
        ("procedures page 2", "/procedures?page=2"),
        ("procedures search", "/procedures?q=dang%20ky%20kinh%20doanh"),
        ("procedure", "/procedures/1"),
        ("menus (versions)", "/menus"),
        ("menu version", "/menus/versions/1"),
        ("menu editor (draft)", draft_path),
        ("audit", "/audit"),
        ("audit.csv", "/audit.csv"),
        ("users", "/users"),
    ]


def measure(client: httpx.Client, path: str, repeat: int) -> tuple[list[float], int, int]:
    client.get(path)  # warm: templates compiled, plans cached
    samples: list[float] = []
    status = size = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append(time.perf_counter() - t0)
        status, size = r.status_code, len(r.content)
    return samples, status, size


def report(label: str, samples: list[float], status: int, size: int) -> None:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(len(ms) * 0.95) - 1)]
    flag = "" if p95 <= 300 else "  > 300 ms"
    print(
        f"{label:30} {status:3}  {size / 1024:7.1f} KiB  p50 {statistics.median(ms):7.1f}  "
        f"p95 {p95:7.1f}  max {ms[-1]:7.1f} ms{flag}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20, help="requests per page")
    parser.add_argument("--keep", action="store_true", help="leave the schema in place")
    args = parser.parse_args()

    admin = create_engine_from_url(BASE_URL)
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        print(f"skipped: PostgreSQL not reachable at {BASE_URL}: {type(exc).__name__}")
        return
    schema = f"webbench_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{BASE_URL}{'&' if '?' in BASE_URL else '?'}options=-csearch_path%3D{schema}"
    server: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="webbench-") as tmp:
            env = {
                **os.environ,
                "TONGDAI_DATABASE_URL": url,
                "TONGDAI_DATA_DIR": tmp,
                "TONGDAI_WEB__SECRET_KEY": secrets.token_urlsafe(40),
                "TONGDAI_WEB__ALLOWED_HOSTS": '["127.0.0.1"]',
            }
            t0 = time.perf_counter()
            tongdai(env, "db", "init", "--sample", "--sample-count", "0")
            tongdai(env, "menus", "publish", "config/menus/hotline.yaml",
                    "--note", "bench", "--author", "bench")  # fmt: skip
            t1 = time.perf_counter()
            engine = create_engine_from_url(url)
            load_dossiers(engine, args.dossiers)
            t2 = time.perf_counter()
            call_id, events = load_calls(engine, args.calls, datetime.now(UTC))
            t3 = time.perf_counter()
            engine.dispose()
            # COPY bypasses the call-log writer, which counts calls into the hourly figures
            # as they end: count them as after any bulk load.
            rolled = tongdai(env, "calls", "rollup").strip()
            t4 = time.perf_counter()
            tongdai(env, "users", "add", "admin", "--role", "admin", "--password-stdin",
                    stdin="mật khẩu đo hiệu năng 2026\n")  # fmt: skip
            token = tongdai(env, "users", "token", "admin", "--role", "admin").strip()
            print(
                f"setup: schema + catalogue + menu {t1 - t0:.1f} s, {args.dossiers} dossiers "
                f"{t2 - t1:.1f} s, {args.calls} calls ({events} events) {t3 - t2:.1f} s, "
                f"{rolled} in {t4 - t3:.1f} s"
            )
            port = free_port()
            server = subprocess.Popen(
                [str(BIN / "uvicorn"), "server:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(port), "--log-level", "warning"],
                cwd=ROOT, env=env,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            headers = {"authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                for _ in range(200):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.1)
                print(f"web app up {time.perf_counter() - t3:.1f} s after loading\n")
                for label, path in pages(client, call_id, args.dossiers):
                    report(label, *measure(client, path, args.repeat))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        else:
            print(f"kept: {url}")
        admin.dispose()


if __name__ == "__main__":
    main()
