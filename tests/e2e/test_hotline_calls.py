"""Acceptance (issue 3): real sipp callers walk the default tree over real RTP.

At the same time, a caller presses 1 and types a sample dossier code: the call log shows the
lookup and the status prompt; another presses 2 and reaches a procedure's guidance; one that never
answers ends with the officer option (a transfer by REFER, followed to its final NOTIFY)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from db import create_engine_from_url
from ivr.events import (
    CallEnded,
    CallEvent,
    LookupDone,
    MemorySink,
    NodeEntered,
    PromptPlayed,
    TransferRequested,
    TransferResult,
)
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import prepare_database, start_hotline

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]
SCENARIOS = Path(__file__).parent / "scenarios"


@pytest.fixture(scope="module")
def hotline_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("hotline")
    return prepare_database(root / "hotline.db"), root / "prompts"


def _of(sink: MemorySink, kind: type[CallEvent], label: str) -> list[Any]:
    return [e for e in sink.of(kind) if e.call_id.startswith(label)]


def _texts(sink: MemorySink, label: str) -> list[str]:
    return [e.text for e in _of(sink, PromptPlayed, label)]


async def test_three_callers_at_once_walk_the_default_tree(
    hotline_db: tuple[str, Path], tmp_path: Path
) -> None:
    """One hotline, three sipp callers at the same time, each told apart by its Call-ID."""
    url, prompts = hotline_db
    running = await start_hotline(url, prompts)
    try:
        # 1 = dossier status; the last ten digits of 000.00.14.H56-250303-9004 and #;
        # 1 confirms the read-back. A From header proves nothing, so the phone digits are asked
        # for: "#" skips them and the status is read without the personal details.
        dossier = dtmf_scenario(
            tmp_path / "dossier.xml",
            [(1500, "1"), (2500, "2503039004#"), (4000, "1"), (9000, "#")],
            hangup_after_ms=25000,
        )
        # 2 = procedures, 1 = Sở Công thương, then the first field and the first procedure.
        procedure = dtmf_scenario(
            tmp_path / "procedure.xml",
            [(1500, "2"), (2500, "1"), (3000, "1"), (3000, "1")],
            hangup_after_ms=30000,
        )
        callers = {
            "dossier": (dossier, 60),
            "procedure": (procedure, 70),
            "silent": (SCENARIOS / "silent_then_refer.xml", 150),
        }
        results = await asyncio.gather(
            *(
                run_sipp(
                    path, running.port, timeout_s=limit, extra=["-cid_str", f"{label}-%u-%p@%s"]
                )
                for label, (path, limit) in callers.items()
            )
        )
        story = "\n".join(f"{e.call_id} {e.kind} {e.payload()}" for e in running.sink.events)
        for label, result in zip(callers, results, strict=True):
            assert result.returncode == 0, label + result.errors[-1500:] + story[-3000:]
        sink = running.sink

        lookups = _of(sink, LookupDone, "dossier")
        assert [(e.lookup, e.found) for e in lookups] == [("dossier", True)]
        assert lookups[0].key == "000.00.14.H56-250303-9004"
        status = [t for t in _texts(sink, "dossier") if "ngày hẹn trả" in t.lower()]
        assert status, "\n".join(_texts(sink, "dossier"))

        lookups = _of(sink, LookupDone, "procedure")
        assert ("procedure", True) in [(e.lookup, e.found) for e in lookups]
        guidance = [t for t in _texts(sink, "procedure") if "phí" in t or "hồ sơ gồm" in t]
        assert guidance, _texts(sink, "procedure")

        # one that never answers hears the no-input retries, then is offered an officer: a
        # transfer by REFER, followed to its final NOTIFY
        assert "officer" in [e.node_id for e in _of(sink, NodeEntered, "silent")]
        assert any("chưa nghe thấy" in t for t in _texts(sink, "silent"))
        assert [e.department for e in _of(sink, TransferRequested, "silent")] == ["tong-dai"]
        assert [(e.ok, e.status) for e in _of(sink, TransferResult, "silent")] == [(True, 200)]
        assert [e.reason for e in _of(sink, CallEnded, "silent")] in (["transferred"], ["ivr-bye"])

        # the call log in the database has the same story (stopping flushes its writer)
        await running.stop()
        engine = create_engine_from_url(url)
        with engine.connect() as conn:
            kinds = {r[0] for r in conn.execute(text("select kind from call_events"))}
            calls = conn.execute(text("select count(*) from calls")).scalar()
        engine.dispose()
        assert {"call-started", "lookup-done", "prompt-played", "call-ended"} <= kinds
        assert calls == 3
    finally:
        await running.stop()
