"""Listening for the choices on offer: the rescoring towards expected phrases takes a phrase the
greedy transcript missed in a noisy real recording, and leaves a transcript alone when no
expected phrase is near."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.g711 import alaw_decode, alaw_encode
from speech.asr import create_recognizer
from speech.audio import read_wav, resample
from speech.ctc_bias import BLANK, PhraseBias, tokenize
from speech.settings import SpeechSettings
from speech.vietasr_onnx import OnnxVietAsrModel, OnnxVietAsrStream

MENU = ["hóa đơn", "doanh nghiệp", "khai sinh", "đất đai"]


def noisy_line(path: Path, snr_db: float, seed: int) -> bytes:
    """The clip as a caller's line carries it (8 kHz, A-law) with white noise at ``snr_db``."""
    pcm, _ = read_wav(path, 8000)
    line = np.frombuffer(alaw_decode(alaw_encode(pcm)), dtype="<i2").astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(len(line))
    line = line + noise * np.sqrt(np.mean(line**2) / 10 ** (snr_db / 10))
    return np.clip(np.round(line), -32768, 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def model() -> OnnxVietAsrModel:
    return OnnxVietAsrModel().pipeline()


def test_words_are_spelled_with_the_model_tokens(model: OnnxVietAsrModel) -> None:
    vocabulary = {t: i for i, t in enumerate(model.tokens)}
    ids = tokenize("Hóa  ĐƠN", vocabulary)
    assert [model.tokens[i] for i in ids] == ["\u2581hóa", "\u2581đơn"]
    # A word the vocabulary lacks whole is spelled in pieces; an unspellable one gives nothing.
    assert model.text(tokenize("zalopay", vocabulary)) == "zalopay"
    assert tokenize("日本", vocabulary) == []


def test_a_close_second_choice_is_spliced_in_over_its_frames() -> None:
    vocabulary = {"<blank>": 0, "\u2581a": 1, "\u2581b": 2, "\u2581c": 3, "\u2581d": 4}
    # Greedy: a b d; on frame 2 the phrase's "c" is a close second to "b".
    frames = [[0.1, 0.8, 0.05, 0.03, 0.02], [0.9, 0.04, 0.03, 0.02, 0.01]]
    frames += [[0.05, 0.02, 0.5, 0.4, 0.03], [0.9, 0.02, 0.04, 0.02, 0.02]]
    frames += [[0.05, 0.02, 0.03, 0.05, 0.85]]
    logprobs = np.log(np.array(frames, dtype=np.float32))
    spliced = PhraseBias(["c"], vocabulary, bonus=1.0).apply(logprobs)
    assert spliced.ids == [1, 3, 4] and spliced.phrase == "c"
    assert spliced.loss == pytest.approx(np.log(0.5 / 0.4), abs=1e-4)
    # Too far from the greedy path for a small bonus: the greedy transcript stands.
    kept = PhraseBias(["c"], vocabulary, bonus=0.1).apply(logprobs)
    assert kept.ids == [1, 2, 4] and kept.phrase is None
    # A phrase the greedy path already holds costs nothing and changes nothing.
    held = PhraseBias(["a b"], vocabulary, bonus=1.0).apply(logprobs)
    assert held.ids == [1, 2, 4] and held.phrase is None and held.loss == pytest.approx(0.0)
    assert PhraseBias([], vocabulary).apply(logprobs).ids == [1, 2, 4]
    # Blank frames around a phrase's token are its own: the span ends where the token does.
    assert logprobs.argmax(axis=-1).tolist() == [1, BLANK, 2, BLANK, 4]


def decode(model: OnnxVietAsrModel, pcm8k: bytes, phrases: list[str] | None) -> str:
    pcm = resample(pcm8k, 8000, 16000)
    stream = model.stream(16000, phrases)
    for i in range(0, len(pcm), 3200):
        stream.accept(np.frombuffer(pcm[i : i + 3200], dtype="<i2"))
    return str(stream.final().text)


def test_a_menu_word_lost_in_noise_is_heard_with_the_bias(
    model: OnnxVietAsrModel, speech_dir: Path
) -> None:
    # call8k_4 names "loại hình doanh nghiệp"; at 0 dB SNR the greedy transcript hears
    # "dung nghiệp".
    line = noisy_line(speech_dir / "call8k_4.wav", 0.0, seed=3)
    greedy = decode(model, line, None)
    assert "doanh nghiệp" not in greedy, greedy
    biased = decode(model, line, MENU)
    assert "doanh nghiệp" in biased, biased
    # Only the phrase's frames change.
    assert biased.split()[:4] == greedy.split()[:4]
    assert biased.split()[-4:] == greedy.split()[-4:]


def test_a_transcript_with_no_option_near_is_left_alone(
    model: OnnxVietAsrModel, speech_dir: Path
) -> None:
    line = noisy_line(speech_dir / "call8k_1.wav", 20.0, seed=0)  # a phone number
    assert decode(model, line, MENU) == decode(model, line, None)
    stream = OnnxVietAsrStream(model, model.bias(MENU))
    pcm, _ = read_wav(speech_dir / "call8k_1.wav", 16000)
    stream.accept(np.frombuffer(pcm, dtype="<i2"))
    stream.final()
    assert stream.spliced is None


async def test_a_session_given_the_menu_grammar_is_biased(speech_dir: Path) -> None:
    """Through the recogniser the dialog runtime uses: the question's grammar reaches the
    decoder; the same line without it keeps the greedy transcript."""
    recognizer = create_recognizer(SpeechSettings(asr_workers=1, max_streams=2, asr_batch=1))
    line = noisy_line(speech_dir / "radio8k_1.wav", 0.0, seed=14)
    try:

        async def transcribe(grammar: list[str] | None) -> str:
            session = recognizer.open_session(grammar=grammar)
            for i in range(0, len(line), 320):
                await session.feed(line[i : i + 320], 8000)
            return (await session.finish()).text

        plain = await transcribe(None)
        heard = await transcribe(["nhân dân", "quân đội", "khai sinh"])
        assert plain != heard, plain
        assert "nhân dân" in heard or "quân đội" in heard, heard
    finally:
        recognizer.close()
