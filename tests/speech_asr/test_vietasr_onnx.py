"""The onnxruntime runtime of viet-asr's model: features streamed in any pieces equal the
whole-clip features, the embedded model and token list are found, runtime errors are typed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speech.asr import RecognizerMissing, create_recognizer
from speech.audio import read_wav
from speech.settings import SpeechSettings
from speech.vietasr_onnx import (
    BLANK,
    CHUNK_FRAMES,
    MEL_BINS,
    WORD_START,
    Fbank,
    OnnxVietAsrModel,
    embedded_model,
)
from tests.speech_asr.digits import digits_of


def test_features_do_not_depend_on_how_the_audio_is_cut(speech_dir: Path) -> None:
    pcm, _ = read_wav(speech_dir / "clip16k_3.wav")
    samples = np.frombuffer(pcm, dtype="<i2")
    whole = Fbank().push(samples)
    assert whole.shape == (1 + (len(samples) - 400) // 160, MEL_BINS)
    pieces = Fbank()
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(len(samples), size=40, replace=False))
    streamed = np.concatenate(
        [pieces.push(part) for part in np.split(samples, cuts)] or [np.zeros((0, MEL_BINS))]
    )
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-4)
    # quiet frames sit far below speech frames
    assert whole.max() - np.median(whole) > 5


def test_the_wheel_embeds_the_model_and_its_tokens() -> None:
    model, tokens = embedded_model()
    assert len(model) > 10_000_000  # the ONNX protobuf, about 70 MB
    assert tokens[BLANK] == "<blank>"
    assert any(t.startswith(WORD_START) for t in tokens)
    assert f"{WORD_START}tám" in tokens


async def test_the_default_factory_runs_the_onnxruntime_model(speech_dir: Path) -> None:
    recognizer = create_recognizer(SpeechSettings(asr_workers=1, max_streams=2))
    try:
        assert isinstance(recognizer.model, OnnxVietAsrModel)  # type: ignore[attr-defined]
        pcm, rate = read_wav(speech_dir / "call8k_1.wav")
        session = recognizer.open_session()
        for i in range(0, len(pcm), 320):
            await session.feed(pcm[i : i + 320], rate)
        result = await session.finish()
        assert digits_of(result.text) == "87535647", result.text
    finally:
        recognizer.close()


def test_a_short_stream_decodes_its_tail() -> None:
    model = OnnxVietAsrModel()
    stream = model.stream(16000)
    stream.accept(np.zeros(1600, dtype=np.int16))  # 0.1 s: fewer frames than one chunk
    assert stream.partial().text == ""  # silence: nothing said, nothing invented
    assert stream.final().text == ""
    assert CHUNK_FRAMES == 43
    with pytest.raises(ValueError):
        model.stream(8000)


def test_an_unknown_runtime_is_refused_by_name() -> None:
    with pytest.raises(RecognizerMissing, match="tensorflow"):
        create_recognizer(SpeechSettings(vietasr_runtime="tensorflow"))


async def test_a_missing_embedded_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import speech.vietasr_onnx as runtime

    def missing() -> tuple[bytes, list[str]]:
        raise RecognizerMissing("viet-asr", "the model embedded in libvietasr (gone)", "hint")

    monkeypatch.setattr(runtime, "embedded_model", missing)
    model = OnnxVietAsrModel()
    with pytest.raises(RecognizerMissing, match="embedded"):
        model.pipeline()
    assert not model.loaded


def test_silent_chunks_after_an_answer_are_not_decoded(speech_dir: Path) -> None:
    """The line's hiss after the caller stopped costs no model call, and the transcript is
    the one every chunk decoded gives."""
    pcm, _ = read_wav(speech_dir / "call8k_1.wav", 16000)
    rng = np.random.default_rng(0)
    hiss = np.round(rng.standard_normal(16000 * 2) * 10).astype("<i2")  # 2 s at -70 dBFS
    samples = np.concatenate([np.frombuffer(pcm, dtype="<i2"), hiss])

    def transcribe(model: OnnxVietAsrModel) -> tuple[str, int, int]:
        stream = model.stream(16000)
        for i in range(0, len(samples), 1600):
            stream.accept(samples[i : i + 1600])
        return str(stream.final().text), stream.decoded, stream.skipped

    every = transcribe(OnnxVietAsrModel(skip_silence_db=None))
    skipping = transcribe(OnnxVietAsrModel())
    assert every[2] == 0
    assert skipping[2] >= 3, skipping  # most of the 2 s (5 chunks of 0.4 s)
    assert skipping[1] + skipping[2] == every[1]
    assert skipping[0] == every[0]
    assert digits_of(skipping[0]) == "87535647"


def test_the_default_settings_batch_streams_and_bias_towards_choices() -> None:
    recognizer = create_recognizer(SpeechSettings())
    try:
        model = recognizer.model  # type: ignore[attr-defined]
        assert isinstance(model, OnnxVietAsrModel)
        assert model.batcher is not None
        assert (model.batcher.max_batch, model.batcher.concurrency) == (16, 2)
        assert model.bias_bonus == 3.0
        # every open stream may wait on a thread of its own for a place in a batch
        assert recognizer.pool.threads == recognizer.pool.max_streams == 32  # type: ignore[attr-defined]
    finally:
        recognizer.close()
    unbatched = create_recognizer(SpeechSettings(asr_batch=1, max_streams=4))
    try:
        assert unbatched.model.batcher is None  # type: ignore[attr-defined]
        assert unbatched.pool.threads == 2  # type: ignore[attr-defined]
    finally:
        unbatched.close()
