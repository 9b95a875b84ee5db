"""Speech recognition contracts: the Recognizer and RecognitionSession Protocols, their value
types, typed errors with stable codes, and the factory that builds the configured engine.

A recogniser is built once per process and holds the loaded model; a session is one utterance
of one call and is cheap. Sessions take 16-bit mono PCM at any rate and resample it (through
:mod:`speech.audio`) to the model rate. Opening a session takes one of ``max_streams`` slots;
when none is free :class:`RecognizerBusy` is raised at once, so a menu node can fall back to
keypad input instead of making the caller wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.errors import ErrorCode

if TYPE_CHECKING:
    from speech.settings import SpeechSettings

ENGINE_VIETASR = "viet-asr"
ENGINE_VOSK = "vosk"
ENGINES = (ENGINE_VIETASR, ENGINE_VOSK)
# The Vietnamese vosk model `tongdai models download-vosk` fetches (named here, where the CLI can
# read it without importing the engine and its signal processing).
VN_MODEL_NAME = "vosk-model-small-vn-0.4"
VN_MODEL_URL = f"https://alphacephei.com/vosk/models/{VN_MODEL_NAME}.zip"


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, checked when a worker starts and when a node is built."""

    streaming: bool
    grammar: bool  # can restrict recognition to a phrase list
    sample_rate: int  # the model's own rate; input at other rates is resampled
    languages: tuple[str, ...]
    partials: bool


@dataclass(frozen=True)
class Partial:
    """An interim hypothesis. ``endpoint`` is set when the engine itself detected the end of an
    utterance (its text is then final for that utterance)."""

    text: str
    endpoint: bool = False


@dataclass(frozen=True)
class Result:
    """The final transcript of a session.

    ``confidence`` is the engine's own score in [0, 1], or None when the engine gives none.
    ``duration_s`` is the length of the audio fed.
    """

    text: str
    confidence: float | None
    duration_s: float
    engine: str


class RecognizerError(Exception):
    """Base of recognition errors; ``code`` is stable and safe to log or show."""

    code: str = ErrorCode.INTERNAL.value


class RecognizerMissing(RecognizerError):
    """The engine's package or model is not installed or cannot be loaded."""

    code = ErrorCode.RECOGNIZER_MISSING.value

    def __init__(self, engine: str, missing: str, hint: str = "") -> None:
        self.engine = engine
        self.missing = missing
        self.hint = hint
        message = f"{engine}: {missing} is missing or cannot be loaded"
        super().__init__(f"{message}; {hint}" if hint else message)


class RecognizerBusy(RecognizerError):
    """Every recognition slot is taken; the caller should be offered keypad input instead."""

    code = ErrorCode.RECOGNIZER_BUSY.value


class InvalidAudio(RecognizerError, ValueError):
    """Audio handed to a session is not 16-bit PCM at a positive rate."""

    code = "stt-bad-audio"


class InvalidGrammar(RecognizerError, ValueError):
    """A grammar is not a non-empty list of non-empty phrases."""

    code = "stt-bad-grammar"


class SessionClosed(RecognizerError):
    """The session was already finished or closed."""

    code = "stt-session-closed"


class RecognitionSession(Protocol):
    """One utterance being recognised. Feed frames in order; then finish, then close."""

    async def feed(self, pcm: bytes, rate: int) -> Partial | None:
        """Add 16-bit mono PCM at ``rate`` Hz; returns a new partial hypothesis or None."""
        ...

    async def hypothesis(self) -> str:
        """The best transcript of everything fed so far, without ending the session: the
        dialog asks for it at a pause to decide early whether the caller has said enough."""
        ...

    async def finish(self) -> Result:
        """No more audio: the final transcript."""
        ...

    def close(self) -> None:
        """Release the session and its slot. Idempotent; safe after finish or an error."""
        ...


class Recognizer(Protocol):
    """A loaded speech recognition engine, shared by every call of a worker process."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def open_session(self, *, grammar: Sequence[str] | None = None) -> RecognitionSession:
        """A new session. ``grammar`` restricts recognition to these phrases where the engine
        supports it (``capabilities.grammar``) and is ignored otherwise. Raises
        :class:`RecognizerBusy` when every slot is taken."""
        ...

    async def load(self) -> None:
        """Load the model now (off the event loop) instead of at the first session."""
        ...

    def close(self) -> None:
        """Stop the engine's worker pool."""
        ...


def check_pcm(pcm: bytes, rate: int) -> None:
    """Raise :class:`InvalidAudio` unless ``pcm`` is whole 16-bit samples at a sane rate."""
    if rate <= 0 or rate > 192_000:
        raise InvalidAudio(f"sample rate must be between 1 and 192000 Hz, got {rate}")
    if len(pcm) % 2:
        raise InvalidAudio(f"16-bit PCM needs an even number of bytes, got {len(pcm)}")


def clean_grammar(grammar: Sequence[str]) -> list[str]:
    """Phrases stripped, lower-cased and de-duplicated in order; raises InvalidGrammar."""
    if isinstance(grammar, str) or not isinstance(grammar, Sequence):
        raise InvalidGrammar("a grammar is a list of phrases, not a single string")
    phrases: list[str] = []
    for phrase in grammar:
        if not isinstance(phrase, str) or not phrase.strip():
            raise InvalidGrammar(f"grammar phrases must be non-empty strings, got {phrase!r}")
        cleaned = " ".join(phrase.lower().split())
        if cleaned not in phrases:
            phrases.append(cleaned)
    if not phrases:
        raise InvalidGrammar("a grammar needs at least one phrase")
    return phrases


def create_recognizer(settings: SpeechSettings) -> Recognizer:
    """Build the engine named by ``settings.recognizer`` with its own bounded worker pool.

    Nothing heavy happens here: the model loads at :meth:`Recognizer.load` or the first session.
    Raises :class:`RecognizerMissing` for an unknown engine or (vosk) a missing model directory.
    """
    from speech.recognition_pool import RecognitionPool

    engine = settings.recognizer
    if engine not in ENGINES:
        raise RecognizerMissing(engine, "this recognition engine", f"choose one of {ENGINES}")
    batching = (
        engine == ENGINE_VIETASR
        and settings.vietasr_runtime == "onnxruntime"
        and settings.asr_batch > 1
    )
    pool = RecognitionPool(
        workers=settings.asr_workers,
        max_streams=settings.max_streams,
        # Batching: every open stream may wait on its own thread for a place in a batch.
        threads=settings.max_streams if batching else None,
    )
    try:
        if engine == ENGINE_VOSK:
            from speech.vosk_engine import VoskRecognizer

            return VoskRecognizer(model_dir=settings.vosk_model_dir, pool=pool)
        from speech.vietasr_engine import VietAsrRecognizer

        if settings.vietasr_runtime == "native":
            return VietAsrRecognizer(pool=pool)
        if settings.vietasr_runtime != "onnxruntime":
            raise RecognizerMissing(
                engine,
                f"runtime {settings.vietasr_runtime!r}",
                "choose onnxruntime or native",
            )
        from speech.vietasr_onnx import shared_onnx_model

        model = shared_onnx_model(
            max_batch=settings.asr_batch,
            concurrency=settings.asr_workers,
            bias_bonus=settings.asr_bias,
        )
        return VietAsrRecognizer(pool=pool, model=model)
    except BaseException:
        pool.shutdown()
        raise
