"""The prompt cache with the real espeak-ng engine: disk, memory, fragments, fallback voices."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from ivr.channel import Audio
from speech.audio import read_wav, write_wav
from speech.espeak_engine import EspeakSynthesizer
from speech.gtts_engine import GttsSynthesizer
from speech.prompt_cache import PromptCache, build_prompt_cache, split_fragments
from speech.settings import SpeechSettings
from speech.tts import (
    FallbackSynthesizer,
    SynthesisCapabilities,
    SynthesisError,
    UnknownEngine,
    VoiceId,
    build_synthesizer,
)
from tests.speech_text.sox_probe import sox_info, sox_stat
from tests.support import need


class Counting:
    """A real engine, wrapped to count (and optionally slow down) the texts it renders."""

    def __init__(
        self, inner: EspeakSynthesizer, *, slow_words: tuple[str, ...] = (), delay_s: float = 0.0
    ):
        self.inner = inner
        self.calls: list[str] = []
        self.slow_words = slow_words
        self.delay_s = delay_s

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def voice(self) -> VoiceId:
        return self.inner.voice

    @property
    def capabilities(self) -> SynthesisCapabilities:
        return self.inner.capabilities

    async def synthesize(self, text: str) -> Audio:
        self.calls.append(text)
        if any(w in text for w in self.slow_words):
            await asyncio.sleep(self.delay_s)
        return await self.inner.synthesize(text)


@pytest.fixture
def espeak() -> EspeakSynthesizer:
    need(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    return EspeakSynthesizer()


async def test_get_renders_once_then_serves_from_memory(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    synth = Counting(espeak)
    cache = PromptCache(synth, tmp_path)
    first = await cache.get("Xin chào quý vị")
    again = await cache.get("Xin chào  quý vị")
    assert first == again
    assert synth.calls == ["Xin chào quý vị"]  # the same normalised text: one render
    assert cache.stats.renders == 1 and cache.stats.memory_hits == 1


async def test_key_is_the_normalised_text(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    synth = Counting(espeak)
    cache = PromptCache(synth, tmp_path)
    await cache.get("29/12/2021")
    await cache.get("ngày 29/12/2021")
    await cache.get("ngày  hai mươi chín tháng mười hai năm hai nghìn không trăm hai mươi mốt")
    assert len(synth.calls) == 1
    assert synth.calls[0].startswith("ngày hai mươi chín tháng mười hai")
    assert cache.key("29/12/2021") == cache.key("ngày 29/12/2021")
    assert cache.key("a") != PromptCache(synth, tmp_path, rate=16000).key("a")


async def test_disk_cache_survives_a_restart(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    text = "Hồ sơ của ông bà đã được tiếp nhận"
    audio = await PromptCache(espeak, tmp_path).get(text)
    fresh_synth = Counting(espeak)
    restarted = PromptCache(fresh_synth, tmp_path)
    assert await restarted.get(text) == audio
    assert fresh_synth.calls == []
    assert restarted.stats.disk_hits == 1
    path = tmp_path / restarted.key(text).relative_path()
    assert sox_info(path)["Sample Rate"] == "8000"
    stat = sox_stat(path)
    assert stat["Length (seconds)"] == pytest.approx(audio.duration_s, abs=0.01)
    assert stat["RMS amplitude"] > 0.02
    assert read_wav(path) == (audio.pcm, 8000)


async def test_unreadable_cache_file_is_rendered_again(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    cache = PromptCache(espeak, tmp_path)
    path = tmp_path / cache.key("xin chào").relative_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"RIFF garbage")
    audio = await cache.get("xin chào")
    assert audio.duration_s > 0.3
    assert read_wav(path)[0] == audio.pcm


async def test_concurrent_requests_share_one_render(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    synth = Counting(espeak, slow_words=("chào",), delay_s=0.1)
    cache = PromptCache(synth, tmp_path)
    results = await asyncio.gather(*(cache.get("xin chào") for _ in range(8)))
    assert len(set(results)) == 1
    assert synth.calls == ["xin chào"]


async def test_a_cancelled_request_does_not_cancel_the_render(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    synth = Counting(espeak, slow_words=("chào",), delay_s=0.2)
    cache = PromptCache(synth, tmp_path)
    hung_up = asyncio.create_task(cache.get("xin chào"))
    waiting = asyncio.create_task(cache.get("xin chào"))
    await asyncio.sleep(0.05)
    hung_up.cancel()
    assert (await waiting).duration_s > 0.3
    assert synth.calls == ["xin chào"]


async def test_prerender_then_everything_is_cached(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    synth = Counting(espeak)
    cache = PromptCache(synth, tmp_path)
    prompts = [
        "Xin chào",
        "Bấm phím 1 để tra cứu hồ sơ",
        "Bấm phím 2 để hỏi thủ tục",
        "Xin chào",
        "",
    ]
    report = await cache.prerender(prompts)
    assert (report.rendered, report.cached, report.failed) == (3, 0, {})
    report = await PromptCache(synth, tmp_path).prerender(prompts)
    assert (report.rendered, report.cached) == (0, 3)
    assert len(synth.calls) == 3


async def test_prerender_reports_failures(tmp_path: Path) -> None:
    cache = PromptCache(EspeakSynthesizer(executable="/nonexistent/espeak-ng"), tmp_path)
    report = await cache.prerender(["xin chào"])
    assert report.rendered == 0 and "xin chào" in report.failed


async def test_empty_text_is_an_error(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    with pytest.raises(SynthesisError):
        await PromptCache(espeak, tmp_path).get("   ")


async def test_render_parts_joins_fragments_with_pauses(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    cache = PromptCache(espeak, tmp_path, pause_s=0.2)
    parts = ["Hồ sơ của ông bà đang được xử lý", "hẹn trả ngày 29/12/2021"]
    whole = await cache.render_parts(parts)
    pieces = [await cache.get(p) for p in parts]
    assert whole.pcm == pieces[0].pcm + b"\x00\x00" * 1600 + pieces[1].pcm
    out = tmp_path / "answer.wav"
    write_wav(out, whole.pcm, whole.rate)
    assert sox_info(out)["Sample Rate"] == "8000"
    assert sox_stat(out)["Length (seconds)"] == pytest.approx(whole.duration_s, abs=0.01)


async def test_first_fragment_arrives_before_slow_ones(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    synth = Counting(espeak, slow_words=("ngày",), delay_s=0.8)
    cache = PromptCache(synth, tmp_path)
    await cache.prerender(["Hồ sơ của ông bà đang được xử lý"])
    started = time.perf_counter()
    stream = cache.stream_parts(["Hồ sơ của ông bà đang được xử lý", "hẹn trả ngày 30/12/2021"])
    first = await anext(stream)
    first_s = time.perf_counter() - started
    rest = [a async for a in stream]
    total_s = time.perf_counter() - started
    assert first.duration_s > 1.0 and len(rest) == 1
    assert first_s < 0.3 < 0.8 <= total_s


async def test_say_splits_at_punctuation(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    synth = Counting(espeak)
    cache = PromptCache(synth, tmp_path)
    chunks = [
        a
        async for a in cache.say(
            "Hồ sơ 000.00.14.H56-200203-0118 đang xử lý, hẹn trả ngày 29/12/2021."
        )
    ]
    assert len(chunks) == 2
    assert synth.calls[1].startswith("hẹn trả ngày hai mươi chín")


def test_split_fragments() -> None:
    assert split_fragments(
        "Hồ sơ 000.00.14.H56-200203-0118 đang xử lý, hẹn trả ngày 29/12/2021."
    ) == [
        "Hồ sơ 000.00.14.H56-200203-0118 đang xử lý,",
        "hẹn trả ngày 29/12/2021.",
    ]
    assert split_fragments("  ") == []


async def test_memory_is_bounded(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    synth = Counting(espeak)
    cache = PromptCache(synth, tmp_path, memory_bytes=1000)
    await cache.get("một")
    await cache.get("hai")
    await cache.get("một")  # evicted from memory, still on disk
    assert cache.stats.disk_hits == 1 and cache.stats.memory_hits == 0
    assert len(synth.calls) == 2


async def test_fallback_audio_is_cached_under_the_voice_that_made_it(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    chain = FallbackSynthesizer(GttsSynthesizer(tld="invalid"), espeak)
    cache = PromptCache(chain, tmp_path)
    audio = await cache.get("xin chào")
    assert audio == await espeak.synthesize("xin chào")
    assert cache.cached_voice("xin chào") == espeak.voice
    assert cache.stats.fallback_renders == 1
    assert (tmp_path / cache.key("xin chào", espeak.voice).relative_path()).is_file()
    # Served from the fallback's cache without asking the unreachable engine again.
    assert await PromptCache(chain, tmp_path).get("xin chào") == audio
    report = await cache.prerender(["xin chào"], upgrade=False)
    assert report.cached == 1


def test_build_synthesizer_and_cache(tmp_path: Path) -> None:
    settings = SpeechSettings(prompt_cache_dir=tmp_path / "p")
    chain = build_synthesizer(settings)
    assert isinstance(chain, FallbackSynthesizer)
    assert chain.voices[0].engine == "gtts" and chain.voices[1].engine == "espeak-ng"
    assert build_synthesizer(settings, engine="espeak-ng").voice == VoiceId("espeak-ng", "vi", 150)
    assert build_prompt_cache(settings, chain).rate == 8000
    with pytest.raises(UnknownEngine):
        build_synthesizer(settings, engine="festival")


async def test_prune_keeps_the_recently_used(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    cache = PromptCache(espeak, tmp_path)
    for i, text in enumerate(["một", "hai", "ba"]):
        await cache.get(text)
        path = tmp_path / cache.key(text).relative_path()
        os.utime(path, (1000.0 + i, 1000.0 + i))  # rendered one after another, long ago
    await PromptCache(espeak, tmp_path).get("một")  # a disk hit marks "một" as used now
    sizes = {
        t: (tmp_path / cache.key(t).relative_path()).stat().st_size for t in ["một", "hai", "ba"]
    }
    assert cache.prune(sizes["một"] + sizes["ba"]) == 1
    assert not (tmp_path / cache.key("hai").relative_path()).exists()
    assert (tmp_path / cache.key("một").relative_path()).exists()
    assert cache.prune(0) == 2
    assert PromptCache(espeak, tmp_path / "absent").prune(0) == 0


class PretendOnline(Counting):
    """The real offline engine, presented as an online one (as gTTS is)."""

    @property
    def capabilities(self) -> SynthesisCapabilities:
        inner = self.inner.capabilities
        return SynthesisCapabilities(offline=False, output_rate=inner.output_rate)


async def test_personal_text_stays_offline_and_is_never_stored(
    espeak: EspeakSynthesizer, tmp_path: Path
) -> None:
    from speech.personal import personal_text

    online, offline = PretendOnline(espeak), Counting(espeak)
    cache = PromptCache(FallbackSynthesizer(online, offline), tmp_path)
    sentence = "Người nộp hồ sơ: Công ty TNHH Hải Đăng. Phí thẩm định 500000 đồng, chưa nộp."
    with personal_text():
        first = await cache.get(sentence)
        again = await cache.get(sentence)
    assert first.pcm and first == again
    assert online.calls == []  # never sent to the online engine
    assert offline.calls == [cache.spoken(sentence)] * 2  # rendered each time, not kept
    assert list(tmp_path.rglob("*.wav")) == [] and cache.cached_voice(sentence) is None
    assert cache.stats.personal_renders == 2
    await cache.get("Xin chào quý vị")  # public text: the preferred engine, cached on disk
    assert online.calls == [cache.spoken("Xin chào quý vị")]
    assert len(list(tmp_path.rglob("*.wav"))) == 1
