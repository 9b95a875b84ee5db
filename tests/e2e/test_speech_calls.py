"""Acceptance (issue 4): real Vietnamese recordings sent as G.711 RTP through a real call.

A sipp caller plays a call-centre recording as PCMA RTP into a running IVR worker whose calls
run the dialog runtime on ``speech_tree.yaml`` with the real viet-asr recogniser and the real
voice detector: the digit clip (call8k_1) read at a spoken-number input yields its digits, and
a clip that says "hóa đơn" (call8k_5) or "doanh nghiệp" (call8k_4) selects that menu choice,
interrupting the menu prompt as it speaks."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from core.g711 import alaw_decode
from db import create_engine_from_url, session_factory
from integrations.calendar_vn import HolidayCalendar
from integrations.dossiers_db import DatabaseDossierSource
from integrations.officers import DbOfficerDirectory
from integrations.procedures import DbProcedureCatalogue
from ivr.call import Call
from ivr.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    InputReceived,
    MemorySink,
    NodeEntered,
    PromptPlayed,
    SpeechRecognized,
)
from ivr.hotline import static_prompt_texts
from ivr.media.rtp import RtpPacket
from ivr.runtime.deps import PinnedTree, RuntimeDeps
from ivr.runtime.interpreter import run_call
from menus.model import MenuTree
from menus.schema import read_tree
from menus.validate import validate
from speech.asr import Recognizer, create_recognizer
from speech.audio import read_wav
from speech.prompt_cache import build_prompt_cache
from speech.settings import SpeechSettings
from speech.tts import build_synthesizer
from speech.vad import SpeechDetector
from tests.e2e.harness import Capture, run_sipp, start_ivr
from tests.e2e.hotline_fixture import prepare_database
from tests.e2e.pcap_audio import (
    FRAME_SAMPLES,
    PCMA,
    PCMU,
    PcapAudioError,
    rtp_frames,
    write_rtp_pcap,
)
from tests.support import need

HERE = Path(__file__).parent
TREE_FILE = HERE / "speech_tree.yaml"
TEMPLATE = HERE / "scenarios" / "speech_caller.xml.in"
SIPP_PCAPS = Path("/usr/share/sip-tester")
TIMEZONE = "Asia/Ho_Chi_Minh"
CALL_TIMEOUT_S = 60.0  # the whole sipp run; a call here lasts about 10 s
CODEC_NAMES = {PCMA: "PCMA", PCMU: "PCMU"}
BYE_WAIT_MS = 40_000  # how long the caller waits, after its audio, for the IVR to hang up


# --------------------------------------------------------------------------- the pcap writer


def _read_back(path: Path) -> list[tuple[float, RtpPacket]]:
    reader = Capture("udp")  # only its pcap reader is used here
    reader.path = path
    return [(when, RtpPacket.parse(payload)) for when, _, _, payload in reader.udp_packets()]


def test_pcap_holds_paced_pcma_rtp(tmp_path: Path) -> None:
    ramp = b"".join(int(v).to_bytes(2, "little", signed=True) for v in range(-8000, 8000, 40))
    path = write_rtp_pcap(tmp_path / "ramp.pcap", ramp, lead_silence_s=0.1, trail_silence_s=0.2)
    packets = _read_back(path)
    samples = 800 + len(ramp) // 2 + 1600  # lead + voice + trail, rounded up to whole frames
    assert len(packets) == -(-samples // FRAME_SAMPLES)
    times = [when for when, _ in packets]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times)}
    assert gaps == {0.02}
    rtp = [p for _, p in packets]
    assert [p.marker for p in rtp] == [True] + [False] * (len(rtp) - 1)
    assert {p.payload_type for p in rtp} == {PCMA}
    assert [p.sequence for p in rtp] == list(range(len(rtp)))
    assert [p.timestamp for p in rtp] == [i * FRAME_SAMPLES for i in range(len(rtp))]
    assert all(len(p.payload) == FRAME_SAMPLES for p in rtp)
    # silence is A-law 0xd5; the ramp starts right after five silent frames and decodes back
    # within G.711's quantisation step
    assert set(rtp[0].payload) == {0xD5}
    decoded = np.frombuffer(alaw_decode(b"".join(p.payload for p in rtp[5:])), "<i2")
    sent = np.frombuffer(ramp, "<i2")
    error = np.abs(decoded[: len(sent)].astype(np.int32) - sent)
    assert error.max() <= 256 and np.all(decoded[len(sent) :] == 8)


def test_pcmu_frames_carry_mu_law() -> None:
    [packet] = [RtpPacket.parse(d) for d in rtp_frames(bytes(200), payload_type=PCMU)]
    assert packet.payload_type == PCMU and packet.marker
    assert packet.payload == b"\xff" * FRAME_SAMPLES  # mu-law silence, padded to a whole frame


def test_pcap_writer_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(PcapAudioError, match="even number"):
        write_rtp_pcap(tmp_path / "odd.pcap", b"\x00\x01\x02")
    with pytest.raises(PcapAudioError, match=r"not G\.711"):
        rtp_frames(bytes(320), payload_type=18)
    with pytest.raises(PcapAudioError, match="negative"):
        write_rtp_pcap(tmp_path / "neg.pcap", bytes(320), lead_silence_s=-1)


# --------------------------------------------------------------------------- the calls


@dataclass
class SpeechBackends:
    """What every call of this module shares: the tree, the loaded recogniser, the sample
    database and the prompt directory."""

    tree: MenuTree
    recognizer: Recognizer
    database_url: str
    prompt_dir: Path


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeechBackends]:
    tree = read_tree(TREE_FILE)
    problems = validate(tree, departments={"tong-dai"}, procedures=set())
    assert problems == [], [str(p) for p in problems]
    root = tmp_path_factory.mktemp("speech-calls")
    url = prepare_database(root / "hotline.db")
    recognizer = create_recognizer(SpeechSettings(recognizer="viet-asr", asr_workers=1))
    try:
        asyncio.run(recognizer.load())  # once for the module, not inside a call
    except Exception as exc:
        recognizer.close()
        need(False, f"viet-asr recogniser unavailable: {exc}")
    yield SpeechBackends(tree, recognizer, url, root / "prompts")
    recognizer.close()


@dataclass
class CallRecord:
    """The events of one finished call."""

    events: MemorySink  # what the dialog runtime reported
    calls: MemorySink  # what the worker reported (start, end)

    def story(self) -> str:
        both = [*self.calls.events, *self.events.events]
        return "\n".join(f"{e.kind} {e.payload()}" for e in both)

    def of(self, kind: type[CallEvent]) -> list[CallEvent]:
        return self.events.of(kind)


async def _call_with_audio(
    backends: SpeechBackends,
    tmp_path: Path,
    steps: list[tuple[int, Path]],
    *,
    payload_type: int = PCMA,
) -> CallRecord:
    """One sipp call to a worker running the speech tree, offering only the G.711 codec
    ``payload_type``: after each pause (ms) the caller plays a pcap (its voice, or a key as
    RFC 4733 events), then waits for the IVR's BYE."""
    speech = SpeechSettings(
        synthesizer="espeak-ng",
        rate_wpm=320,  # quick prompts: prompts are not under test
        prompt_cache_dir=backends.prompt_dir,
        recognizer="viet-asr",
    )
    cache = build_prompt_cache(speech, build_synthesizer(speech))
    await cache.prerender(static_prompt_texts(backends.tree))
    engine = create_engine_from_url(backends.database_url)
    sessions = session_factory(engine)
    zone = ZoneInfo(TIMEZONE)
    deps = RuntimeDeps(
        prompts=cache.get,
        dossiers=DatabaseDossierSource(sessions),
        catalogue=DbProcedureCatalogue(sessions),
        officers=DbOfficerDirectory(sessions, timezone=TIMEZONE),
        calendar=HolidayCalendar(),
        now=lambda: datetime.now(zone),
        recognizer=backends.recognizer,
        voice_detector=SpeechDetector,
    )
    events = MemorySink()

    async def on_call(call: Call) -> None:
        await run_call(call, PinnedTree.of(backends.tree), deps, events)

    running = await start_ivr(on_call)
    try:
        actions = []
        for pause_ms, pcap in steps:
            actions.append(f'  <pause milliseconds="{pause_ms}"/>')
            actions.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
        scenario = tmp_path / "speech_caller.xml"
        text = TEMPLATE.read_text(encoding="iso-8859-1")
        text = text.replace("<!-- STEPS -->", "\n".join(actions))
        for token, value in (
            ("CODEC_PT", str(payload_type)),
            ("CODEC_NAME", CODEC_NAMES[payload_type]),
            ("BYE_TIMEOUT_MS", str(BYE_WAIT_MS)),
        ):
            text = text.replace(token, value)
        scenario.write_text(text, "iso-8859-1")
        result = await run_sipp(scenario, running.port, timeout_s=CALL_TIMEOUT_S)
        record = CallRecord(events, running.sink)
        assert result.returncode == 0, result.errors[-1500:] + "\n" + record.story()
        return record
    finally:
        await running.worker.stop()
        engine.dispose()


def _clip_pcap(speech_dir: Path, name: str, tmp_path: Path, payload_type: int = PCMA) -> Path:
    clip = speech_dir / f"{name}.wav"
    need(clip.is_file(), f"caller recording {clip} missing")
    pcm, _ = read_wav(clip, rate=8000)
    return write_rtp_pcap(tmp_path / f"{name}.pcap", pcm, payload_type=payload_type)


def _nodes(record: CallRecord) -> list[str]:
    return [e.node_id for e in record.of(NodeEntered)]  # type: ignore[attr-defined]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("payload_type", [PCMA, PCMU], ids=["pcma", "pcmu"])
async def test_spoken_number_over_rtp_is_read_back(
    backends: SpeechBackends, speech_dir: Path, tmp_path: Path, payload_type: int
) -> None:
    key = SIPP_PCAPS / "dtmf_2833_3.pcap"
    need(key.is_file(), f"sipp's RFC 2833 key recording {key} missing (package sip-tester)")
    # "tám bảy lăm ba là năm sáu bốn bảy"
    voice = _clip_pcap(speech_dir, "call8k_1", tmp_path, payload_type)
    # key 3 at the menu leads to the spoken-number input; the number is read a moment later
    record = await _call_with_audio(
        backends, tmp_path, [(500, key), (1200, voice)], payload_type=payload_type
    )
    story = record.story()
    codecs = [e.codec for e in record.calls.of(CallStarted)]  # type: ignore[attr-defined]
    assert codecs == [CODEC_NAMES[payload_type]], story
    assert _nodes(record)[:2] == ["main", "number"], story
    spoken = [
        e
        for e in record.of(InputReceived)
        if isinstance(e, InputReceived) and e.node_id == "number"
    ]
    assert [(e.mode, e.valid) for e in spoken] == [("speech", True)], story
    value = spoken[0].value
    assert value.isdigit() and "8753" in value and len(value) >= 7, story
    heard = [e for e in record.of(SpeechRecognized) if isinstance(e, SpeechRecognized)]
    assert [e.matched for e in heard] == [value], story
    # the say node reads the stored value back, and the IVR ends the call
    read_back = [
        e.text
        for e in record.of(PromptPlayed)
        if isinstance(e, PromptPlayed) and e.node_id == "number_said"
    ]
    # digit by digit, as an identifier is read, not as an amount
    assert read_back == [f"Số quý vị vừa đọc là {' '.join(value)}."], story
    ended = [e.reason for e in record.calls.of(CallEnded)]  # type: ignore[attr-defined]
    assert ended == ["ivr-bye"], story


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("clip", "choice", "said"),
    [
        ("call8k_5", "invoice", r"h[oó]a đ[oơ]n"),  # "nên chị là hóa đơn ra chị gia tăng ..."
        ("call8k_4", "business", r"doanh nghi[eệ]p"),  # "... loại hình doanh nghiệp dưới ..."
    ],
)
async def test_spoken_keyword_over_rtp_selects_its_choice(
    backends: SpeechBackends, speech_dir: Path, tmp_path: Path, clip: str, choice: str, said: str
) -> None:
    voice = _clip_pcap(speech_dir, clip, tmp_path)
    # the caller speaks as soon as the call is answered, over the menu prompt
    record = await _call_with_audio(backends, tmp_path, [(0, voice)])
    story = record.story()
    heard = [e for e in record.of(SpeechRecognized) if isinstance(e, SpeechRecognized)]
    assert [(e.node_id, e.matched) for e in heard] == [("main", choice)], story
    assert re.search(said, heard[0].text), story
    assert _nodes(record) == ["main", choice, "bye"], story
    menu_prompt = [
        e for e in record.of(PromptPlayed) if isinstance(e, PromptPlayed) and e.node_id == "main"
    ]
    assert [e.interrupted for e in menu_prompt] == [True], story  # barge-in by voice
    ended = [e.reason for e in record.calls.of(CallEnded)]  # type: ignore[attr-defined]
    assert ended == ["ivr-bye"], story
