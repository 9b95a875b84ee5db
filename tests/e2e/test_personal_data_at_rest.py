"""Acceptance (issue 13): after a call that heard personal details, no clear phone number and
no personal sentence is in the log, in the database's call events, or anywhere under var/; the
personal sentence's audio was never cached; every file under var/ is owner-only."""

from __future__ import annotations

import logging
import os
import stat
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from config.private_files import restrict_data_files
from config.settings import Settings
from db import create_engine_from_url
from integrations.privacy import view_for
from integrations.sample_dossiers import DEMO_PHONE, demo_dossiers
from ivr.events import CallerCheck, PromptPlayed
from ivr.runtime import phrases
from speech.prompt_cache import build_prompt_cache
from speech.settings import SpeechSettings
from speech.tts import build_synthesizer
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import prepare_database, start_hotline

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

CODE = "000.00.14.H56-250303-9006"  # status 6: fees, the applicant's name


async def test_a_personal_call_leaves_nothing_personal_at_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var = tmp_path / "var"
    prompts = var / "prompts"
    url = f"sqlite:///{var / 'tongdai.db'}"
    speech = SpeechSettings(synthesizer="espeak-ng", rate_wpm=320, prompt_cache_dir=prompts)
    settings = Settings(data_dir=var, database_url=url, speech=speech)
    old_umask = os.umask(0o022)
    try:
        restrict_data_files(settings)
        prepare_database(var / "tongdai.db")
        caplog.set_level(logging.INFO)
        running = await start_hotline(url, prompts, trusted_proxies=["127.0.0.1"])
        try:
            scenario = dtmf_scenario(
                tmp_path / "caller.xml", [(1500, "1"), (2500, "2503039006#"), (3500, "1")],
                hangup_after_ms=20000,
            )  # fmt: skip
            body = scenario.read_text(encoding="iso-8859-1")
            pai = f"P-Asserted-Identity: <tel:{DEMO_PHONE}>\n      Call-ID: [call_id]"
            scenario.write_text(body.replace("Call-ID: [call_id]", pai, 1), "iso-8859-1")
            result = await run_sipp(scenario, running.port, timeout_s=60)
            assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
            said = [e.text for e in running.sink.of(PromptPlayed)]  # type: ignore[attr-defined]
            assert "[dossier.personal]" in said, said  # the personal details were spoken
            checks = [e.result for e in running.sink.of(CallerCheck)]  # type: ignore[attr-defined]
            assert checks == ["asserted"]
        finally:
            await running.stop()
    finally:
        os.umask(old_umask)

    dossier = next(d for d in demo_dossiers(date.today()) if d.code == CODE)
    sentence = phrases.personal_sentence(view_for(dossier, verified=True, today=date.today()))
    secrets = [DEMO_PHONE, dossier.applicant_name, sentence]
    # the log
    assert not [s for s in secrets if s in caplog.text]
    # the database: every stored event and the call rows
    engine = create_engine_from_url(url)
    with engine.connect() as conn:
        events = [str(r[0]) for r in conn.execute(text("select payload from call_events"))]
        calls = [str(tuple(r)) for r in conn.execute(text("select * from calls"))]
    engine.dispose()
    assert len(events) > 10
    stored = "\n".join(events + calls)
    assert not [s for s in secrets if s in stored], stored[:2000]
    # var/: no file holds the number or the name (the SQLite file holds the dossier itself,
    # which is the data, not a copy of the call), and the sentence was never cached as audio
    for path in var.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
        if path.is_file() and not path.name.startswith("tongdai.db"):
            data = path.read_bytes()
            assert DEMO_PHONE.encode() not in data and dossier.applicant_name.encode() not in data
    cache = build_prompt_cache(speech, build_synthesizer(speech))
    assert cache.cached_voice(sentence) is None
    # Dynamic answers are rendered offline for each call and never cached, the public status
    # sentence included; the call's first prompt, static text of the tree, is in the same
    # cache: the checks above can fail.
    status = phrases.status_sentence(view_for(dossier, verified=False, today=date.today()))
    assert cache.cached_voice(status) is None
    assert cache.cached_voice(said[0]) is not None, said[0]
