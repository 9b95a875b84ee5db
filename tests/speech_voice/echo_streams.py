"""Caller streams for the echo guard: our own prompt coming back as echo (delayed, attenuated,
slightly filtered) over line noise, optionally with a real caller talking over it; and a runner
that feeds them frame by frame, on the stream's own clock, to a detector guarded by the prompt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter

from speech.echo_guard import EchoGuard, EchoReference
from speech.vad import SpeechDetector, VadEventKind

RATE = 8000
FRAME = 160


def echo_of(prompt: np.ndarray, *, delay_ms: float, level_db: float) -> np.ndarray:
    """The prompt as it comes back: band-limited (300-3400 Hz, as through a hybrid and a
    handset), attenuated by ``level_db`` and ``delay_ms`` late."""
    b, a = butter(2, [300 / (RATE / 2), 3400 / (RATE / 2)], btype="band")
    filtered = lfilter(b, a, prompt.astype(np.float64)) * 10 ** (level_db / 20)
    delay = int(delay_ms * RATE / 1000)
    return np.concatenate([np.zeros(delay), filtered])


def line_noise(n: int, dbfs: float = -60.0, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 32768 * 10 ** (dbfs / 20), n)


def mix(*parts: tuple[np.ndarray, int]) -> np.ndarray:
    """(signal, start sample) pairs summed into one 16-bit-range stream."""
    n = max(start + sig.size for sig, start in parts)
    out = np.zeros(n)
    for sig, start in parts:
        out[start : start + sig.size] += sig
    return np.clip(out, -32768, 32767)


@dataclass
class Run:
    onsets_s: list[float]  # speech-start events, seconds into the stream
    echo_frames: int
    frames: int


def run(stream: np.ndarray, prompt: np.ndarray | None, *, guarded: bool = True) -> Run:
    """Feed ``stream`` in 20 ms frames while ``prompt`` plays from time 0; the prompt stops at
    the first onset (barge-in), as the call stops it."""
    t = [0.0]
    reference = EchoReference(clock=lambda: t[0])
    if prompt is not None:
        reference.playing(prompt.astype("<i2").tobytes(), at=0.0)
    detector = SpeechDetector()
    guard = EchoGuard(detector, reference, clock=lambda: t[0]) if guarded else None
    onsets: list[float] = []
    pcm = stream.astype("<i2")
    frames = pcm.size // FRAME
    for i in range(frames):
        t[0] = (i + 1) * FRAME / RATE  # the frame has fully arrived
        frame = pcm[i * FRAME : (i + 1) * FRAME].tobytes()
        event = guard.feed(frame) if guard is not None else detector.feed(frame)
        if event is not None and event.kind is VadEventKind.SPEECH_START:
            onsets.append(event.at_s)
            reference.stopped(at=t[0])
    return Run(onsets, guard.echo_frames if guard else 0, frames)
