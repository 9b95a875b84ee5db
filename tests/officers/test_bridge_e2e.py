"""A caller waits in the queue and is bridged to a registered officer's baresip.

Two real softphones over loopback: the officer's baresip registers with digest credentials and
answers automatically (an 880 Hz tone as its microphone); the citizen's baresip (440 Hz) calls
the worker, joins the department's queue (on the database) and the bridge rings the officer's
registered phone, whispers to the officer (a 1500 Hz tone stands for the spoken summary), then
relays audio both ways. What each phone heard is checked from its own recording.
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.audio import Audio
from db import unit_of_work
from integrations.officers import save_officer
from ivr.bridge.officer_line import BridgeLine
from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.officer_settings import QueueSettings, RegistrarSettings
from ivr.queue.model import EntryState, OfficerState
from ivr.queue.music import default_music
from ivr.queue.store_db import DbQueueStore
from ivr.queue.waiting import QueueDoor
from ivr.registrar_db import DbRegistry
from ivr.sip.registrar import Registrar
from tests.e2e.harness import RunningIvr, start_ivr
from tests.officers.conftest import REALM
from tests.officers.phones import caller_phone, officer_phone

pytestmark = pytest.mark.e2e
DEPT = "so-cong-thuong"
PASSWORD = "b1m4t-1001"
CALLER_HZ, OFFICER_HZ, WHISPER_HZ = 440.0, 880.0, 1500.0
SUMMARY = "Cuộc gọi về hồ sơ 2503039005, đang chờ bổ sung giấy tờ, Sở Công thương"


def tone(hz: float, seconds: float) -> Audio:
    t = np.arange(int(8000 * seconds)) / 8000
    return Audio((np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes(), 8000)


def dominant_hz(samples: np.ndarray) -> float:
    if len(samples) < 800 or not np.any(samples):
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[0] = 0.0
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[int(np.argmax(spectrum))])


def tones_heard(path: Path, step_s: float = 0.25) -> list[float]:
    """The dominant frequency of each `step_s` of a recording (0 for silence)."""
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        rate = w.getframerate()
    if rate != 8000:
        raise AssertionError(f"recording at {rate} Hz")
    size = int(step_s * rate)
    loud = [pcm[i : i + size] for i in range(0, len(pcm) - size, size)]
    return [dominant_hz(c) if np.sqrt(np.mean(c**2)) > 300 else 0.0 for c in loud]


def near(hz: float, target: float) -> bool:
    return abs(hz - target) < 20


async def serve_queue(
    factory: sessionmaker[Session],
) -> tuple[RunningIvr, DbQueueStore, BridgeLine, list[object], list[str]]:
    """A worker whose calls wait in the department's queue and are bridged to officer 1001."""
    with unit_of_work(factory) as session:
        save_officer(
            session, department_id=DEPT, name="Nguyễn Văn An", extension="1001",
            realm=REALM, sip_password=PASSWORD,
        )  # fmt: skip
    registry = DbRegistry(factory, realm=REALM)
    store = DbQueueStore(factory)
    outcome: list[object] = []
    door_box: list[QueueDoor] = []

    async def on_call(call: Call) -> None:
        try:
            outcome.append(await door_box[0].wait(call, DEPT, summary=SUMMARY))
        except CallerHungUp:
            outcome.append("hung up")

    ivr = await start_ivr(on_call)
    registrar = Registrar(
        RegistrarSettings(realm=REALM, digest_algorithms=["MD5"]),
        credentials=registry,
        store=registry,
        clock=time.time,
    )
    ivr.worker.endpoint.registrar = registrar.handle
    whispered: list[str] = []

    async def whisper(text: str) -> Audio:
        whispered.append(text)
        return tone(WHISPER_HZ, 1.0)

    async def prompts(text: str) -> Audio:
        return Audio(bytes(8000), 8000)  # 0.5 s of silence per announcement

    line = BridgeLine(
        ivr.worker.endpoint.dial,
        registry,
        from_uri=f"sip:hotline@127.0.0.1:{ivr.port}",
        whisper=whisper,
        clock=time.time,
        hold_music=default_music(),
    )
    door_box.append(
        QueueDoor(
            store=store,
            settings=QueueSettings(ring_timeout_s=8, poll_s=0.2, wrap_up_s=5),
            prompts=prompts,
            music=default_music(),
            officers=line,
            clock=time.time,
        )
    )
    return ivr, store, line, outcome, whispered


async def test_caller_is_bridged_to_the_registered_officer(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    _, factory = database
    ivr, store, line, outcome, whispered = await serve_queue(factory)
    try:
        async with (
            officer_phone(ivr.port, "1001", PASSWORD, answer="auto", tone_hz=OFFICER_HZ) as officer,
            caller_phone(tone_hz=CALLER_HZ) as citizen,
        ):
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await store.set_state("1001", DEPT, OfficerState.AVAILABLE, now=time.time())
            await citizen.dial(f"sip:hotline@127.0.0.1:{ivr.port}")
            await citizen.wait_event("CALL_ESTABLISHED", 5)
            await officer.wait_event("CALL_ESTABLISHED", 5)
            await asyncio.sleep(2.5)  # 1 s whisper, then the conversation
            await citizen.send_digits("12")  # pressed during the conversation: passed through
            await officer.wait_event("CALL_DTMF_START", 5)
            await asyncio.sleep(1.5)
            keys = [e.param for e in officer.events if e.type == "CALL_DTMF_START"]
            snap = await store.snapshot(DEPT, now=time.time(), history=1)
            assert [p.state for p in snap.officers] == [OfficerState.ON_CALL]
            await citizen.hangup()
            await citizen.wait_event("CALL_CLOSED", 5)
            await officer.wait_event("CALL_CLOSED", 5)  # the caller's BYE ended both legs
            await asyncio.sleep(0.5)
            officer_heard = tones_heard(officer.recordings()["dec"])
            citizen_heard = tones_heard(citizen.recordings()["dec"])
    finally:
        await ivr.worker.stop()

    assert whispered == [SUMMARY] and line.ring_times_s and line.ring_times_s[0] < 1.0
    # the officer hears the whisper first, then the caller
    first_whisper = next(i for i, hz in enumerate(officer_heard) if near(hz, WHISPER_HZ))
    caller_parts = [i for i, hz in enumerate(officer_heard) if near(hz, CALLER_HZ)]
    assert caller_parts and caller_parts[0] > first_whisper
    assert len(caller_parts) >= 8  # at least 2 s of the caller's voice
    # the caller hears the officer (and never the whisper)
    assert sum(1 for hz in citizen_heard if near(hz, OFFICER_HZ)) >= 8
    assert not any(near(hz, WHISPER_HZ) for hz in citizen_heard)
    # while the phone rang and the officer heard the whisper, the caller heard the hold music
    first_officer = next(i for i, hz in enumerate(citizen_heard) if near(hz, OFFICER_HZ))
    assert first_officer >= 2
    assert all(200 < hz < 600 for hz in citizen_heard[:first_officer])
    assert keys == ["1", "2"]
    served = outcome[0]
    assert getattr(served, "outcome", None) == "served"
    assert getattr(served, "officer", None) == "1001"
    with factory() as session:
        from ivr.queue.tables import QueueEntryRow

        row = session.query(QueueEntryRow).one()
        assert row.state == EntryState.DONE.value and row.assigned_to == "1001"
        assert row.connected_at is not None and row.ended_at is not None


async def test_caller_hanging_up_while_the_officer_rings_cancels_the_ringing(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    _, factory = database
    ivr, store, line, outcome, _ = await serve_queue(factory)
    try:
        async with (
            officer_phone(ivr.port, "1001", PASSWORD, answer="manual") as officer,
            caller_phone() as citizen,
        ):
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await store.set_state("1001", DEPT, OfficerState.AVAILABLE, now=time.time())
            await citizen.dial(f"sip:hotline@127.0.0.1:{ivr.port}")
            await citizen.wait_event("CALL_ESTABLISHED", 5)
            await officer.wait_event("CALL_INCOMING", 5)
            await citizen.hangup()
            await officer.wait_sip("CANCEL", "CANCEL", 5)
            await officer.wait_event("CALL_CLOSED", 5)
            await asyncio.sleep(0.5)
    finally:
        await ivr.worker.stop()
    assert outcome == ["hung up"]
    assert line.ring_times_s == []
    snap = await store.snapshot(DEPT, now=time.time(), history=1)
    assert snap.entries == []
    assert [p.state for p in snap.officers] == [OfficerState.AVAILABLE]
    with factory() as session:
        from ivr.queue.tables import QueueEntryRow

        assert session.query(QueueEntryRow.state).scalar() == EntryState.ABANDONED.value
