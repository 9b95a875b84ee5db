"""The viet-asr engine on real recordings: streaming in phone frames, batch agreement,
slots, lazy single load, typed errors."""

from __future__ import annotations

import asyncio
import threading
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from speech.asr import (
    InvalidAudio,
    RecognizerBusy,
    RecognizerMissing,
    SessionClosed,
    create_recognizer,
)
from speech.audio import read_wav
from speech.recognition_pool import RecognitionPool
from speech.settings import SpeechSettings
from speech.vietasr_engine import VietAsrModel, VietAsrRecognizer, shared_model
from speech.vietasr_onnx import OnnxVietAsrModel
from tests.speech_asr.digits import digits_of

FRAME_8K = 320  # 20 ms of 16-bit PCM at 8000 Hz


async def _stream(recognizer: VietAsrRecognizer, pcm: bytes, rate: int) -> tuple[str, list[str]]:
    session = recognizer.open_session()
    partials = []
    frame = rate // 50 * 2
    try:
        for i in range(0, len(pcm), frame):
            partial = await session.feed(pcm[i : i + frame], rate)
            if partial is not None:
                partials.append(partial.text)
        result = await session.finish()
    finally:
        session.close()
    return result.text, partials


async def test_call8k_1_in_phone_frames_yields_its_digits(
    vietasr: VietAsrRecognizer, speech_dir: Path
) -> None:
    pcm, rate = read_wav(speech_dir / "call8k_1.wav")
    assert rate == 8000 and len(pcm[:FRAME_8K]) == FRAME_8K
    session = vietasr.open_session()
    partials = []
    for i in range(0, len(pcm), FRAME_8K):
        partial = await session.feed(pcm[i : i + FRAME_8K], rate)
        if partial is not None:
            partials.append(partial.text)
    result = await session.finish()
    assert digits_of(result.text).startswith("8753"), result.text
    assert result.engine == "viet-asr"
    assert result.confidence is None
    assert result.duration_s == pytest.approx(2.833, abs=0.01)
    # Partials grow as the caller speaks, before the end of the audio.
    assert len(partials) >= 2
    assert digits_of(partials[0]) != digits_of(result.text)


@pytest.mark.parametrize(
    "codec", [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)], ids=["PCMU", "PCMA"]
)
async def test_digits_survive_the_g711_line(
    vietasr: VietAsrRecognizer, speech_dir: Path, codec: tuple[Any, Any]
) -> None:
    encode, decode = codec
    pcm, rate = read_wav(speech_dir / "call8k_1.wav")
    heard = b"".join(decode(encode(pcm[i : i + FRAME_8K])) for i in range(0, len(pcm), FRAME_8K))
    assert heard != pcm
    text, _ = await _stream(vietasr, heard, rate)
    assert digits_of(text).startswith("8753"), text


@pytest.mark.parametrize("clip", ["call8k_1.wav", "clip16k_3.wav"])
async def test_streaming_roughly_equals_batch(
    vietasr: VietAsrRecognizer, speech_dir: Path, clip: str
) -> None:
    pcm, rate = read_wav(speech_dir / clip)
    streamed, _ = await _stream(vietasr, pcm, rate)
    # the wheel's own runtime, transcribing the whole file at once, is the reference for both
    batch = shared_model().pipeline().transcribe(np.frombuffer(pcm, dtype="<i2"), float(rate))
    similarity = SequenceMatcher(None, streamed.split(), batch.text.split()).ratio()
    assert streamed
    assert similarity >= 0.8, (streamed, batch.text)


async def test_parallel_sessions_on_one_model_stay_apart(
    vietasr: VietAsrRecognizer, speech_dir: Path
) -> None:
    digits_pcm, digits_rate = read_wav(speech_dir / "call8k_1.wav")
    words_pcm, words_rate = read_wav(speech_dir / "clip16k_2.wav")
    silence = bytes(16000)
    (digits, _), (words, _), (nothing, _) = await asyncio.gather(
        _stream(vietasr, digits_pcm, digits_rate),
        _stream(vietasr, words_pcm, words_rate),
        _stream(vietasr, silence, 8000),
    )
    assert digits_of(digits).startswith("8753"), digits
    assert "quý vị" in words and not digits_of(words), words
    assert nothing == ""


async def test_busy_when_every_slot_is_taken(speech_dir: Path) -> None:
    recognizer = VietAsrRecognizer(pool=RecognitionPool(workers=1, max_streams=1))
    try:
        first = recognizer.open_session()
        with pytest.raises(RecognizerBusy) as caught:
            recognizer.open_session()
        assert caught.value.code == "stt-busy"
        pcm, rate = read_wav(speech_dir / "clip16k_2.wav")
        await first.feed(pcm, rate)
        await first.finish()  # finishing gives the slot back
        second = recognizer.open_session()
        second.close()
        recognizer.open_session().close()
    finally:
        recognizer.close()


async def test_bad_audio_and_reuse_are_typed_errors(vietasr: VietAsrRecognizer) -> None:
    session = vietasr.open_session()
    try:
        with pytest.raises(InvalidAudio) as odd:
            await session.feed(b"\x00\x01\x02", 8000)
        assert odd.value.code == "stt-bad-audio"
        with pytest.raises(InvalidAudio):
            await session.feed(b"\x00\x00", 0)
        await session.feed(bytes(3200), 8000)
        await session.finish()
        with pytest.raises(SessionClosed):
            await session.feed(bytes(320), 8000)
        with pytest.raises(SessionClosed):
            await session.finish()
    finally:
        session.close()
        session.close()


@pytest.mark.parametrize("runtime", [OnnxVietAsrModel, VietAsrModel])
def test_model_loads_once_under_concurrent_first_use(runtime: type) -> None:
    model = runtime()
    assert not model.loaded
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(model.pipeline())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.loads == 1
    assert len(got) == 4 and all(p is got[0] for p in got)


async def test_unknown_model_is_a_clear_missing_error() -> None:
    recognizer = VietAsrRecognizer(
        pool=RecognitionPool(workers=1, max_streams=1), model=VietAsrModel("no-such-preset")
    )
    try:
        with pytest.raises(RecognizerMissing) as caught:
            await recognizer.load()
        assert caught.value.code == "stt-provider-missing"
        assert "no-such-preset" in str(caught.value)
        session = recognizer.open_session()
        with pytest.raises(RecognizerMissing):
            await session.feed(bytes(3200), 8000)
        session.close()
    finally:
        recognizer.close()


def test_factory_builds_the_configured_engine(tmp_path: Path) -> None:
    recognizer = create_recognizer(SpeechSettings(asr_workers=1, max_streams=3))
    try:
        assert recognizer.name == "viet-asr"
        caps = recognizer.capabilities
        assert caps.streaming and caps.partials and not caps.grammar
        assert caps.sample_rate == 16000 and "vi" in caps.languages
    finally:
        recognizer.close()
    with pytest.raises(RecognizerMissing, match="whisper"):
        create_recognizer(SpeechSettings(recognizer="whisper"))
    with pytest.raises(RecognizerMissing, match="not configured"):
        create_recognizer(SpeechSettings(recognizer="vosk"))
    with pytest.raises(RecognizerMissing, match=str(tmp_path / "absent")):
        create_recognizer(SpeechSettings(recognizer="vosk", vosk_model_dir=tmp_path / "absent"))


async def test_a_hypothesis_mid_utterance_leaves_the_session_going(
    vietasr: VietAsrRecognizer, speech_dir: Path
) -> None:
    # call8k_1 says "tám bảy lăm ba" (8753), pauses, then "... năm sáu bốn bảy".
    pcm, rate = read_wav(speech_dir / "call8k_1.wav")
    first_group = int(0.9 * rate) * 2  # up to the middle of the pause
    session = vietasr.open_session()
    try:
        for i in range(0, first_group, FRAME_8K):
            await session.feed(pcm[i : min(i + FRAME_8K, first_group)], rate)
        so_far = await session.hypothesis()
        # the first digits heard so far (the model settles the last one, "ba", only once it
        # hears what follows)
        assert len(digits_of(so_far)) >= 3 and "8753".startswith(digits_of(so_far)), so_far
        for i in range(first_group, len(pcm), FRAME_8K):
            await session.feed(pcm[i : i + FRAME_8K], rate)
        result = await session.finish()
    finally:
        session.close()
    assert digits_of(result.text).startswith("8753") and len(digits_of(result.text)) >= 7
    with pytest.raises(SessionClosed):
        await session.hypothesis()
