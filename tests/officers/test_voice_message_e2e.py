"""A voice message left outside working hours, end to end: sipp calls the shipped hotline at
eight in the evening of a working day (the hotline's clock injected, the department's hours from
the sample directory), presses 0 (the officer: closed, so the out-of-hours menu) and 4 (a voice
message), plays a real Vietnamese recording over RTP after the tone and presses #. The message
is then a waiting MESSAGE entry of ``tong-dai`` in the database, outside the call line, and its
audio a 0600 WAV at the line rate whose samples are what sipp sent."""

from __future__ import annotations

import stat
from datetime import datetime, time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from db import create_engine_from_url, session_factory
from ivr.events import CallError, DigitReceived, NodeEntered, VoiceMessageLeft
from ivr.queue.messages import message_path
from ivr.queue.model import EntryKind, EntryState
from ivr.queue.tables import QueueEntryRow
from speech.audio import read_wav
from tests.e2e.harness import dtmf_scenario, run_sipp, snr_db
from tests.e2e.hotline_fixture import next_working_morning, prepare_database, start_hotline
from tests.e2e.pcap_audio import write_rtp_pcap

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]
SIPP_PCAPS = Path("/usr/share/sip-tester")


def _evening() -> datetime:
    """20:00 in Vietnam on the next working day: after the hotline's 7:30–17:00."""
    return datetime.combine(
        next_working_morning().date(), time(20, 0), next_working_morning().tzinfo
    )


def _caller(path: Path, voice_pcap: Path, voice_s: float) -> Path:
    """0 in the greeting, 4 in the out-of-hours menu, the voice after the prompt and the tone,
    # when it ends, and a hang-up while the thanks play."""
    pound = SIPP_PCAPS / "dtmf_2833_pound.pcap"
    steps = [
        f'  <nop><action><exec play_pcap_audio="{voice_pcap}"/></action></nop>',
        f'  <pause milliseconds="{int(voice_s * 1000) + 300}"/>',
        f'  <nop><action><exec play_pcap_audio="{pound}"/></action></nop>',
        '  <pause milliseconds="2500"/>',
    ]
    dtmf_scenario(path, [(1500, "0"), (3000, "4")], hangup_after_ms=0)
    text = path.read_text(encoding="iso-8859-1")
    marker = '  <pause milliseconds="0"/>'
    assert marker in text
    # the message prompt (no barge-in) and the tone come first
    wait = '  <pause milliseconds="7000"/>'
    path.write_text(text.replace(marker, "\n".join([wait, *steps])), encoding="iso-8859-1")
    return path


async def test_a_caller_leaves_a_voice_message_outside_working_hours(
    speech_dir: Path, tmp_path: Path
) -> None:
    url = prepare_database(tmp_path / "hotline.db")
    messages = tmp_path / "messages"
    source_pcm, _ = read_wav(speech_dir / "call8k_2.wav", 8000)
    voice_s = len(source_pcm) / 16000
    voice = write_rtp_pcap(
        tmp_path / "voice.pcap", source_pcm, lead_silence_s=0.2, trail_silence_s=0.2
    )
    running = await start_hotline(
        url, tmp_path / "prompts", messages_dir=messages, clock=_evening()
    )
    try:
        caller = _caller(tmp_path / "message.xml", voice, voice_s)
        result = await run_sipp(caller, running.port, timeout_s=60)
        sink = running.sink
        story = "\n".join(f"{e.kind} {e.payload()}" for e in sink.events)
        assert result.returncode == 0, result.errors[-1500:] + story[-3000:]
    finally:
        await running.stop()

    path_nodes = [e.node_id for e in sink.of(NodeEntered)]  # type: ignore[attr-defined]
    assert [n for n in path_nodes if n in ("officer", "out_of_hours", "voice_message")] == [
        "officer",
        "out_of_hours",
        "voice_message",
    ], path_nodes
    [left] = sink.of(VoiceMessageLeft)
    assert isinstance(left, VoiceMessageLeft) and left.department == "tong-dai"
    assert abs(left.duration_s - voice_s) < 1.0, (left.duration_s, voice_s)
    # "#" ended it: stored at once, not after the pause that ends a message without it
    [pound] = [e for e in sink.of(DigitReceived) if getattr(e, "digit", "") == "#"]
    assert (
        0 <= (left.at - pound.at).total_seconds() < 1.0
    )  # # ended it: thanked before sipp hung up
    assert not sink.of(CallError), sink.of(CallError)

    engine = create_engine_from_url(url)
    with session_factory(engine)() as session:
        row = session.scalars(select(QueueEntryRow).where(QueueEntryRow.id == left.entry_id)).one()
        assert (row.kind, row.state, row.department_id) == (
            EntryKind.MESSAGE.value,
            EntryState.WAITING.value,
            "tong-dai",
        )
        assert row.caller == "0912345678"
    engine.dispose()

    path = message_path(messages, left.entry_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept_pcm, rate = read_wav(path, 8000)
    assert rate == 8000
    kept = np.frombuffer(kept_pcm, dtype="<i2")
    source = np.frombuffer(source_pcm, dtype="<i2")
    assert abs(len(kept) - len(source)) < 8000, (len(kept), len(source))
    # A-law over RTP, written as received (the quiet start and end trimmed)
    middle = source[len(source) // 4 : len(source) // 4 + 16000]
    snr = snr_db(middle, kept)
    assert snr > 25, f"the message does not match what sipp played (SNR {snr:.1f} dB)"
