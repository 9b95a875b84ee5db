"""The whole hotline: a sipp caller presses 0 and the registered officer's baresip rings.

The default menu tree, the sample catalogue and espeak-ng prompts (tests/e2e/hotline_fixture);
officer 1001 of the hotline's own department (``tong-dai``) registers with baresip, answers
automatically, hears the whisper and is bridged to the caller until sipp hangs up. The time
from the caller's key to the INVITE leaving for the officer's phone is measured.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_officer
from ivr.events import DigitReceived, TransferRequested, TransferResult
from ivr.queue.model import EntryState, OfficerState
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import QueueEntryRow
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import prepare_database, start_hotline
from tests.officers.phones import officer_phone

pytestmark = pytest.mark.e2e
PASSWORD = "b1m4t-1001"


async def test_press_zero_rings_the_registered_officer(tmp_path: Path) -> None:
    url = prepare_database(tmp_path / "hotline.db")
    engine = create_engine_from_url(url)
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        save_officer(
            session, department_id="tong-dai", name="Nguyễn Văn An", extension="1001",
            realm="tongdai", sip_password=PASSWORD,
        )  # fmt: skip
    running = await start_hotline(url, tmp_path / "prompts")
    hotline = running.hotline
    assert hotline.registrar is not None and hotline.bridge is not None
    # what `tongdai serve` does once the worker exists (ivr/commands.py)
    running.worker.endpoint.registrar = hotline.registrar
    hotline.bridge.dial = running.worker.endpoint.dial
    running.settings.registrar.digest_algorithms = ["MD5"]  # baresip 1.0: MD5 only
    try:
        async with officer_phone(running.port, "1001", PASSWORD, answer="auto") as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await DbQueueStore(factory).set_state(
                "1001", "tong-dai", OfficerState.AVAILABLE, now=time.time()
            )
            scenario = dtmf_scenario(tmp_path / "zero.xml", [(2000, "0")], hangup_after_ms=9000)
            result = await run_sipp(scenario, running.port, timeout_s=40)
            assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
            await officer.wait_event("CALL_CLOSED", 5)  # the caller's BYE ended the officer's leg
            invites = [m for m in officer.sip_messages() if m.first_line.startswith("INVITE")]
            assert len(invites) == 1
    finally:
        await running.stop()
        engine.dispose()
    zero = [e for e in running.sink.of(DigitReceived) if e.digit == "0"]  # type: ignore[attr-defined]
    assert zero
    key_to_ring_s = hotline.bridge.dialled_at[0] - zero[0].at.timestamp()
    print(f"key-to-ring {1000 * key_to_ring_s:.0f} ms, INVITE-to-answer "
          f"{1000 * hotline.bridge.ring_times_s[0]:.0f} ms")  # fmt: skip
    assert 0 < key_to_ring_s < 10
    requested = running.sink.of(TransferRequested)
    assert [e.target for e in requested] == ["queue:tong-dai"]  # type: ignore[attr-defined]
    results = running.sink.of(TransferResult)
    assert [e.ok for e in results] == [True]  # type: ignore[attr-defined]


async def test_two_callers_one_busy_officer_the_second_waits_its_turn(tmp_path: Path) -> None:
    url = prepare_database(tmp_path / "hotline.db")
    engine = create_engine_from_url(url)
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        save_officer(
            session, department_id="tong-dai", name="Nguyễn Văn An", extension="1001",
            realm="tongdai", sip_password=PASSWORD,
        )  # fmt: skip
    store = DbQueueStore(factory)
    await store.set_state("1001", "tong-dai", OfficerState.ON_CALL, now=time.time())  # busy
    running = await start_hotline(url, tmp_path / "prompts")
    hotline = running.hotline
    assert hotline.registrar is not None and hotline.bridge is not None
    running.worker.endpoint.registrar = hotline.registrar
    hotline.bridge.dial = running.worker.endpoint.dial
    running.settings.registrar.digest_algorithms = ["MD5"]
    running.settings.queues.wrap_up_s = 1.0
    running.settings.queues.announce_every_s = 4.0
    first = dtmf_scenario(tmp_path / "a.xml", [(2000, "0")], hangup_after_ms=9000)
    second = dtmf_scenario(tmp_path / "b.xml", [(2000, "0")], hangup_after_ms=22000)

    async def second_caller() -> object:
        await asyncio.sleep(1.0)
        return await run_sipp(second, running.port, timeout_s=60)

    async def officer_frees_up() -> None:
        await asyncio.sleep(6.0)  # both callers are in line by now
        snap = await store.snapshot("tong-dai", now=time.time(), history=0)
        assert len(snap.entries) == 2, snap.entries
        await store.set_state("1001", "tong-dai", OfficerState.AVAILABLE, now=time.time())

    try:
        async with officer_phone(running.port, "1001", PASSWORD, answer="auto") as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            a, b, _ = await asyncio.gather(
                run_sipp(first, running.port, timeout_s=60), second_caller(), officer_frees_up()
            )
            for result in (a, b):
                assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]  # type: ignore[attr-defined]
            invites = [m for m in officer.sip_messages() if m.first_line.startswith("INVITE")]
            assert len(invites) == 2  # one per caller, in turn
    finally:
        await running.stop()
    with factory() as session:
        rows = session.scalars(select(QueueEntryRow).order_by(QueueEntryRow.ticket)).all()
    engine.dispose()
    assert [(r.state, r.assigned_to) for r in rows] == [(EntryState.DONE.value, "1001")] * 2
    one, two = rows
    assert one.connected_at is not None and one.ended_at is not None
    assert two.connected_at is not None
    assert two.connected_at >= one.ended_at + 1.0  # after the first call and the wrap-up
    assert two.connected_at - two.enqueued_at > 5.0  # the second caller waited in line
