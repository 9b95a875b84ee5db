"""Acceptance (issue 13): over real SIP, a From header proves nothing; P-Asserted-Identity from
a trusted proxy does; the four-digit check is locked out across lookups and across calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from db import create_engine_from_url
from ivr.events import CallerCheck, PromptPlayed
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import prepare_database, start_hotline

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

PERSONAL = "[dossier.personal]"  # the personal sentence (name, fees …) as its event records it
LOOKUP = [(1500, "1"), (2500, "2503039006#"), (3500, "1")]  # status 6: fees are personal


@pytest.fixture
def hotline_db(tmp_path: Path) -> tuple[str, Path]:
    return prepare_database(tmp_path / "hotline.db"), tmp_path / "prompts"


def _scenario(path: Path, steps: list[tuple[int, str]], *, hangup_ms: int, pai: str = "") -> Path:
    """A sipp caller whose From is the demo dossiers' phone; ``pai`` adds an asserted identity."""
    dtmf_scenario(path, steps, hangup_after_ms=hangup_ms)
    if pai:
        body = path.read_text(encoding="iso-8859-1")
        header = f"P-Asserted-Identity: <{pai}>\n      Call-ID: [call_id]"
        path.write_text(body.replace("Call-ID: [call_id]", header, 1), encoding="iso-8859-1")
    return path


def _said(sink: object) -> list[str]:
    return [e.text for e in sink.of(PromptPlayed)]  # type: ignore[attr-defined]


def _checks(sink: object) -> list[str]:
    return [e.result for e in sink.of(CallerCheck)]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("trusted", "pai", "personal"),
    [
        ([], "", False),  # only a From header: a claim
        ([], "tel:0912345678", False),  # asserted, but by nobody we trust
        (["127.0.0.0/8"], "tel:+84912345678", True),  # asserted by the trusted trunk
    ],
    ids=["from-only", "untrusted-pai", "trusted-pai"],
)
async def test_caller_identity_needs_a_trusted_assertion(
    hotline_db: tuple[str, Path], tmp_path: Path, trusted: list[str], pai: str, personal: bool
) -> None:
    url, prompts = hotline_db
    running = await start_hotline(url, prompts, trusted_proxies=trusted)
    try:
        steps = [*LOOKUP, (9000, "#")]  # "#" skips the digits when they are asked for
        scenario = _scenario(tmp_path / "caller.xml", steps, hangup_ms=15000, pai=pai)
        result = await run_sipp(scenario, running.port, timeout_s=60)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        said = _said(running.sink)
        assert any("nghĩa vụ tài chính" in t for t in said), said  # the status is public
        assert any(PERSONAL in t for t in said) is personal, said
        assert _checks(running.sink) == (["asserted"] if personal else ["skipped"])
    finally:
        await running.stop()


async def test_brute_force_is_locked_out_across_lookups_and_calls(
    hotline_db: tuple[str, Path], tmp_path: Path
) -> None:
    url, prompts = hotline_db
    running = await start_hotline(url, prompts)
    try:
        guesses = [(9000, "0000#"), (4000, "1111#"), (4000, "2222#")]
        again = [(6000, "1"), (2500, "2503039006#"), (3500, "1")]  # another lookup, same code
        first = _scenario(tmp_path / "a.xml", [*LOOKUP, *guesses, *again], hangup_ms=8000)
        result = await run_sipp(first, running.port, timeout_s=90)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        assert _checks(running.sink) == ["failed"] * 3 + ["locked-call"] * 2
        second = _scenario(
            tmp_path / "b.xml",
            [*LOOKUP, (9000, "3333#"), (4000, "4444#")],  # five failures for this dossier
            hangup_ms=5000,
        )
        result = await run_sipp(second, running.port, timeout_s=90)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        assert _checks(running.sink)[5:] == ["failed", "failed", "locked-dossier"]
        assert not any(PERSONAL in t for t in _said(running.sink))
        await running.stop()
        engine = create_engine_from_url(url)
        with engine.connect() as conn:
            rows = conn.execute(text("select dossier_code from check_failures")).all()
            logged = conn.execute(
                text("select count(*) from call_events where kind = 'caller-check'")
            ).scalar()
        engine.dispose()
        assert [r[0] for r in rows] == ["000.00.14.H56-250303-9006"] * 5
        assert logged == 8  # every outcome is in the call log for admins
    finally:
        await running.stop()
