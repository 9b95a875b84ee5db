"""Acceptance (issue 13): over real SIP, a From header proves nothing; P-Asserted-Identity from
a trusted proxy does; the four-digit check is locked out across lookups and across calls."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from db import create_engine_from_url
from ivr.events import CallerCheck, MemorySink, PromptPlayed
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


def _said(sink: MemorySink) -> list[tuple[str, str]]:
    return [(e.call_id, e.text) for e in sink.of(PromptPlayed)]  # type: ignore[attr-defined]


def _checks(sink: MemorySink) -> list[tuple[str, str]]:
    return [(e.call_id, e.result) for e in sink.of(CallerCheck)]  # type: ignore[attr-defined]


# label: (source address, asserted identity, personal sentence read out); the hotline trusts
# assertions from 127.0.0.2 only, so the three callers run at once against one hotline.
CALLERS = {
    "from-only": ("127.0.0.1", "", False),  # only a From header: a claim
    "untrusted-pai": ("127.0.0.1", "tel:0912345678", False),  # asserted by nobody we trust
    "trusted-pai": ("127.0.0.2", "tel:+84912345678", True),  # asserted by the trusted trunk
}


async def test_caller_identity_needs_a_trusted_assertion(
    hotline_db: tuple[str, Path], tmp_path: Path
) -> None:
    url, prompts = hotline_db
    running = await start_hotline(url, prompts, trusted_proxies=["127.0.0.2/32"])
    try:
        steps = [*LOOKUP, (9000, "#")]  # "#" skips the digits when they are asked for
        calls = []
        for label, (source, pai) in ((k, v[:2]) for k, v in CALLERS.items()):
            scenario = _scenario(tmp_path / f"{label}.xml", steps, hangup_ms=15000, pai=pai)
            extra = ["-cid_str", f"{label}-%u-%p@%s"]
            calls.append(
                run_sipp(scenario, running.port, timeout_s=60, extra=extra, local_ip=source)
            )
        results = await asyncio.gather(*calls)
        for label, result in zip(CALLERS, results, strict=True):
            assert result.returncode == 0, label + result.stdout[-1500:] + result.errors[-1500:]
        for label, (_, _, personal) in CALLERS.items():
            said = [t for call_id, t in _said(running.sink) if call_id.startswith(label)]
            assert any("nghĩa vụ tài chính" in t for t in said), (label, said)  # public
            assert any(PERSONAL in t for t in said) is personal, (label, said)
            checks = [r for call_id, r in _checks(running.sink) if call_id.startswith(label)]
            assert checks == (["asserted"] if personal else ["skipped"]), (label, checks)
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
        assert [r for _, r in _checks(running.sink)] == ["failed"] * 3 + ["locked-call"] * 2
        second = _scenario(
            tmp_path / "b.xml",
            [*LOOKUP, (9000, "3333#"), (4000, "4444#")],  # five failures for this dossier
            hangup_ms=5000,
        )
        result = await run_sipp(second, running.port, timeout_s=90)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        assert [r for _, r in _checks(running.sink)][5:] == ["failed", "failed", "locked-dossier"]
        assert not any(PERSONAL in t for _, t in _said(running.sink))
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
