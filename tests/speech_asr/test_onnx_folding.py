"""The recogniser's constant weights dequantized at load: on real speech the model gives the
same best tokens, with no DequantizeLinear left in front of a convolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from speech.audio import read_wav
from speech.onnx_folding import dequantize, fold_convolution_weights
from speech.vietasr_onnx import (
    ATT_DIM,
    CHUNK_FRAMES,
    CNN_CHANNELS,
    CNN_CONTEXT,
    HEADS,
    LAYERS,
    LEFT_FRAMES,
    STRIDE_FRAMES,
    Fbank,
    embedded_model,
)


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, frames: np.ndarray) -> np.ndarray:
    att = np.zeros((1, LAYERS, HEADS, LEFT_FRAMES, ATT_DIM), dtype=np.float32)
    cnn = np.zeros((1, LAYERS, CNN_CHANNELS, CNN_CONTEXT), dtype=np.float32)
    outputs = []
    offset = 0
    for start in range(0, len(frames) - CHUNK_FRAMES + 1, STRIDE_FRAMES):
        feeds = {
            "chunk": frames[None, start : start + CHUNK_FRAMES],
            "offset": np.array([[offset]], dtype=np.int64),
            "att_cache": att,
            "cnn_cache": cnn,
        }
        logits, att, cnn = session.run(None, feeds)
        offset += logits.shape[1]
        outputs.append(logits[0])
    return np.concatenate(outputs)


def test_the_folded_model_gives_the_same_scores_on_real_speech(speech_dir: Path) -> None:
    original, _ = embedded_model()
    folded, count = fold_convolution_weights(original)
    assert count == 50  # 38 convolutions, 12 float products with the positional encodings
    graph = onnx.load_from_string(folded).graph
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type == "Conv":
            weight = producers.get(node.input[1])
            assert weight is None or weight.op_type != "DequantizeLinear", node.name
    # the int8 products are left to onnxruntime's fusion
    assert sum(node.op_type == "DynamicQuantizeLinear" for node in graph.node) > 0
    pcm, _ = read_wav(speech_dir / "call8k_2.wav", 16000)
    frames = Fbank().push(np.frombuffer(pcm, dtype="<i2"))
    before = _run(_session(original), frames)
    after = _run(_session(folded), frames)
    assert before.shape == after.shape and len(before) > 50
    # The same weights; only the float sums' order differs (onnxruntime packs constant
    # convolution weights its own way), and the activations' on-the-fly int8 quantisation can
    # round a value the other way: frame by frame the same best token, close probabilities.
    assert (after.argmax(axis=-1) == before.argmax(axis=-1)).mean() >= 0.98
    assert np.abs(np.exp(after) - np.exp(before)).max() < 0.1


def test_dequantize_per_axis_as_onnx_defines_it() -> None:
    values = np.array([[[-128, 0, 127]], [[5, -5, 0]]], dtype=np.int8)  # (2, 1, 3)
    scale = np.array([0.5, 2.0], dtype=np.float32)
    zero = np.array([1, -1], dtype=np.int8)
    out = dequantize(values, scale, zero, axis=0)
    expected = np.array([[[-64.5, -0.5, 63.0]], [[12.0, -8.0, 2.0]]], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    assert dequantize(np.array([3], dtype=np.uint8), np.array(0.25, np.float32)).tolist() == [0.75]
