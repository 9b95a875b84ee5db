"""Decoding many callers' chunks together: concurrent submissions are joined into batches of
bounded size and concurrency, every caller gets its own result (or the batch's error), urgent
chunks go first, and the real model's batched transcripts match the lone ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from speech.audio import read_wav
from speech.chunk_batcher import ChunkBatcher
from speech.vietasr_onnx import OnnxVietAsrModel
from tests.speech_asr.digits import digits_of


class SlowDoubler:
    """A batch function that takes a while, noting each batch and how many ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int]:
        with self._lock:
            self.batches.append(list(items))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return [2 * i for i in items]


def test_concurrent_chunks_are_joined_in_bounded_batches() -> None:
    run = SlowDoubler(0.05)
    batcher = ChunkBatcher(run, max_batch=4, concurrency=2)
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(batcher.submit, range(24)))
    assert results == [2 * i for i in range(24)]
    assert sorted(i for b in run.batches for i in b) == list(range(24))
    assert max(len(b) for b in run.batches) <= 4
    assert run.most_running <= 2
    assert batcher.calls == len(run.batches) < 24  # joined, not one call each
    assert batcher.mean_batch == pytest.approx(24 / batcher.calls)


def test_a_lone_chunk_runs_at_once_alone() -> None:
    run = SlowDoubler(0.0)
    batcher = ChunkBatcher(run, max_batch=8, concurrency=1)
    assert batcher.submit(5) == 10
    assert run.batches == [[5]]


def test_every_caller_of_a_failed_batch_gets_the_error() -> None:
    def broken(items: Sequence[int]) -> list[int]:
        time.sleep(0.02)
        raise RuntimeError("model failed")

    batcher = ChunkBatcher(broken, max_batch=8, concurrency=1)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.submit, i) for i in range(6)]
        errors = [f.exception() for f in futures]
    assert all(isinstance(e, RuntimeError) for e in errors)
    # The batcher still works afterwards.
    fine = ChunkBatcher(lambda items: list(items), max_batch=2, concurrency=1)
    assert fine.submit(3) == 3


def test_urgent_chunks_overtake_queued_ones() -> None:
    run = SlowDoubler(0.1)
    batcher = ChunkBatcher(run, max_batch=1, concurrency=1)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.submit, 0)  # runs alone while the others queue
        time.sleep(0.03)
        queued = [pool.submit(batcher.submit, i) for i in (1, 2, 3)]
        time.sleep(0.03)
        urgent = pool.submit(batcher.submit, 99, urgent=True)
        for f in [first, *queued, urgent]:
            f.result()
    order = [b[0] for b in run.batches]
    assert order.index(99) == 1, order
    # It did not wait for the busy runner: it ran beside it, in the urgent lane.
    assert run.most_running == 2


def test_the_urgent_lane_is_one_call_of_urgent_items_only() -> None:
    run = SlowDoubler(0.1)
    batcher = ChunkBatcher(run, max_batch=4, concurrency=1)
    with ThreadPoolExecutor(12) as pool:
        first = pool.submit(batcher.submit, 0)
        time.sleep(0.03)
        queued = [pool.submit(batcher.submit, i) for i in (1, 2, 3)]
        time.sleep(0.02)
        urgent = [pool.submit(batcher.submit, i, urgent=True) for i in (90, 91, 92, 93, 94, 95)]
        for f in [first, *queued, *urgent]:
            f.result()
    assert run.most_running == 2  # one runner and the lane, never more
    lane = run.batches[1]
    assert set(lane) <= {90, 91, 92, 93, 94, 95} and 1 <= len(lane) <= 4, run.batches


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        ChunkBatcher(lambda items: list(items), max_batch=0, concurrency=1)
    with pytest.raises(ValueError):
        ChunkBatcher(lambda items: list(items), max_batch=2, concurrency=0)


def test_the_model_batched_transcribes_as_it_does_alone(speech_dir: Path) -> None:
    clips = ["call8k_1.wav", "call8k_5.wav", "clip16k_3.wav", "radio8k_1.wav"] * 2

    def transcribe(model: OnnxVietAsrModel, name: str) -> str:
        pcm, _ = read_wav(speech_dir / name, 16000)
        stream = model.stream(16000)
        for i in range(0, len(pcm), 3200):
            stream.accept(np.frombuffer(pcm[i : i + 3200], dtype="<i2"))
        return str(stream.final().text)

    alone_model = OnnxVietAsrModel().pipeline()
    alone = [transcribe(alone_model, c) for c in clips]
    batched_model = OnnxVietAsrModel(max_batch=8, concurrency=1).pipeline()
    with ThreadPoolExecutor(len(clips)) as pool:
        batched = list(pool.map(lambda c: transcribe(batched_model, c), clips))
    assert batched_model.batcher is not None
    assert batched_model.batcher.mean_batch > 1.5  # the streams did share model calls
    assert digits_of(batched[0]) == digits_of(batched[4]) == "87535647"
    # Batched inputs share the activations' quantisation scale, so a word may differ.
    differ = sum(a != b for a, b in zip(alone, batched, strict=True))
    assert differ <= 2, list(zip(alone, batched, strict=True))
