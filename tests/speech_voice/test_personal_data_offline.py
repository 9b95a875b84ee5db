"""Personal data never goes online and never lands on disk.

A whole dossier call (the caller ID is the dossier's phone, so name and fees are read) runs
through the runtime with the real prompt wiring: the prompt cache over an online engine backed by
an offline one, and the private voice-pack speaker. The online engine is a fake that records
every text it is asked to say: it must see static prompts only, and the prompt cache's folder
must hold renderings of static prompts only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from core.audio import LINE_RATE, Audio
from ivr.events import MemorySink, PromptPlayed
from ivr.hotline import build_prompt_voice, runtime_fixed_texts
from ivr.runtime.deps import PinnedTree
from ivr.runtime.interpreter import run_call
from speech.prompt_audio import static_texts
from speech.prompt_cache import PromptCache
from speech.settings import SpeechSettings
from speech.tts import FallbackSynthesizer, SynthesisCapabilities, VoiceId
from speech.voice_pack import PackSpeaker
from tests.runtime.fake_channel import FakeChannel, FakePrompts, Press, run_virtual
from tests.runtime.fakes import Backends, hotline_tree

NAME = "Công ty TNHH Hải Đăng"  # the applicant of 000.00.14.H56-250303-9004


class RecordingSynth:
    """A synthesiser that remembers what it was asked; its audio stands for the text."""

    def __init__(self, name: str, *, offline: bool, prompts: FakePrompts) -> None:
        self.name = name
        self.voice = VoiceId(name, "vi", 150)
        self.capabilities = SynthesisCapabilities(offline=offline, output_rate=LINE_RATE)
        self.asked: list[str] = []
        self._prompts = prompts

    async def synthesize(self, text: str) -> Audio:
        self.asked.append(text)
        return self._prompts.audio(text)


def test_a_dossier_call_sends_no_personal_text_online(tmp_path: Path) -> None:
    fake_audio = FakePrompts()
    online = RecordingSynth("online", offline=False, prompts=fake_audio)
    offline = RecordingSynth("espeak-ng", offline=True, prompts=fake_audio)
    cache_dir = tmp_path / "prompts"
    cache = PromptCache(FallbackSynthesizer(online, offline), cache_dir)
    settings = SpeechSettings(recordings_dir=tmp_path / "none", voice_pack_dir=tmp_path / "none")
    voice = build_prompt_voice(settings, cache.get, private=PackSpeaker(offline.synthesize))

    tree = hotline_tree()
    backends = Backends(prompts=fake_audio)
    deps = dataclasses.replace(backends.deps(), prompts=voice.for_tree(tree))
    channel = FakeChannel(
        [Press("1"), Press("2503039004#"), Press("1"), Press("3"), Press("5")],
        prompts=fake_audio,
        caller="0912345678",
    )
    sink = MemorySink()

    async def main() -> None:
        try:
            await run_call(channel, PinnedTree.of(tree), deps, sink)
        finally:
            await channel.close()

    run_virtual(main())

    spoken = [e.text for e in sink.events if isinstance(e, PromptPlayed)]
    # the personal details were read to the verified caller (their event keeps only the
    # template id, the name is nowhere in the events) ...
    assert "[dossier.personal]" in spoken and not [t for t in spoken if NAME in t], spoken
    static = static_texts(tree) | set(runtime_fixed_texts())
    assert online.asked and set(online.asked) <= {cache.spoken(t) for t in static}
    for text in online.asked:  # ... but never sent online, nor any sentence built from data
        assert "Hải Đăng" not in text and "2 5, 0 3" not in text
    private_words = " ".join(offline.asked).lower()
    assert "hải đăng" in private_words  # it was said, offline
    # on disk: renderings of static prompts only
    files = {p.relative_to(cache_dir) for p in cache_dir.rglob("*.wav")}
    allowed = {cache.key(t).relative_path() for t in online.asked}
    assert files and files <= allowed, files - allowed
    dynamic = [t for t in spoken if " ".join(t.split()) not in static]
    assert dynamic
    for text in dynamic:
        assert not (cache_dir / cache.key(text).relative_path()).exists()
