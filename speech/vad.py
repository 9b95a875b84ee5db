"""Voice activity detection on the phone line: energy and zero-crossing rate per 20 ms frame
against an adaptive noise floor, cheap enough to run on every frame of every call on the
event loop (one RMS and one sign count per 160 samples).

:class:`SpeechDetector` reports speech start (barge-in: stop the prompt) and speech end (after
trailing silence). :class:`Endpointer` adds the two limits of a listening turn: no input at
all, and an utterance that goes on too long.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

SILENCE_DBFS = -100.0  # energy given to digital silence (log of zero)


class InvalidFrame(ValueError):
    """A frame is not whole 16-bit samples."""


class VadEventKind(enum.StrEnum):
    """What the detector saw."""

    SPEECH_START = "speech-start"
    SPEECH_END = "speech-end"


@dataclass(frozen=True)
class VadEvent:
    """A speech boundary. ``at_s`` is its position in the stream (seconds from the first
    frame): the onset for a start, the end of the last speech frame for an end."""

    kind: VadEventKind
    at_s: float


@dataclass(frozen=True)
class VadConfig:
    """Detector tuning. Defaults suit 8 kHz telephone speech in 20 ms frames."""

    rate: int = 8000
    threshold_db: float = 10.0  # a frame is loud when this far above the noise floor
    min_speech_dbfs: float = -50.0  # quieter frames are never speech, whatever the floor
    max_voiced_zcr: float = 0.35  # more sign changes per sample than this sounds like hiss
    start_ms: int = 60  # this much speech in a row starts an utterance
    end_silence_ms: int = 700  # this much non-speech ends it
    floor_rise_db_per_s: float = 3.0  # how fast the floor follows rising background noise

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.start_ms <= 0 or self.end_silence_ms <= 0:
            raise ValueError("rate, start_ms and end_silence_ms must be positive")


def frame_features(frame: bytes) -> tuple[float, float]:
    """(energy in dBFS, zero-crossing rate per sample) of one frame of 16-bit PCM."""
    if len(frame) % 2 or not frame:
        raise InvalidFrame(f"a frame must be whole 16-bit samples, got {len(frame)} bytes")
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    mean_square = float(np.mean(samples * samples))
    energy = 10 * math.log10(mean_square / 32768.0**2) if mean_square > 0 else SILENCE_DBFS
    signs = np.signbit(samples)
    zcr = float(np.count_nonzero(signs[1:] != signs[:-1])) / max(1, len(samples) - 1)
    return max(energy, SILENCE_DBFS), zcr


class SpeechDetector:
    """Frame-by-frame speech start/end detector with an adaptive noise floor.

    The floor drops at once to any quieter frame and rises slowly, so it tracks the minimum
    of the background: steady noise (a fan, line hiss) never starts speech, and speech, whose
    syllables dip between them, does not drag the floor up.
    """

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = config or VadConfig()
        self.reset()

    def reset(self) -> None:
        """Forget everything, as for a new stream."""
        self._floor: float | None = None
        self._position_s = 0.0
        self._in_speech = False
        self._run_s = 0.0  # length of the current run of loud (or quiet) frames
        self._run_start_s = 0.0
        self._last_speech_end_s = 0.0

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is in progress."""
        return self._in_speech

    @property
    def pause_s(self) -> float:
        """How long the caller has been quiet within the current utterance (0 outside one,
        and while speech goes on): the dialog may decide early at a short pause."""
        return self._run_s if self._in_speech else 0.0

    @property
    def position_s(self) -> float:
        """Seconds of audio fed so far."""
        return self._position_s

    @property
    def noise_floor_dbfs(self) -> float | None:
        """Current background estimate, None before the first frame."""
        return self._floor

    def feed(self, frame: bytes) -> VadEvent | None:
        """Process one frame (16-bit mono PCM at ``config.rate``); an event at a boundary."""
        energy, zcr = frame_features(frame)
        duration_s = len(frame) / 2 / self.config.rate
        start_s = self._position_s
        self._position_s += duration_s
        speech = self._is_speech(energy, zcr)
        self._adapt_floor(energy, duration_s)
        if speech != self._in_speech:
            if self._run_s == 0.0:
                self._run_start_s = start_s
            self._run_s += duration_s
        else:
            self._run_s = 0.0
            if speech:
                self._last_speech_end_s = self._position_s
        # A small tolerance keeps float sums of 20 ms steps from missing 60 ms by a hair.
        if not self._in_speech and speech and self._run_s * 1000 >= self.config.start_ms - 1e-6:
            self._in_speech = True
            self._run_s = 0.0
            self._last_speech_end_s = self._position_s
            return VadEvent(VadEventKind.SPEECH_START, self._run_start_s)
        if self._in_speech and not speech and self._run_s * 1000 >= self.config.end_silence_ms:
            self._in_speech = False
            self._run_s = 0.0
            return VadEvent(VadEventKind.SPEECH_END, self._last_speech_end_s)
        return None

    def _is_speech(self, energy: float, zcr: float) -> bool:
        cfg = self.config
        floor = energy if self._floor is None else self._floor
        if energy < cfg.min_speech_dbfs or energy < floor + cfg.threshold_db:
            return False
        # Hiss crosses zero far more often than voiced speech; accept it only when very loud.
        return zcr <= cfg.max_voiced_zcr or energy >= floor + 2 * cfg.threshold_db

    def _adapt_floor(self, energy: float, duration_s: float) -> None:
        if self._floor is None or energy < self._floor:
            self._floor = energy
        else:
            self._floor = min(energy, self._floor + self.config.floor_rise_db_per_s * duration_s)


class EndReason(enum.StrEnum):
    """Why a listening turn ended."""

    SPEECH_END = "speech-end"
    MAX_LENGTH = "max-length"
    NO_INPUT = "no-input"


@dataclass(frozen=True)
class Endpoint:
    """The end of a listening turn, at ``at_s`` seconds into the stream."""

    reason: EndReason
    at_s: float
    speech_start_s: float | None


class Endpointer:
    """One listening turn: speech start (for barge-in), then the end of the utterance after
    trailing silence, or the utterance cut at ``max_utterance_s``, or no input at all within
    ``no_input_timeout_s``. After the endpoint it ignores further frames."""

    def __init__(
        self,
        detector: SpeechDetector,
        *,
        no_input_timeout_s: float,
        max_utterance_s: float,
    ) -> None:
        if no_input_timeout_s <= 0 or max_utterance_s <= 0:
            raise ValueError("no_input_timeout_s and max_utterance_s must be positive")
        self.detector = detector
        self.no_input_timeout_s = no_input_timeout_s
        self.max_utterance_s = max_utterance_s
        self._speech_start_s: float | None = None
        self._endpoint: Endpoint | None = None

    @property
    def endpoint(self) -> Endpoint | None:
        """The endpoint once reached."""
        return self._endpoint

    @property
    def speech_started(self) -> bool:
        """Whether the caller has started speaking in this turn."""
        return self._speech_start_s is not None

    def feed(self, frame: bytes) -> VadEvent | Endpoint | None:
        """Process one frame: a speech start, the endpoint, or None."""
        if self._endpoint is not None:
            return None
        event = self.detector.feed(frame)
        now = self.detector.position_s
        if event is not None and event.kind is VadEventKind.SPEECH_START:
            if self._speech_start_s is None:
                self._speech_start_s = event.at_s
                return event
        elif event is not None and event.kind is VadEventKind.SPEECH_END:
            return self._end(EndReason.SPEECH_END, event.at_s)
        if self._speech_start_s is None and now >= self.no_input_timeout_s:
            return self._end(EndReason.NO_INPUT, now)
        if self._speech_start_s is not None and now - self._speech_start_s >= self.max_utterance_s:
            return self._end(EndReason.MAX_LENGTH, now)
        return None

    def _end(self, reason: EndReason, at_s: float) -> Endpoint:
        self._endpoint = Endpoint(reason, at_s, self._speech_start_s)
        return self._endpoint
