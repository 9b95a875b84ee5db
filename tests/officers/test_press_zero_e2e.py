"""The whole hotline: a sipp caller presses 0 and the registered officer's baresip rings.

The default menu tree, the sample catalogue and espeak-ng prompts (tests/e2e/hotline_fixture);
officer 1001 of the hotline's own department (``tong-dai``) registers with baresip, answers
automatically, hears the whisper and is bridged to the caller until sipp hangs up. The time
from the caller's key to the INVITE leaving for the officer's phone is measured.

The conversation is recorded (``queues.record_bridges``, on by default): the caller speaks
(recorded Vietnamese speech as PCMA RTP after the key), the officer's baresip sends its tone.
The recording's left channel is the caller's speech, sample for sample where it was said
(found in the source at one constant lag), its right channel the officer's tone; its length is
the bridge's; the file is owner-only and the call log holds its event.
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core import g711
from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_officer
from ivr.calllog.tables import CallEventRow
from ivr.events import BridgeRecorded, DigitReceived, TransferRequested, TransferResult
from ivr.queue.model import EntryState, OfficerState
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import QueueEntryRow
from speech.audio import read_wav
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import prepare_database, serve_officers, start_hotline
from tests.e2e.pcap_audio import write_rtp_pcap
from tests.officers.phones import officer_phone
from tests.officers.test_bridge_e2e import dominant_hz, near

pytestmark = pytest.mark.e2e
PASSWORD = "b1m4t-1001"
OFFICER_HZ = 880.0
HANG_UP_MS = 12000  # after the key: ring, whisper, then about 6 s of conversation


def speaking_caller(path: Path, speech_dir: Path) -> tuple[Path, np.ndarray]:
    """A sipp caller that presses 0 after 2 s, then speaks (five different recordings one
    after the other, 17 s, as PCMA RTP 20 ms apart) until it hangs up; and what it says, as
    A-law carries it."""
    pcm = b"".join(read_wav(speech_dir / f"call8k_{n}.wav", rate=8000)[0] for n in range(1, 6))
    pcap = write_rtp_pcap(path.with_suffix(".pcap"), pcm, lead_silence_s=0, trail_silence_s=0)
    scenario = dtmf_scenario(path, [(2000, "0")], hangup_after_ms=HANG_UP_MS)
    text = scenario.read_text(encoding="iso-8859-1")
    pause = f'<pause milliseconds="{HANG_UP_MS}"/>'
    speak = f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>'
    scenario.write_text(text.replace(pause, speak + "\n  " + pause), encoding="iso-8859-1")
    said = np.frombuffer(g711.alaw_decode(g711.alaw_encode(pcm)), dtype="<i2")
    return scenario, said.astype(np.float64)


def best_match(chunk: np.ndarray, source: np.ndarray) -> tuple[int, float]:
    """Where in `source` `chunk` is (sample offset) and how alike they are there (normalised
    cross-correlation, 1.0 for the same samples)."""
    n = len(source) + len(chunk)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(source, size) * np.conj(np.fft.rfft(chunk, size)), size)
    corr = corr[: len(source) - len(chunk) + 1]
    energy = np.convolve(source**2, np.ones(len(chunk)), "valid")
    score = corr / np.sqrt(np.maximum(energy, 1e-9) * np.sum(chunk**2))
    at = int(np.argmax(score))
    return at, float(score[at])


async def test_press_zero_rings_the_registered_officer(tmp_path: Path, speech_dir: Path) -> None:
    url = prepare_database(tmp_path / "hotline.db")
    engine = create_engine_from_url(url)
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        save_officer(
            session, department_id="tong-dai", name="Nguyễn Văn An", extension="1001",
            realm="tongdai", sip_password=PASSWORD,
        )  # fmt: skip
    recordings = tmp_path / "call-recordings"
    running = await start_hotline(url, tmp_path / "prompts", call_recordings_dir=recordings)
    hotline = running.hotline
    assert hotline.registrar is not None and hotline.bridge is not None
    assert hotline.bridge.recorder is not None  # recorded by default: the greeting says so
    serve_officers(running)
    try:
        async with officer_phone(
            running.port, "1001", PASSWORD, answer="auto", tone_hz=OFFICER_HZ
        ) as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await DbQueueStore(factory).set_state(
                "1001", "tong-dai", OfficerState.AVAILABLE, now=time.time()
            )
            scenario, said = speaking_caller(tmp_path / "zero.xml", speech_dir)
            result = await run_sipp(scenario, running.port, timeout_s=40)
            assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
            await officer.wait_event("CALL_CLOSED", 5)  # the caller's BYE ended the officer's leg
            invites = [m for m in officer.sip_messages() if m.first_line.startswith("INVITE")]
            assert len(invites) == 1
            for _ in range(50):  # written in a thread once the bridge ended
                if running.sink.of(BridgeRecorded):
                    break
                await asyncio.sleep(0.1)
    finally:
        await running.stop()
    with factory() as session:
        entry = session.scalars(select(QueueEntryRow)).one()
        stored = session.scalars(
            select(CallEventRow).where(CallEventRow.kind == "bridge-recorded")
        ).all()
    engine.dispose()
    check_recording(running.sink.of(BridgeRecorded), stored, entry, recordings, said)
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
    serve_officers(running)
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


def check_recording(
    events: list[object],
    stored: list[CallEventRow],
    entry: QueueEntryRow,
    directory: Path,
    said: np.ndarray,
) -> None:
    """The bridge's recording: one, in the call log, owner-only, as long as the bridge, caller
    left (what sipp said, where it said it), officer right (its tone)."""
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, BridgeRecorded)
    assert (event.officer, event.department, event.call_id) == ("1001", "tong-dai", entry.call_id)
    assert [(row.call_id, row.payload["recording"]) for row in stored] == [
        (entry.call_id, event.recording)
    ]
    path = directory / f"{event.recording}.wav"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in directory.iterdir()] == [path.name]  # the tapes are gone
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    seconds = len(frames) / 8000
    assert abs(seconds - event.duration_s) < 0.001
    # the bridge ran from the answer (after the whisper) to the caller's hang-up
    assert entry.connected_at is not None and entry.ended_at is not None
    assert abs(seconds - (entry.ended_at - entry.connected_at)) < 0.5, seconds
    assert 3.0 < seconds < HANG_UP_MS / 1000, seconds
    left, right = frames[:, 0].astype(np.float64), frames[:, 1].astype(np.float64)
    # officer right: its tone in every quarter second but the first and last
    quarters = [right[i : i + 2000] for i in range(2000, len(right) - 4000, 2000)]
    assert quarters and all(near(dominant_hz(q), OFFICER_HZ) for q in quarters)
    # caller left: every spoken half second found in what sipp said, all at one lag (the
    # packets where they belong on the bridge's timeline), and no officer tone in it
    lags, scores = [], []
    for start in range(0, len(left) - 4000, 4000):
        chunk = left[start : start + 4000]
        if np.sqrt(np.mean(chunk**2)) < 300:
            continue  # a pause in the speech
        at, score = best_match(chunk, said)
        lags.append(at - start)
        scores.append(score)
        assert not near(dominant_hz(chunk), OFFICER_HZ)
    print(f"recording {seconds:.2f} s; {len(scores)} spoken half seconds found, similarity "
          f">= {min(scores):.4f}, lags within {max(lags) - min(lags)} samples")  # fmt: skip
    assert len(scores) >= 4, scores
    assert min(scores) > 0.99, scores
    assert max(lags) - min(lags) <= 16, lags  # 2 ms: the packets' own spacing
