"""Acceptance (issue 12): a sipp call to a tree whose greeting has a recording hears that
recording over real RTP, and the next prompt, which has none, is synthesised.

The greeting's recording is a real Vietnamese recording; tcpdump captures what the hotline sends
and the decoded audio is aligned (cross-correlation) with the recording as the hotline converts
it and with the synthesised menu prompt from the prompt cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core import g711
from db import create_engine_from_url, session_factory
from ivr.events import CallError, PromptPlayed
from ivr.media.rtp import RtpPacket
from menus.store import MenuStore, known_ids_from_tables
from speech.prompt_cache import PromptCache
from speech.recorded import RecordedPrompts
from speech.tts import build_synthesizer
from tests.e2e.harness import Capture, dtmf_scenario, run_sipp, snr_db
from tests.e2e.hotline_fixture import prepare_database, start_hotline
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

GREETING_TEXT = "Tổng đài dịch vụ công xin kính chào quý vị."


def _publish_with_recorded_greeting(url: str) -> str:
    """Publish the default tree with a greeting that names the recording ``greeting``; the
    main menu's prompt text (spoken by synthesis) is returned."""
    source = (ROOT / "config" / "menus" / "hotline.yaml").read_text(encoding="utf-8")
    old = source[source.index("  greeting:") : source.index("  main:")]
    new = (
        "  greeting:\n    kind: say\n"
        f"    prompt: {{text: {GREETING_TEXT}, recording: greeting}}\n    next: main\n\n"
    )
    engine = create_engine_from_url(url)
    sessions = session_factory(engine)
    store = MenuStore(sessions)
    draft = store.create_draft(source.replace(old, new), fmt="yaml", author="e2e")
    store.publish_draft(draft.id, author="e2e", note="recorded greeting",
                        known=known_ids_from_tables(sessions))  # fmt: skip
    _, tree = store.active()
    engine.dispose()
    main = tree.nodes["main"].prompt
    assert main is not None and main.recording is None
    return main.text


def _sent_audio(cap: Capture, lo: int, hi: int) -> np.ndarray:
    """The PCMA audio of the one RTP stream the hotline sent from its media ports."""
    streams: dict[int, list[RtpPacket]] = {}
    for sport, _, payload in cap.udp_payloads():
        if lo <= sport <= hi:
            try:
                packet = RtpPacket.parse(payload)
            except ValueError:
                continue
            if packet.payload_type == 8:
                streams.setdefault(packet.ssrc, []).append(packet)
    assert streams, "no PCMA RTP captured from the hotline"
    packets = max(streams.values(), key=len)
    return np.frombuffer(b"".join(g711.alaw_decode(p.payload) for p in packets), dtype="<i2")


async def test_recorded_greeting_is_heard_then_menu_is_synthesised(
    speech_dir: Path, tmp_path: Path
) -> None:
    url = prepare_database(tmp_path / "recorded.db")
    main_text = _publish_with_recorded_greeting(url)
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copy(speech_dir / "radio8k_1.wav", recordings / "greeting.wav")
    prompts_dir = tmp_path / "prompts"

    running = await start_hotline(url, prompts_dir, recordings_dir=recordings)
    lo, hi = running.settings.media.rtp_port_min, running.settings.media.rtp_port_max
    try:
        scenario = dtmf_scenario(tmp_path / "listen.xml", [], hangup_after_ms=9000)
        async with Capture(f"udp and src portrange {lo}-{hi}") as cap:
            result = await run_sipp(scenario, running.port, timeout_s=40)
        assert result.returncode == 0, result.stdout[-1500:] + result.errors[-1500:]
        played = [(e.node_id, e.text) for e in running.sink.of(PromptPlayed)]  # type: ignore[attr-defined]
        assert played[0] == ("greeting", GREETING_TEXT), played
        assert not running.sink.of(CallError), running.sink.of(CallError)
        received = _sent_audio(cap, lo, hi)
    finally:
        await running.stop()

    # the greeting is the recording (as the hotline converts it), not a synthesis of its text
    greeting = await RecordedPrompts(recordings).load("greeting")
    reference = np.frombuffer(greeting.pcm, dtype="<i2")
    snr = snr_db(reference, received)
    assert snr > 25, f"the captured greeting does not match the recording (SNR {snr:.1f} dB)"
    # the main menu has no recording: the synthesised prompt from the prompt cache follows
    cache = PromptCache(build_synthesizer(running.settings.speech), prompts_dir)
    assert cache.cached_voice(main_text) is not None, "the menu prompt was not synthesised"
    menu = np.frombuffer((await cache.get(main_text)).pcm, dtype="<i2")[: 8000 * 2]
    tail = received[len(reference) :]
    snr = snr_db(menu, tail)
    assert snr > 25, f"the captured menu prompt does not match its synthesis (SNR {snr:.1f} dB)"
    # and a synthesis of the greeting's text is nowhere in what was sent
    spoken = np.frombuffer((await cache.get(GREETING_TEXT)).pcm, dtype="<i2")[: 8000 * 2]
    assert snr_db(spoken, received) < 10
