"""The recording line on the fake channel, over a real SQLite menu store and real recordings:
wrong PINs end the call and lock the line, a take can be recorded again, a take stops at the
maximum length, and a kept take lands in a draft as a 0600 WAV file."""

from __future__ import annotations

import stat
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from db import create_engine_from_url, session_factory
from ivr.channel import CallInfo
from ivr.recording_line import (
    ASK_NUMBER,
    KEEP_OR_AGAIN,
    NOT_SAVED,
    RECORD_AFTER_TONE,
    REFUSED,
    SAVED,
    WRONG_PIN,
    PinGuard,
    RecordingLine,
    routed,
)
from ivr.recording_line_settings import RecordingLineSettings
from menus.prompt_numbers import DraftChanged, DraftRecordings, numbered_prompts
from menus.store import MenuStore, known_ids_from_tables, publish_default
from speech.audio import read_wav
from tests.e2e.harness import snr_db
from tests.e2e.hotline_fixture import prepare_database
from tests.runtime.fake_channel import FakeChannel, FakePrompts, HangUp, Press, Say, run_virtual
from tests.support import ROOT

PIN = "2468"


@pytest.fixture
def store(tmp_path: Path) -> MenuStore:
    url = prepare_database(tmp_path / "menus.db")
    sessions = session_factory(create_engine_from_url(url))
    store = MenuStore(sessions)
    publish_default(
        store, ROOT / "config" / "menus" / "hotline.yaml", known=known_ids_from_tables(sessions)
    )
    return store


def _line(store: MenuStore, tmp_path: Path, prompts: FakePrompts, **limits: float) -> RecordingLine:
    settings = RecordingLineSettings(pin=SecretStr(PIN), **limits)  # type: ignore[arg-type]
    ids = iter(f"phone-test{i}" for i in range(10))
    return RecordingLine(
        settings=settings,
        prompts=prompts,
        drafts=DraftRecordings(store),
        recordings_dir=tmp_path / "recordings",
        guard=PinGuard(settings, clock=lambda: 0.0),
        new_id=lambda: next(ids),
    )


def _run(line: RecordingLine, channel: FakeChannel) -> None:
    async def call() -> None:
        await line(channel)
        await channel.close()

    run_virtual(call())


def _draft_recordings(store: MenuStore) -> dict[int, str | None]:
    drafts = store.drafts()
    if not drafts:
        return {}
    tree, _ = store.check_draft(drafts[0].id, known_ids_from_tables(store._sessions))
    assert tree is not None
    return {p.number: p.recording for p in numbered_prompts(tree)}


def test_wrong_pins_end_the_call_and_nothing_is_recorded(store: MenuStore, tmp_path: Path) -> None:
    prompts = FakePrompts()
    line = _line(store, tmp_path, prompts)
    channel = FakeChannel(
        [Press("1111#"), Press("2222#"), Press("3333#"), Press("1#")], prompts=prompts
    )
    _run(line, channel)
    assert channel.texts.count(WRONG_PIN) == 2
    assert channel.texts[-1] == REFUSED
    assert ASK_NUMBER not in channel.texts
    assert channel.ended_by == "ivr"
    assert not (tmp_path / "recordings").exists()
    assert store.drafts() == []


def test_wrong_pins_across_calls_lock_the_line(store: MenuStore, tmp_path: Path) -> None:
    prompts = FakePrompts()
    line = _line(store, tmp_path, prompts, failures_to_lock=4)
    first = FakeChannel([Press("1#"), Press("2#"), Press("3#")], prompts=prompts)
    _run(line, first)
    second = FakeChannel([Press("4#"), Press(f"{PIN}#")], call_id="c2", prompts=prompts)
    _run(line, second)
    # the fourth wrong PIN locked the line: the right one that follows is refused too
    assert line.guard.locked()
    assert ASK_NUMBER not in second.texts and second.texts[-1] == REFUSED
    third = FakeChannel([Press(f"{PIN}#")], call_id="c3", prompts=prompts)
    _run(line, third)
    assert third.texts == [REFUSED]


def test_record_again_then_keep_puts_the_second_take_in_a_draft(
    store: MenuStore, tmp_path: Path, speech_dir: Path
) -> None:
    prompts = FakePrompts()
    line = _line(store, tmp_path, prompts)
    first, second = speech_dir / "call8k_1.wav", speech_dir / "call8k_2.wav"
    channel = FakeChannel(
        [
            Press(f"{PIN}#"),
            Press("1#", hear=ASK_NUMBER),
            Say.wav(first, hear=RECORD_AFTER_TONE, after_s=6.0),
            Press("#"),
            Press("2", hear=KEEP_OR_AGAIN),
            Say.wav(second, hear=RECORD_AFTER_TONE, after_s=6.0),
            Press("#"),
            Press("1", hear=KEEP_OR_AGAIN),
            HangUp(hear=SAVED, after_s=3.0),
        ],
        prompts=prompts,
    )
    _run(line, channel)
    assert channel.texts.count(RECORD_AFTER_TONE) == 2
    assert line.saved == [(1, "phone-test0")]
    path = tmp_path / "recordings" / "phone-test0.wav"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        kept = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    # the kept take is the second recording, not the first
    for source, expected in ((second, True), (first, False)):
        pcm, _ = read_wav(source, 8000)
        snr = snr_db(np.frombuffer(pcm, dtype="<i2")[:8000], kept)
        assert (snr > 20) is expected, (source.name, snr)
    assert _draft_recordings(store)[1] == "phone-test0"
    # not heard by callers before the draft is published
    assert store.active()[1].nodes["greeting"].prompt.recording is None  # type: ignore[union-attr]


def test_a_take_stops_at_the_maximum_length(
    store: MenuStore, tmp_path: Path, speech_dir: Path
) -> None:
    prompts = FakePrompts()
    line = _line(store, tmp_path, prompts, max_record_s=5.0)
    long_speech = b"".join(
        read_wav(speech_dir / n, 8000)[0] for n in ("radio8k_1.wav", "call8k_1.wav")
    )
    said = Say(pcm=long_speech, hear=RECORD_AFTER_TONE, after_s=4.5)
    assert said.duration_s > 7.0
    channel = FakeChannel(
        [
            Press(f"{PIN}#"),
            Press("3#", hear=ASK_NUMBER),
            said,
            Press("1", hear=KEEP_OR_AGAIN),
            HangUp(hear=SAVED, after_s=3.0),
        ],
        prompts=prompts,
    )
    _run(line, channel)
    path = tmp_path / "recordings" / "phone-test0.wav"
    with wave.open(str(path)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    # no # and no pause: only the 5 s limit (from the tone, less the silence trimmed) ended it
    assert 4.0 <= seconds <= 5.0, seconds
    assert _draft_recordings(store)[3] == "phone-test0"


def test_calls_are_routed_by_the_callee_user_part() -> None:
    reached: list[str] = []

    def handler(name: str) -> Any:
        async def run(call: Any) -> None:
            reached.append(f"{name}:{call.info.callee}")

        return run

    on_call = routed("record", handler("line"), handler("hotline"))
    for callee in ("record", "hotline", "1022", "recorder"):
        info = CallInfo("c", "0912345678", "", callee, "PCMA")
        run_virtual(on_call(SimpleNamespace(info=info)))
    assert reached == ["line:record", "hotline:hotline", "hotline:1022", "hotline:recorder"]


def test_a_changed_draft_is_not_given_the_recording(store: MenuStore) -> None:
    drafts = DraftRecordings(store)
    first = drafts.prompts()[0]
    draft_id = drafts.attach(first.number, first.text, "phone-aaaaaaaaaaaa")
    before = store.draft(draft_id).source
    with pytest.raises(DraftChanged):
        drafts.attach(first.number, "Một lời nhắc khác.", "phone-bbbbbbbbbbbb")
    assert store.draft(draft_id).source == before
    assert len(store.drafts()) == 1  # the existing draft is reused, not a new one made
    assert drafts.prompts()[0].recording == "phone-aaaaaaaaaaaa"


class _DraftGone(DraftRecordings):
    """The real drafts, but the draft is deleted between choosing and keeping."""

    def attach(self, number: int, text: str, recording: str) -> int:
        raise DraftChanged("the draft was deleted meanwhile")


def test_a_take_that_cannot_be_attached_is_apologised_for(
    store: MenuStore, tmp_path: Path, speech_dir: Path
) -> None:
    prompts = FakePrompts()
    line = _line(store, tmp_path, prompts)
    line.drafts = _DraftGone(store)
    channel = FakeChannel(
        [
            Press(f"{PIN}#"),
            Press("2#", hear=ASK_NUMBER),
            Say.wav(speech_dir / "call8k_3.wav", hear=RECORD_AFTER_TONE, after_s=4.5),
            Press("1", hear=KEEP_OR_AGAIN),
            HangUp(hear=NOT_SAVED, after_s=1.0),
        ],
        prompts=prompts,
    )
    _run(line, channel)
    assert NOT_SAVED in channel.texts and SAVED not in channel.texts
    assert line.saved == [] and store.drafts() == []
