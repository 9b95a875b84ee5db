"""Synthesis engines driven for real: espeak-ng, gTTS (unreachable here), fallback, recordings."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ivr.channel import Audio
from speech.audio import read_wav, write_wav
from speech.espeak_engine import EspeakSynthesizer
from speech.gtts_engine import GttsSynthesizer
from speech.normalize import speakable
from speech.recorded import PromptNotFound, RecordedPrompts, RecordingError, normalize_peak
from speech.tts import FallbackSynthesizer, SynthesisError, SynthesisUnavailable, render
from tests.speech_text.sox_probe import sox_info, sox_stat
from tests.support import need

# A top-level domain that never resolves (RFC 2606), so gTTS is unreachable on any machine.
UNREACHABLE_TLD = "invalid"


@pytest.fixture
def espeak() -> EspeakSynthesizer:
    need(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    return EspeakSynthesizer()


def _ffmpeg(*args: str) -> None:
    need(shutil.which("ffmpeg") is not None, "ffmpeg is not installed")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=60)


async def test_espeak_renders_telephone_audio(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    text = speakable("Hồ sơ của ông bà hẹn trả ngày 29/12/2021.")
    audio = await espeak.synthesize(text)
    assert audio.rate == 8000
    out = tmp_path / "status.wav"
    write_wav(out, audio.pcm, audio.rate)
    info = sox_info(out)
    assert info["Sample Rate"] == "8000"
    assert info["Channels"] == "1"
    assert info["Precision"] == "16-bit"
    stat = sox_stat(out)
    assert 2.0 < stat["Length (seconds)"] < 15.0
    assert stat["Length (seconds)"] == pytest.approx(audio.duration_s, abs=0.01)
    assert stat["RMS amplitude"] > 0.02  # speech, not silence


async def test_espeak_longer_text_longer_audio(espeak: EspeakSynthesizer) -> None:
    short = await espeak.synthesize("xin chào")
    long = await espeak.synthesize("xin chào, đây là tổng đài dịch vụ công tỉnh Bà Rịa Vũng Tàu")
    assert long.duration_s > 2 * short.duration_s


async def test_espeak_other_rate(espeak: EspeakSynthesizer) -> None:
    wide = await EspeakSynthesizer(output_rate=16000).synthesize("xin chào")
    narrow = await espeak.synthesize("xin chào")
    assert wide.rate == 16000
    assert wide.duration_s == pytest.approx(narrow.duration_s, abs=0.01)


async def test_espeak_text_is_never_an_option(espeak: EspeakSynthesizer) -> None:
    audio = await espeak.synthesize("--help -v en")
    assert audio.duration_s > 0.3


@pytest.mark.parametrize("text", ["", "   \n "])
async def test_empty_text_is_a_synthesis_error(espeak: EspeakSynthesizer, text: str) -> None:
    with pytest.raises(SynthesisError):
        await espeak.synthesize(text)


async def test_too_long_text_is_a_synthesis_error(espeak: EspeakSynthesizer) -> None:
    with pytest.raises(SynthesisError):
        await espeak.synthesize("a " * 6000)


async def test_missing_program_is_unavailable() -> None:
    engine = EspeakSynthesizer(executable="/nonexistent/espeak-ng")
    assert not engine.available()
    with pytest.raises(SynthesisUnavailable) as failure:
        await engine.synthesize("xin chào")
    assert failure.value.code == "tts-failed"


async def test_missing_voice_is_unavailable(espeak: EspeakSynthesizer) -> None:
    with pytest.raises(SynthesisUnavailable, match="voice"):
        await EspeakSynthesizer(voice="zzqq").synthesize("xin chào")


def test_espeak_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        EspeakSynthesizer(rate_wpm=5)
    with pytest.raises(ValueError):
        EspeakSynthesizer(output_rate=0)


async def test_gtts_unreachable_fails_fast_then_at_once() -> None:
    now = [1000.0]
    engine = GttsSynthesizer(tld=UNREACHABLE_TLD, retry_after_s=60.0, clock=lambda: now[0])
    started = time.perf_counter()
    with pytest.raises(SynthesisUnavailable):
        await engine.synthesize("xin chào")
    assert time.perf_counter() - started < 5.0
    # While marked down it does not even try: the answer is immediate and says so.
    started = time.perf_counter()
    with pytest.raises(SynthesisUnavailable, match="next try"):
        await engine.synthesize("xin chào")
    assert time.perf_counter() - started < 0.05
    now[0] += 61.0
    with pytest.raises(SynthesisUnavailable, match="unreachable:"):
        await engine.synthesize("xin chào")


async def test_gtts_decodes_mp3_to_line_rate(espeak: EspeakSynthesizer, tmp_path: Path) -> None:
    # gTTS answers with 24 kHz MP3; make one from real speech and decode it the same way.
    audio = await EspeakSynthesizer(output_rate=24000).synthesize("xin chào quý vị")
    wav = tmp_path / "in.wav"
    write_wav(wav, audio.pcm, audio.rate)
    mp3 = tmp_path / "answer.mp3"
    _ffmpeg("-i", str(wav), "-codec:a", "libmp3lame", "-b:a", "32k", str(mp3))
    decoded = GttsSynthesizer().decode(mp3.read_bytes())
    assert decoded.rate == 8000
    assert decoded.duration_s == pytest.approx(audio.duration_s, abs=0.1)
    with pytest.raises(SynthesisError):
        GttsSynthesizer().decode(b"not an mp3 at all")


async def test_fallback_to_espeak_when_gtts_unreachable(
    espeak: EspeakSynthesizer, caplog: pytest.LogCaptureFixture
) -> None:
    chain = FallbackSynthesizer(GttsSynthesizer(tld=UNREACHABLE_TLD), espeak)
    text = "Hồ sơ đang được xử lý"
    with caplog.at_level(logging.WARNING, logger="speech.tts"):
        rendering = await render(chain, text)
    assert rendering.voice == espeak.voice
    assert rendering.voice.engine == "espeak-ng"
    # The very audio espeak-ng makes for this text, not something else.
    assert rendering.audio == await espeak.synthesize(text)
    assert any("gtts unavailable" in r.getMessage() for r in caplog.records)
    assert chain.voices == (GttsSynthesizer(tld=UNREACHABLE_TLD).voice, espeak.voice)
    assert chain.capabilities.offline


async def test_fallback_does_not_hide_text_errors(espeak: EspeakSynthesizer) -> None:
    chain = FallbackSynthesizer(espeak, EspeakSynthesizer(voice="vi-vn-x-south"))
    with pytest.raises(SynthesisError):
        await chain.synthesize("")


async def test_fallback_resamples_to_primary_rate(espeak: EspeakSynthesizer) -> None:
    chain = FallbackSynthesizer(
        GttsSynthesizer(tld=UNREACHABLE_TLD, output_rate=8000), EspeakSynthesizer(output_rate=16000)
    )
    audio = await chain.synthesize("xin chào")
    assert audio.rate == 8000


# --- recorded prompts ------------------------------------------------------------------------


@pytest.fixture
def recordings(speech_dir: Path, tmp_path: Path) -> Path:
    """An admin's prompt folder: a real 16 kHz clip as WAV, the same as MP3, a broken file."""
    clip = speech_dir / "clip16k_3.wav"
    need(clip.is_file(), f"{clip} missing")
    folder = tmp_path / "recordings"
    folder.mkdir()
    _ffmpeg("-i", str(clip), str(folder / "welcome.wav"))
    _ffmpeg("-i", str(clip), "-codec:a", "libmp3lame", "-b:a", "64k", str(folder / "goodbye.mp3"))
    (folder / "broken.mp3").write_bytes(b"ID3 this is not audio")
    (folder / "notes.txt").write_text("not a prompt")
    return folder


async def test_recorded_wav_and_mp3_become_line_audio(
    recordings: Path, speech_dir: Path, tmp_path: Path
) -> None:
    prompts = RecordedPrompts(recordings)
    assert prompts.ids() == ["broken", "goodbye", "welcome"]
    original, rate = read_wav(speech_dir / "clip16k_3.wav")
    for prompt_id in ("welcome", "goodbye"):
        audio = await prompts.load(prompt_id)
        assert audio.rate == 8000
        assert audio.duration_s == pytest.approx(len(original) / 2 / rate, abs=0.1)
        out = tmp_path / f"{prompt_id}.wav"
        write_wav(out, audio.pcm, audio.rate)
        assert sox_info(out)["Sample Rate"] == "8000"
        assert sox_stat(out)["RMS amplitude"] > 0.01
    assert await prompts.load("welcome") is await prompts.load("welcome")  # converted once


@pytest.mark.parametrize("bad_id", ["../etc/passwd", "", "a/b", ".hidden", "x" * 200])
async def test_recorded_rejects_bad_ids(tmp_path: Path, bad_id: str) -> None:
    (tmp_path / "passwd.wav").write_bytes(b"")
    with pytest.raises(PromptNotFound):
        await RecordedPrompts(tmp_path / "prompts").load(bad_id)


async def test_recorded_missing_and_broken(recordings: Path) -> None:
    prompts = RecordedPrompts(recordings)
    with pytest.raises(PromptNotFound):
        await prompts.load("no-such-prompt")
    with pytest.raises(RecordingError):
        await prompts.load("broken")
    assert RecordedPrompts(recordings / "absent").ids() == []


def test_normalize_peak_amplifies_quiet_audio_only() -> None:
    quiet = Audio((1000).to_bytes(2, "little", signed=True) * 100)
    loud = normalize_peak(quiet.pcm)
    assert int.from_bytes(loud[:2], "little", signed=True) == round(0.89 * 32767)
    assert normalize_peak(loud) == loud
    assert normalize_peak(b"") == b""


def test_engines_run_concurrently(espeak: EspeakSynthesizer) -> None:
    async def many() -> list[Audio]:
        return await asyncio.gather(*(espeak.synthesize(f"số {i}") for i in range(6)))

    results = asyncio.run(many())
    assert all(a.duration_s > 0.2 for a in results)
