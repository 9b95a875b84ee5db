"""The message node on the fake channel, through the default tree outside working hours: a
caller's recorded Vietnamese speech is stored as a 0600 WAV named from its queue entry and a
waiting MESSAGE entry that never stands in the call line; ``#``, a pause after speech and a
hang-up each end it; a store that fails is apologised for; a silent caller is asked again."""

from __future__ import annotations

import dataclasses
import stat
import wave
from pathlib import Path

import numpy as np
import pytest

from integrations.base import OpenState
from ivr.channel import WEB_CODEC, CallInfo
from ivr.events import CallError, MemorySink, VoiceMessageLeft
from ivr.queue.distribution import line
from ivr.queue.messages import VoiceMessageBox, message_path
from ivr.queue.model import EntryKind, EntryState, QueueEntry
from ivr.queue.store import MemoryQueueStore
from ivr.runtime.deps import CallContext, PinnedTree
from ivr.runtime.interpreter import run_call
from ivr.runtime.voice_message import MESSAGE_SAVED, NOT_SAVED, NOTHING_HEARD, PHONE_ONLY
from speech.audio import read_wav
from tests.e2e.harness import snr_db
from tests.runtime.fake_channel import (
    FakeChannel,
    HangUp,
    Press,
    Say,
    Silence,
    Step,
    run_virtual,
)
from tests.runtime.fakes import Backends, MemoryDirectory, call, hotline_tree, opening

TONE = "<audio 0.40s>"  # how the fake channel names the beep (audio with no prompt text)
ASK = "để lại lời nhắn sau tiếng bíp"


def _backends(directory: Path) -> tuple[Backends, MemoryQueueStore]:
    store = MemoryQueueStore()
    box = VoiceMessageBox(store, directory, clock=lambda: 1_750_000_000.0)
    return Backends(officers=MemoryDirectory(OpenState.CLOSED), messages=box), store


def _samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def _check_stored(directory: Path, store: MemoryQueueStore, source: Path) -> QueueEntry:
    [entry] = store.entries.values()
    assert (entry.kind, entry.state, entry.department_id) == (
        EntryKind.MESSAGE,
        EntryState.WAITING,
        "tong-dai",
    )
    assert entry.caller == "0912345678"
    assert line(list(store.entries.values())) == []  # a message never waits in the call line
    path = message_path(directory, entry.id)
    assert path.name == f"message-{entry.id}.wav"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept, rate = _samples(path)
    assert rate == 8000
    sent = np.frombuffer(read_wav(source, 8000)[0], dtype="<i2")
    middle = sent[len(sent) // 4 : len(sent) // 4 + 8000]
    assert snr_db(middle, kept) > 20  # the caller's own speech, sample for sample
    # the speech, with its quiet start and end trimmed to a fifth of a second
    assert len(sent) / 8000 - 1.0 <= len(kept) / 8000 <= len(sent) / 8000 + 0.5
    return entry


def test_a_message_ended_by_silence_is_stored_and_the_caller_thanked(
    tmp_path: Path, speech_dir: Path
) -> None:
    source = speech_dir / "call8k_2.wav"
    backends, store = _backends(tmp_path / "messages")
    r = call(
        [Press("0"), Press("4"), Say.wav(source, hear=TONE, after_s=0.6), Silence()],
        backends=backends,
    )
    assert r.channel.heard(opening("out_of_hours")) and r.channel.heard(ASK)
    entry = _check_stored(tmp_path / "messages", store, source)
    [event] = [e for e in r.of(VoiceMessageLeft) if isinstance(e, VoiceMessageLeft)]
    assert (event.department, event.entry_id) == ("tong-dai", entry.id)
    assert abs(event.duration_s - len(read_wav(source, 8000)[0]) / 16000) < 0.5
    assert MESSAGE_SAVED in r.texts
    assert r.context.path[-3:] == ["out_of_hours", "voice_message", "goodbye"]


def _times(script: list[Step], tmp_path: Path) -> tuple[float, float]:
    """When the tone and the thanks start in a call of `script` (the clock is virtual: a
    second call of the same script hears them at the same moments)."""
    backends, _ = _backends(tmp_path / "first")
    timeline = call(script, backends=backends).channel.played
    tone_at = next(p.at_s for p in timeline if p.text == TONE)
    return tone_at, next(p.at_s for p in timeline if p.text == MESSAGE_SAVED)


def test_hash_ends_the_message_at_once(tmp_path: Path, speech_dir: Path) -> None:
    source = speech_dir / "call8k_1.wav"
    speech_s = len(read_wav(source, 8000)[0]) / 16000
    script = [Press("0"), Press("4"), Say.wav(source, hear=TONE, after_s=0.6), Silence()]
    tone_at, saved_at = _times(script, tmp_path)
    backends, store = _backends(tmp_path / "messages")
    hash_at = tone_at + 0.6 + speech_s + 0.3
    r = call([*script[:3], Press("#", at_s=hash_at)], backends=backends)
    _check_stored(tmp_path / "messages", store, source)
    saved = next(p.at_s for p in r.channel.played if p.text == MESSAGE_SAVED)
    # thanked right after the key, not after the pause that ends a message without it
    assert saved - hash_at < 1.0 < 3.0 < saved_at - hash_at


def test_a_caller_who_hangs_up_after_speaking_still_leaves_the_message(
    tmp_path: Path, speech_dir: Path
) -> None:
    source = speech_dir / "call8k_3.wav"
    speech_s = len(read_wav(source, 8000)[0]) / 16000
    script = [Press("0"), Press("4"), Say.wav(source, hear=TONE, after_s=0.6), Silence()]
    tone_at, _ = _times(script, tmp_path)
    backends, store = _backends(tmp_path / "messages")
    hang_up_at = tone_at + 0.6 + speech_s + 0.5
    r = call([*script[:3], HangUp(at_s=hang_up_at)], backends=backends)
    assert r.channel.ended_by == "caller"
    _check_stored(tmp_path / "messages", store, source)
    assert r.of(VoiceMessageLeft)
    assert r.context.outcome == "caller-hung-up"


def test_a_message_that_cannot_be_stored_is_apologised_for(
    tmp_path: Path, speech_dir: Path
) -> None:
    blocked = tmp_path / "messages"
    blocked.write_text("a file where the folder should be")
    backends, store = _backends(blocked)
    r = call(
        [
            Press("0"),
            Press("4"),
            Say.wav(speech_dir / "call8k_2.wav", hear=TONE, after_s=0.6),
            Silence(),
            Press("2"),
        ],
        backends=backends,
    )
    assert NOT_SAVED in r.texts and MESSAGE_SAVED not in r.texts
    after = r.texts[r.texts.index(NOT_SAVED) + 1]
    assert "gọi lại" in after  # the way on: a callback or the main menu, never silence
    assert not r.of(VoiceMessageLeft) and r.of(CallError)
    [entry] = store.entries.values()
    assert entry.state is EntryState.ABANDONED  # not left for an officer to open
    assert "main" in r.context.path[r.context.path.index("voice_message") :]


def test_a_silent_caller_is_asked_again_and_nothing_is_stored(tmp_path: Path) -> None:
    backends, store = _backends(tmp_path / "messages")
    r = call([Press("0"), Press("4")], backends=backends)
    assert r.texts.count(NOTHING_HEARD) == 2
    assert store.entries == {} and not (tmp_path / "messages").exists()
    assert r.context.path[-2:] == ["voice_message", "goodbye"]


@pytest.mark.parametrize("state", [OpenState.HOLIDAY])
def test_the_holiday_menu_offers_the_message_too(
    tmp_path: Path, speech_dir: Path, state: OpenState
) -> None:
    source = speech_dir / "call8k_4.wav"
    backends, store = _backends(tmp_path / "messages")
    backends.officers = MemoryDirectory(state)
    r = call(
        [Press("0"), Press("4"), Say.wav(source, hear=TONE, after_s=0.6), Silence()],
        backends=backends,
    )
    assert r.channel.heard(opening("holiday_closed"))
    _check_stored(tmp_path / "messages", store, source)


class _AssistantChannel(FakeChannel):
    """The fake channel as the virtual assistant's: typed text and keys, no voice."""

    @property
    def info(self) -> CallInfo:
        return dataclasses.replace(super().info, codec=WEB_CODEC)


def test_the_virtual_assistant_is_told_messages_are_for_phone_calls(tmp_path: Path) -> None:
    backends, store = _backends(tmp_path / "messages")
    channel = _AssistantChannel([Press("0"), Press("4")], prompts=backends.prompts)
    sink = MemorySink()

    async def main() -> CallContext:
        try:
            return await run_call(channel, PinnedTree.of(hotline_tree()), backends.deps(), sink)
        finally:
            await channel.close()

    context = run_virtual(main())
    assert PHONE_ONLY in channel.texts and ASK not in " ".join(channel.texts).lower()
    assert store.entries == {}
    assert context.path[-2:] == ["voice_message", "goodbye"]
