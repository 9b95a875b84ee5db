"""Dossier lookup latency with many dossiers, in PostgreSQL and in SQLite.

    python bench/lookup.py [--rows 1000000] [--lookups 2000] [--backend both|postgres|sqlite]

Loads ``--rows`` dossiers (each with one progress entry, half with a fee) into a fresh
PostgreSQL schema (COPY) and a fresh SQLite file (executemany), then times lookups through
:class:`integrations.dossiers_db.DatabaseDossierSource`: by full code (found and not found), by
the ten-digit tail, and the async ``get`` the dialog runtime awaits. Prints p50/p99/max in
milliseconds. The goal is p99 <= 5 ms for a lookup by code in PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text

from db import create_engine_from_url, migrate, session_factory
from integrations.dossiers_db import DatabaseDossierSource
from integrations.sample_dossiers import AGENCIES, PROCEDURES

DEFAULT_PG_URL = os.environ.get(
    "TONGDAI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FIRST_DAY = date(2023, 1, 1)
DAYS = 1000
CHUNK = 50_000

DOSSIER_COLUMNS = (
    "id, code, tail, procedure_code, procedure_name, applicant_name, applicant_type, phone, "
    "email, received_on, due_on, status, processing_unit, channel, return_method, "
    "result_documents, updated_at"
)


def code_of(i: int) -> tuple[str, str]:
    """The i-th code and its tail; unique by construction (agency, day, sequence)."""
    agency = AGENCIES[i % len(AGENCIES)][0]
    day = FIRST_DAY + timedelta(days=(i // len(AGENCIES)) % DAYS)
    seq = i // (len(AGENCIES) * DAYS) + 1
    tail = f"{day:%y%m%d}{seq:04d}"
    return f"{agency}-{day:%y%m%d}-{seq:04d}", tail


def rows(count: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...] | None]]:
    """(dossier, progress, fee or None) tuples, deterministic."""
    rng = random.Random(7)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        code, tail = code_of(i)
        proc_code, proc_name, days, fee, kind = PROCEDURES[i % len(PROCEDURES)]
        received = FIRST_DAY + timedelta(days=(i // len(AGENCIES)) % DAYS)
        unit = AGENCIES[i % len(AGENCIES)][1]
        dossier = (
            i + 1, code, tail, proc_code, proc_name, f"Người nộp {i}", kind.value,
            f"09{rng.randrange(10**8):08d}", "", received, received + timedelta(days=days),
            rng.randint(1, 10), unit, 2, "counter", "[]", now,
        )  # fmt: skip
        progress = (i + 1, i + 1, 0, now, unit, "Tiếp nhận hồ sơ")
        fee_row = (i + 1, i + 1, 0, "Phí, lệ phí", fee, True) if i % 2 == 0 else None
        yield dossier, progress, fee_row


def load_postgres(engine: Engine, count: int) -> None:
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:
            with (
                cur.copy(f"COPY dossiers ({DOSSIER_COLUMNS}) FROM STDIN") as d_copy,
            ):
                for dossier, _, _ in rows(count):
                    d_copy.write_row(dossier)
            with cur.copy(
                "COPY dossier_progress (id, dossier_id, position, at, unit, action) FROM STDIN"
            ) as p_copy:
                for _, progress, _ in rows(count):
                    p_copy.write_row(progress)
            with cur.copy(
                "COPY dossier_fees (id, dossier_id, position, name, amount_vnd, paid) FROM STDIN"
            ) as f_copy:
                for _, _, fee in rows(count):
                    if fee is not None:
                        f_copy.write_row(fee)
            for table in ("dossiers", "dossier_progress", "dossier_fees"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count})")
                cur.execute(f"ANALYZE {table}")
        conn.commit()
    finally:
        raw.close()


def load_sqlite(engine: Engine, count: int) -> None:
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        marks = ", ".join("?" * 17)
        batch: tuple[list[Any], list[Any], list[Any]] = ([], [], [])

        def flush() -> None:
            conn.executemany(f"INSERT INTO dossiers ({DOSSIER_COLUMNS}) VALUES ({marks})", [
                (*d[:9], d[9].isoformat(), d[10].isoformat(), *d[11:16], d[16].isoformat())
                for d in batch[0]
            ])  # fmt: skip
            conn.executemany(
                "INSERT INTO dossier_progress (id, dossier_id, position, at, unit, action) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*p[:3], p[3].isoformat(), *p[4:]) for p in batch[1]],
            )
            conn.executemany(
                "INSERT INTO dossier_fees (id, dossier_id, position, name, amount_vnd, paid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                batch[2],
            )
            for part in batch:
                part.clear()

        for dossier, progress, fee in rows(count):
            batch[0].append(dossier)
            batch[1].append(progress)
            if fee is not None:
                batch[2].append(fee)
            if len(batch[0]) >= CHUNK:
                flush()
        flush()
        conn.commit()
        conn.execute("ANALYZE")
    finally:
        raw.close()


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {p50:6.3f}  p99 {p99:6.3f}  max {ms[-1]:7.3f} ms"


def timed(fn: Callable[[str], Any], keys: list[str]) -> str:
    """Wall-clock latency, and this process's CPU per call (which a busy machine inflates less)."""
    wall: list[float] = []
    cpu: list[float] = []
    for key in keys:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(key)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return f"wall {percentiles(wall)} | cpu p50 {statistics.median(cpu) * 1000:6.3f} ms"


def server_side(engine: Engine, codes: list[str]) -> str:
    """PostgreSQL's own execution time of the lookup query (EXPLAIN ANALYZE), per code."""
    query = text(
        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM dossiers d "
        "LEFT JOIN dossier_fees f ON f.dossier_id = d.id "
        "LEFT JOIN dossier_supplements s ON s.dossier_id = d.id "
        "LEFT JOIN dossier_progress p ON p.dossier_id = d.id WHERE d.code = :code"
    )
    times: list[float] = []
    with engine.connect() as conn:
        for code in codes:
            plan = conn.execute(query, {"code": code}).scalar_one()
            times.append(float(plan[0]["Execution Time"]) / 1000)
    return percentiles(times)


def measure(engine: Engine, count: int, lookups: int) -> None:
    source = DatabaseDossierSource(session_factory(engine))
    rng = random.Random(11)
    picks = [rng.randrange(count) for _ in range(lookups)]
    codes = [code_of(i)[0] for i in picks]
    missing = [f"000.00.99.H56-230101-{n:04d}" for n in range(max(1, lookups // 10))]
    tails = [code_of(i)[1] for i in picks]
    for code in codes[:50]:  # warm the pool and the caches
        assert source.get_sync(code) is not None, code

    def round_trip(_: str) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    print(f"  floor: SELECT 1          {timed(round_trip, codes)}")
    print(f"  get by code (found)      {timed(source.get_sync, codes)}")
    print(f"  get by code (not found)  {timed(source.get_sync, missing)}")
    print(f"  find by tail             {timed(source.find_by_tail_sync, tails)}")

    async def run_async() -> list[float]:
        out = []
        for code in codes:
            start = time.perf_counter()
            await source.get(code)
            out.append(time.perf_counter() - start)
        return out

    print(f"  await get (thread hop)   wall {percentiles(asyncio.run(run_async()))}")
    if engine.dialect.name == "postgresql":
        print(f"  server execution time    {server_side(engine, codes[:500])}")
    print(f"  (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def bench_postgres(url: str, count: int, lookups: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine_from_url(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine_from_url(url, pg_schema=schema)
    try:
        migrate(engine)
        start = time.perf_counter()
        load_postgres(engine, count)
        took = time.perf_counter() - start
        print(f"PostgreSQL: loaded {count:,} dossiers in {took:.1f} s ({count / took:,.0f}/s)")
        measure(engine, count, lookups)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_sqlite(count: int, lookups: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine_from_url(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            migrate(engine)
            start = time.perf_counter()
            load_sqlite(engine, count)
            took = time.perf_counter() - start
            print(f"SQLite: loaded {count:,} dossiers in {took:.1f} s ({count / took:,.0f}/s)")
            measure(engine, count, lookups)
        finally:
            engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--backend", choices=("both", "postgres", "sqlite"), default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    if args.rows < 1 or args.lookups < 1:
        parser.error("--rows and --lookups must be positive")
    print(f"dossier lookup, {args.rows:,} dossiers, {args.lookups:,} lookups per figure")
    print("wall: latency seen by the caller; cpu: this process's CPU per lookup")
    if args.backend in ("both", "postgres"):
        try:
            bench_postgres(args.pg_url, args.rows, args.lookups)
        except Exception as exc:  # report and go on to SQLite: a missing server is not fatal
            print(f"PostgreSQL: skipped ({type(exc).__name__}: {exc})")
    if args.backend in ("both", "sqlite"):
        bench_sqlite(args.rows, args.lookups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
