"""Echo guard: speech barge-in that does not fire on the prompt's own echo.

On a real line part of what we play comes back in the caller's audio (a hybrid or a handset
speaker), 10 to 30 dB down, 20 to 250 ms late and slightly filtered. A voice detector fed that
audio hears "speech" and stops every prompt. :class:`EchoGuard` sits in front of the detector
and uses what we play as its reference (:class:`EchoReference`, written by the call as it
plays), in the energy domain:

- the echo in a 20 ms frame holds about as much energy as the 20 ms of the prompt it echoes,
  times the echo path's gain (a path that attenuates, delays and filters adds no energy);
- the path is learned while the prompt plays: for every candidate delay (0 to ``max_delay_s``,
  5 ms apart) the running mean and spread of the caller frame's level against the prompt's
  20 ms at that delay. At the true delay the echo follows the prompt closely: the smallest
  spread marks it, and mean plus a few spreads bounds the echo;
- until every delay has been watched long enough the worst case stands in: an echo
  ``worst_echo_db`` (-10 dB) below the loudest 20 ms of the prompt anywhere in the window;
- a frame within ``margin_db`` of that bound is echo: the detector is fed it scaled down to its
  noise floor, so the floor it tracks is left alone. Louder frames are the caller, passed on.

The path is kept on the reference, so later questions of the call start with it learned.
Per frame the guard reads the prompt's energy at each candidate delay from a running sum
prepared once per prompt: a few dozen array operations.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from speech.vad import VadEvent

LINE_RATE = 8000
FRAME_SAMPLES = 160

MAX_DELAY_S = 0.34
"""Longest echo delay covered: 250 ms of echo path plus network and jitter-buffer delay."""

WORST_ECHO_DB = -10.0
"""The loudest echo the guard must ignore before it has measured the line's own."""

MARGIN_DB = 2.0
"""A frame counts as the caller when this far above the loudest echo the path allows."""

DELAY_STEP = 40
"""Echo delays are tried 5 ms apart."""

ACTIVE_DBFS = -55.0
"""A stretch of the prompt quieter than this makes no echo worth learning from."""

LEARN_FRAMES = 15
"""Echo-only frames at every delay before the learned path is trusted (0.3 s of prompt)."""

SMOOTHING = 0.04
"""Weight of each new frame in the running statistics of the echo path (about 25 frames)."""

LEARN_ABOVE_DB = 3.0
"""Frames up to this far over the learned bound still teach the echo path."""

SPREAD = 2.5
"""Standard deviations of the echo's level above its mean still taken for echo."""

_FULL_SCALE = 32768.0**2


class EchoPath:
    """Running statistics, per candidate delay, of how much louder (in dB) the caller's frame is
    than the prompt's 20 ms at that delay."""

    def __init__(self, delays: int) -> None:
        self.count = np.zeros(delays)
        self.mean = np.zeros(delays)
        self.square = np.zeros(delays)
        self._bound: tuple[int, float] | None = None
        self._frames = 0

    def learn(self, offsets_db: np.ndarray, active: np.ndarray) -> None:
        """One echo-only frame: ``offsets_db`` per delay, counted where the prompt was
        ``active``."""
        w = np.where(active, np.maximum(SMOOTHING, 1.0 / (self.count + 1.0)), 0.0)
        self.mean += w * (offsets_db - self.mean)
        self.square += w * (offsets_db**2 - self.square)
        self.count += active
        self._frames += 1
        if self._bound is None or self._frames % 5 == 0:  # the bound moves slowly
            self._bound = self._compute()

    def bound_db(self) -> tuple[int, float] | None:
        """(delay index, highest echo level against the prompt in dB), once learned."""
        return self._bound

    def _compute(self) -> tuple[int, float] | None:
        # Trusted once every delay has been watched: until the longest echo could have
        # arrived, a short delay would look right merely for lack of competition.
        if self.count.min() < LEARN_FRAMES:
            return None
        spread = np.sqrt(np.maximum(self.square - self.mean**2, 0.0))
        best = int(np.argmin(spread))
        return best, float(self.mean[best] + SPREAD * spread[best])


ENERGY_CACHE_SIZE = 32
"""Prompts whose running energy is kept: every call playing the same prompt (the same cached
audio) shares one array instead of computing and holding its own."""
_energies: dict[bytes, np.ndarray] = {}


def running_energy(pcm: bytes) -> np.ndarray:
    """Running sum of squares of 16-bit ``pcm``, from 0 (one more entry than samples); read
    only, shared by every call playing the same audio."""
    try:
        found = _energies.pop(pcm, None)
    except TypeError:  # not bytes (a bytearray): not cached
        found = None
    if found is not None:
        _energies[pcm] = found  # the most recently played last: evicted last
        return found
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    energy = np.concatenate(([0.0], np.cumsum(samples * samples)))
    energy.flags.writeable = False
    if isinstance(pcm, bytes):
        if len(_energies) >= ENERGY_CACHE_SIZE:
            del _energies[next(iter(_energies))]  # the least recently played
        _energies[pcm] = energy
    return energy


class EchoReference:
    """What the call is playing, by time: the guard's reference, and the echo path learned on
    this call (kept across the questions of the call)."""

    def __init__(self, *, rate: int = LINE_RATE, clock: Callable[[], float] = time.monotonic):
        self._rate = rate
        self._clock = clock
        self._energy = np.zeros(1)  # running sum of squares of the prompt, from 0
        self._start = 0.0
        self._samples = 0  # samples of the prompt that are (or were) played
        self.path: EchoPath | None = None

    def playing(self, pcm: bytes, *, at: float | None = None) -> None:
        """A prompt starts playing now (or at ``at`` on the reference clock)."""
        self._energy = running_energy(pcm)
        self._start = self._clock() if at is None else at
        self._samples = len(pcm) // 2

    def stopped(self, *, at: float | None = None) -> None:
        """The prompt stopped (ended or interrupted): nothing more is played after this."""
        now = self._clock() if at is None else at
        self._samples = max(0, min(self._samples, int((now - self._start) * self._rate)))

    def energies(self, delays: np.ndarray, *, now: float | None = None) -> np.ndarray:
        """Mean square of the 20 ms of the prompt that ended ``delays`` samples before ``now``
        (zero where nothing was playing)."""
        now = self._clock() if now is None else now
        end = int((now - self._start) * self._rate) - delays
        # np.minimum/np.maximum: np.clip costs more than the rest of the frame's work
        hi = np.minimum(np.maximum(end, 0), self._samples)
        lo = np.minimum(np.maximum(end - FRAME_SAMPLES, 0), self._samples)
        energies: np.ndarray = (self._energy[hi] - self._energy[lo]) / FRAME_SAMPLES
        return energies


class VoiceDetectorLike(Protocol):
    """What the guard wraps (``speech.vad.SpeechDetector``)."""

    def feed(self, frame: bytes) -> VadEvent | None:
        """One 20 ms frame; an event at a speech boundary."""
        ...

    @property
    def pause_s(self) -> float:
        """Quiet time within the current utterance."""
        ...


class EchoGuard:
    """A voice detector that ignores the echo of what ``reference`` says we played."""

    def __init__(
        self,
        detector: VoiceDetectorLike,
        reference: EchoReference,
        *,
        max_delay_s: float = MAX_DELAY_S,
        worst_echo_db: float = WORST_ECHO_DB,
        margin_db: float = MARGIN_DB,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.detector = detector
        self.reference = reference
        count = int(max_delay_s * LINE_RATE) // DELAY_STEP + 1
        self._delays = np.arange(count) * DELAY_STEP
        self._worst = 10 ** ((worst_echo_db + margin_db) / 10)
        self._worst_db = worst_echo_db
        self._margin_db = margin_db
        self._active = _FULL_SCALE * 10 ** (ACTIVE_DBFS / 10)
        self._clock = clock
        if reference.path is None or reference.path.count.size != count:
            reference.path = EchoPath(count)
        self.path: EchoPath = reference.path
        self.echo_frames = 0  # frames held back as echo, for tests and the benchmark

    @property
    def pause_s(self) -> float:
        """The wrapped detector's pause within an utterance."""
        return self.detector.pause_s

    def echo_bound(self, by_delay: np.ndarray) -> tuple[float, bool]:
        """The most energy echo of the prompt (``by_delay``) may put in this frame, and
        whether that comes from the learned path (else the worst case)."""
        learned = self.path.bound_db()
        if learned is None:
            return float(by_delay.max()) * self._worst, False
        best, offset_db = learned
        near = by_delay[max(0, best - 2) : best + 3]  # +-10 ms around the learned delay
        level_db = min(offset_db, self._worst_db) + self._margin_db
        return float(near.max()) * 10 ** (level_db / 10), True

    def feed(self, frame: bytes) -> VadEvent | None:
        """One caller frame: passed on when it is the caller, held to the floor when echo."""
        now = self._clock() if self._clock is not None else None
        by_delay = self.reference.energies(self._delays, now=now)
        active = by_delay > self._active
        if not active.any():
            return self.detector.feed(frame)
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        energy = float(np.dot(samples, samples)) / samples.size
        bound, learned = self.echo_bound(by_delay)
        # Learn from frames a little above the learned bound too: learning only from what it
        # calls echo would shrink the bound on itself; learning from everything the worst case
        # allows would take a caller's first syllables for echo and raise it.
        limit = bound * 10 ** (LEARN_ABOVE_DB / 10) if learned else bound
        if energy <= limit and not getattr(self.detector, "in_speech", False):
            offsets = 10 * np.log10(energy + 1.0) - 10 * np.log10(by_delay + 1.0)
            self.path.learn(offsets, active)
        if energy > bound:
            return self.detector.feed(frame)
        self.echo_frames += 1
        return self.detector.feed(self._to_floor(samples, energy))

    def _to_floor(self, samples: np.ndarray, energy: float) -> bytes:
        floor_db = getattr(self.detector, "noise_floor_dbfs", None)
        if floor_db is None or energy <= 0.0:
            return bytes(np.zeros(samples.size, dtype="<i2").tobytes())
        gain = min(1.0, math.sqrt(_FULL_SCALE * 10 ** (floor_db / 10) / energy))
        return bytes(np.rint(samples * gain).astype("<i2").tobytes())
