"""End to end: a sipp caller presses 0, the queue rings officer 1001's registered baresip, and
the officer console (a real uvicorn process on the same database, signed in as the officer)
receives the screen-pop of that call over Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_officer
from integrations.privacy import mask_phone
from ivr.events import CallStarted, OfficerRinging
from ivr.queue.model import OfficerState
from ivr.queue.store_db import DbQueueStore
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import serve_officers, start_hotline
from tests.officers.phones import officer_phone
from tests.web.served import served_web
from tests.web_access import TEST_PASSWORD, ensure_user
from web.roles import Role

pytestmark = pytest.mark.e2e
PASSWORD = "b1m4t-1001"
LOGIN = "mai.vo"  # officer 1001 of tong-dai in the sample departments
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _signed_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    answer = await client.post(
        "/login", data={"username": LOGIN, "password": TEST_PASSWORD, "csrf_token": match[1]}
    )
    assert answer.status_code == 303, answer.text


async def _first_pop(
    client: httpx.AsyncClient, connected: asyncio.Event
) -> tuple[dict[str, Any], float]:
    """The first screen-pop of the feed and when it arrived (Unix seconds)."""
    async with client.stream("GET", "/console/events") as answer:
        assert answer.status_code == 200
        name = ""
        async for line in answer.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
                if name == "hello":
                    connected.set()
            elif line.startswith("data: ") and name == "screen-pop":
                pop: dict[str, Any] = json.loads(line[6:])
                return pop, time.time()
    raise AssertionError("the feed ended without a screen-pop")


async def test_a_real_ring_pops_up_on_the_officers_console(tmp_path: Path) -> None:
    with served_web(tmp_path / "web") as web:
        engine = create_engine_from_url(web.database_url)
        factory = session_factory(engine)
        ensure_user(factory, LOGIN, Role.OFFICER)
        with unit_of_work(factory) as session:
            save_officer(
                session, department_id="tong-dai", name="Võ Thị Mai", extension="1001",
                realm="tongdai", sip_password=PASSWORD, web_login=LOGIN,
            )  # fmt: skip
        running = await start_hotline(web.database_url, tmp_path / "prompts")
        hotline = running.hotline
        assert hotline.registrar is not None and hotline.bridge is not None
        serve_officers(running)
        try:
            async with (
                officer_phone(running.port, "1001", PASSWORD, answer="auto") as officer,
                httpx.AsyncClient(base_url=web.base, timeout=30.0) as console,
            ):
                await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
                await DbQueueStore(factory).set_state(
                    "1001", "tong-dai", OfficerState.AVAILABLE, now=time.time()
                )
                await _signed_in(console)
                connected = asyncio.Event()
                popping = asyncio.create_task(_first_pop(console, connected))
                await asyncio.wait_for(connected.wait(), 10)
                scenario = dtmf_scenario(tmp_path / "zero.xml", [(2000, "0")], hangup_after_ms=9000)
                result = await run_sipp(scenario, running.port, timeout_s=40)
                assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
                pop, popped_at = await asyncio.wait_for(popping, 10)
        finally:
            await running.stop()
            engine.dispose()
    rings = running.sink.of(OfficerRinging)
    assert len(rings) == 1
    started = running.sink.of(CallStarted, rings[0].call_id)  # the caller's leg, not the officer's
    assert len(started) == 1
    assert pop["call_id"] == started[0].call_id
    assert pop["officer"] == "1001" and pop["department"] == "tong-dai"
    # the call log keeps the number masked, and the pop shows what it keeps
    assert pop["caller"] == mask_phone(started[0].caller)  # type: ignore[attr-defined]
    assert pop["menu_path"] and pop["menu_path"][0] == "greeting"
    assert 0 <= pop["waited_s"] < 5
    ring_to_pop_s = popped_at - rings[0].at.timestamp()
    print(f"ring to screen-pop {1000 * ring_to_pop_s:.0f} ms")
    assert 0 < ring_to_pop_s < 3.0  # call-log writer (0.2 s) + feed poll (0.5 s) + slack
