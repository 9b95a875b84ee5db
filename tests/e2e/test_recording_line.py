"""Acceptance (issue 12, recording by phone): sipp calls the recording number, sends the PIN and
the prompt number as RFC 4733 digits, plays a real Vietnamese recording as the new greeting over
RTP, presses # then 1. The draft then names the recording on that prompt; once the draft is
published, the next call to the hotline hears the recording (captured RTP aligned with it)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import numpy as np
import pytest
from pydantic import SecretStr

from db import create_engine_from_url, session_factory
from ivr.events import CallError, PromptPlayed
from ivr.recording_line_settings import RecordingLineSettings
from menus.followed_tree import CHECK_S as FOLLOW_CHECK_S
from menus.prompt_numbers import DraftRecordings, prompt_number
from menus.store import MenuStore, known_ids_from_tables, publish_default
from speech.audio import read_wav
from speech.recorded import RecordedPrompts
from tests.e2e.harness import Capture, dtmf_scenario, run_sipp, snr_db
from tests.e2e.hotline_fixture import prepare_database, start_hotline
from tests.e2e.pcap_audio import write_rtp_pcap
from tests.e2e.test_recorded_prompts import _sent_audio
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

PIN = "2468"
SIPP_PCAPS = Path("/usr/share/sip-tester")


def _key(key: str) -> str:
    name = {"#": "pound", "*": "star"}.get(key, key)
    pcap = SIPP_PCAPS / f"dtmf_2833_{name}.pcap"
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n' + (
        '  <pause milliseconds="400"/>'
    )


def _recording_caller(path: Path, number: int, voice_pcap: Path, voice_s: float) -> Path:
    """A sipp caller to ``record``: PIN, prompt ``number``, (after the prompt and the tone)
    the voice, #, then 1 once the take has been played back."""
    steps = [
        '  <pause milliseconds="1500"/>', *(_key(k) for k in f"{PIN}#"),
        '  <pause milliseconds="1500"/>', *(_key(k) for k in f"{number}#"),
        '  <pause milliseconds="16000"/>',  # "this prompt reads", its text, "after the tone"
        f'  <nop><action><exec play_pcap_audio="{voice_pcap}"/></action></nop>',
        f'  <pause milliseconds="{int(voice_s * 1000) + 300}"/>', _key("#"),
        '  <pause milliseconds="12000"/>', _key("1"),  # after hearing the take back
        '  <pause milliseconds="8000"/>',  # "saved in the draft"
    ]  # fmt: skip
    dtmf_scenario(path, [], hangup_after_ms=0)
    text = path.read_text(encoding="iso-8859-1").replace("sip:hotline@", "sip:record@")
    marker = '  <pause milliseconds="0"/>'
    assert marker in text
    path.write_text(text.replace(marker, "\n".join(steps)), encoding="iso-8859-1")
    return path


async def test_prompt_recorded_by_phone_is_heard_after_publishing(
    speech_dir: Path, tmp_path: Path
) -> None:
    url = prepare_database(tmp_path / "line.db")
    sessions = session_factory(create_engine_from_url(url))
    store = MenuStore(sessions)
    publish_default(
        store, ROOT / "config" / "menus" / "hotline.yaml", known=known_ids_from_tables(sessions)
    )
    greeting = store.active()[1].nodes["greeting"].prompt
    assert greeting is not None and greeting.recording is None
    number = prompt_number(store.active()[1], greeting.text)
    assert number is not None
    recordings = tmp_path / "recordings"
    source_pcm, _ = read_wav(speech_dir / "radio8k_1.wav", 8000)
    voice = write_rtp_pcap(
        tmp_path / "voice.pcap", source_pcm, lead_silence_s=0.2, trail_silence_s=0.2
    )
    line = RecordingLineSettings(pin=SecretStr(PIN), no_speech_s=20.0)
    running = await start_hotline(
        url, tmp_path / "prompts", recordings_dir=recordings, recording_line=line
    )
    lo, hi = running.settings.media.rtp_port_min, running.settings.media.rtp_port_max
    try:
        caller = _recording_caller(tmp_path / "record.xml", number, voice, len(source_pcm) / 16000)
        result = await run_sipp(caller, running.port, timeout_s=80)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        assert not running.sink.of(PromptPlayed)  # not the tree

        # the take is a 0600 WAV at the line rate, named on the greeting in a draft
        numbered = {p.number: p.recording for p in DraftRecordings(store).prompts()}
        recording = numbered.pop(number)
        assert recording is not None and recording.startswith("phone-"), recording
        assert set(numbered.values()) == {None}, numbered
        path = recordings / f"{recording}.wav"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kept_pcm, rate = read_wav(path, 8000)
        assert rate == 8000
        kept = np.frombuffer(kept_pcm, dtype="<i2")
        source = np.frombuffer(source_pcm, dtype="<i2")
        assert abs(len(kept) - len(source)) < 8000, (len(kept), len(source))
        # A-law over RTP, written as received (the quiet start and end are trimmed)
        snr = snr_db(source[8000:24000], kept)
        assert snr > 25, f"the take does not match what sipp played (SNR {snr:.1f} dB)"
        assert store.active()[1].nodes["greeting"].prompt.recording is None  # type: ignore[union-attr]

        drafts = store.drafts()
        store.publish_draft(
            drafts[0].id, author="e2e", note="greeting recorded by phone",
            known=known_ids_from_tables(sessions),
        )  # fmt: skip
        await asyncio.sleep(2 * FOLLOW_CHECK_S)  # a publish reaches new calls within the check
        listen = dtmf_scenario(tmp_path / "listen.xml", [], hangup_after_ms=8000)
        async with Capture(f"udp and src portrange {lo}-{hi}") as cap:
            result = await run_sipp(listen, running.port, timeout_s=40)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        played = [(e.node_id, e.text) for e in running.sink.of(PromptPlayed)]  # type: ignore[attr-defined]
        assert played[0][0] == "greeting", played
        assert not running.sink.of(CallError), running.sink.of(CallError)
        received = _sent_audio(cap, lo, hi)
    finally:
        await running.stop()

    heard = await RecordedPrompts(recordings).load(recording)
    snr = snr_db(np.frombuffer(heard.pcm, dtype="<i2"), received[: len(heard.pcm)])
    assert snr > 25, f"the next call did not hear the recorded greeting (SNR {snr:.1f} dB)"
