"""Which audio a prompt gets: its recording, the static prompt cache, or the private path; a
missing or unreadable recording is reported and the text synthesised, never silence."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from core.audio import Audio
from menus.model import Prompt
from speech.prompt_audio import PromptSource, PromptVoice, prompt_recordings, static_texts
from speech.recorded import RecordedPrompts
from tests.runtime.fakes import hotline_tree

GREETING = "Xin kính chào quý vị."


class Spy:
    """A prompt source that records the texts it is asked for."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.asked: list[str] = []

    async def __call__(self, text: str) -> Audio:
        self.asked.append(text)
        return Audio(self.tag * 80)


def _say(source: PromptSource, text: str) -> Audio:
    async def go() -> Audio:
        return await source(text)

    return asyncio.run(go())


def _tree(recording: str | None) -> object:
    from dataclasses import replace

    tree = hotline_tree()
    greeting = tree.nodes["greeting"]
    node = replace(greeting, prompt=Prompt(GREETING, recording))
    return replace(tree, nodes={**tree.nodes, "greeting": node})


def _voice(recordings: Path) -> tuple[PromptVoice, Spy, Spy]:
    static, private = Spy(b"S\x00"), Spy(b"P\x00")
    voice = PromptVoice(
        static=static,
        private=private,
        recordings=RecordedPrompts(recordings),
        fixed_texts=["Cảm ơn quý vị."],
    )
    return voice, static, private


def test_tree_recordings_and_static_texts() -> None:
    tree = _tree("greeting")
    assert prompt_recordings(tree) == {GREETING: "greeting"}
    texts = static_texts(tree)
    assert GREETING in texts
    assert not any("{" in t for t in texts)


def test_recording_is_played(speech_dir: Path, tmp_path: Path) -> None:
    shutil.copy(speech_dir / "call8k_3.wav", tmp_path / "greeting.wav")
    voice, static, private = _voice(tmp_path)
    problems: list[str] = []
    source = voice.for_tree(_tree("greeting"), report=problems.append)
    audio = _say(source, GREETING)
    expected = asyncio.run(RecordedPrompts(tmp_path).load("greeting"))
    assert audio.pcm == expected.pcm and len(audio.pcm) > 8000
    assert static.asked == [] and private.asked == [] and problems == []


@pytest.mark.parametrize("damage", ["missing", "unreadable", "empty"])
def test_bad_recording_is_reported_and_synthesised(tmp_path: Path, damage: str) -> None:
    if damage == "unreadable":
        (tmp_path / "greeting.wav").write_bytes(b"RIFF not really a wave file" * 10)
    elif damage == "empty":
        (tmp_path / "greeting.wav").write_bytes(b"")
    voice, static, _private = _voice(tmp_path)
    problems: list[str] = []
    source = voice.for_tree(_tree("greeting"), report=problems.append)
    audio = _say(source, GREETING)
    assert audio.pcm.startswith(b"S\x00")  # synthesised by the static path: not silence
    assert static.asked == [GREETING]
    assert len(problems) == 1 and "'greeting'" in problems[0]


def test_without_recordings_folder_the_text_is_synthesised_and_reported() -> None:
    static, private = Spy(b"S\x00"), Spy(b"P\x00")
    voice = PromptVoice(static=static, private=private)
    problems: list[str] = []
    audio = _say(voice.for_tree(_tree("greeting"), report=problems.append), GREETING)
    assert audio.pcm.startswith(b"S\x00") and len(problems) == 1


def test_dynamic_sentences_take_the_private_path(tmp_path: Path) -> None:
    voice, static, private = _voice(tmp_path)
    source = voice.for_tree(_tree(None))
    main = hotline_tree().nodes["main"].prompt
    assert main is not None
    _say(source, main.text)
    _say(source, "Cảm ơn  quý vị.")  # a fixed runtime sentence, spacing aside
    _say(source, "Người nộp hồ sơ: Nguyễn Văn An. Lệ phí 150.000 đồng.")
    assert static.asked == [main.text, "Cảm ơn  quý vị."]
    assert private.asked == ["Người nộp hồ sơ: Nguyễn Văn An. Lệ phí 150.000 đồng."]
