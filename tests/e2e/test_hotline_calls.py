"""Acceptance (issue 3): real sipp callers walk the default tree over real RTP.

A caller presses 1 and types a sample dossier code: the call log shows the lookup and the status
prompt; another presses 2 and reaches a procedure's guidance; one that never answers ends with
the officer option (a transfer by REFER, followed to its final NOTIFY)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from db import create_engine_from_url
from ivr.events import (
    CallEnded,
    LookupDone,
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


def _texts(sink: object) -> list[str]:
    return [e.text for e in sink.of(PromptPlayed)]  # type: ignore[attr-defined]


async def test_dossier_status_by_keypad(hotline_db: tuple[str, Path], tmp_path: Path) -> None:
    url, prompts = hotline_db
    running = await start_hotline(url, prompts)
    try:
        # 1 = dossier status; the last ten digits of 000.00.14.H56-250303-9004 and #;
        # 1 confirms the read-back. A From header proves nothing, so the phone digits are asked
        # for: "#" skips them and the status is read without the personal details.
        scenario = dtmf_scenario(
            tmp_path / "dossier.xml",
            [(1500, "1"), (2500, "2503039004#"), (4000, "1"), (9000, "#")],
            hangup_after_ms=25000,
        )
        result = await run_sipp(scenario, running.port, timeout_s=60)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        lookups = running.sink.of(LookupDone)
        assert [(e.lookup, e.found) for e in lookups] == [("dossier", True)]  # type: ignore[attr-defined]
        assert lookups[0].key == "000.00.14.H56-250303-9004"  # type: ignore[attr-defined]
        status = [t for t in _texts(running.sink) if "ngày hẹn trả" in t.lower()]
        assert status, "\n".join(_texts(running.sink))
        # the call log in the database has the same story (stopping flushes its writer)
        await running.stop()
        engine = create_engine_from_url(url)
        with engine.connect() as conn:
            kinds = {r[0] for r in conn.execute(text("select kind from call_events"))}
        engine.dispose()
        assert {"call-started", "lookup-done", "prompt-played", "call-ended"} <= kinds
    finally:
        await running.stop()


async def test_procedure_guidance_by_keypad(hotline_db: tuple[str, Path], tmp_path: Path) -> None:
    url, prompts = hotline_db
    running = await start_hotline(url, prompts)
    try:
        # 2 = procedures, 1 = Sở Công thương, then the first field and the first procedure.
        scenario = dtmf_scenario(
            tmp_path / "procedure.xml",
            [(1500, "2"), (2500, "1"), (3000, "1"), (3000, "1")],
            hangup_after_ms=30000,
        )
        result = await run_sipp(scenario, running.port, timeout_s=70)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        lookups = running.sink.of(LookupDone)
        assert ("procedure", True) in [(e.lookup, e.found) for e in lookups]  # type: ignore[attr-defined]
        guidance = [t for t in _texts(running.sink) if "phí" in t or "hồ sơ gồm" in t]
        assert guidance, _texts(running.sink)
    finally:
        await running.stop()


async def test_silent_caller_is_offered_an_officer(
    hotline_db: tuple[str, Path], tmp_path: Path
) -> None:
    url, prompts = hotline_db
    running = await start_hotline(url, prompts)
    try:
        result = await run_sipp(SCENARIOS / "silent_then_refer.xml", running.port, timeout_s=150)
        story = "\n".join(f"{e.kind} {e.payload()}" for e in running.sink.events)
        assert result.returncode == 0, result.errors[-1500:] + story
        nodes = [e.node_id for e in running.sink.of(NodeEntered)]  # type: ignore[attr-defined]
        assert "officer" in nodes
        texts = _texts(running.sink)
        assert any("chưa nghe thấy" in t for t in texts)  # the no-input retries were heard
        transfers = running.sink.of(TransferRequested)
        results = running.sink.of(TransferResult)
        ended = running.sink.of(CallEnded)
        assert [e.department for e in transfers] == ["tong-dai"]  # type: ignore[attr-defined]
        assert [(e.ok, e.status) for e in results] == [(True, 200)]  # type: ignore[attr-defined]
        assert [e.reason for e in ended] in (["transferred"], ["ivr-bye"])  # type: ignore[attr-defined]
    finally:
        await running.stop()
