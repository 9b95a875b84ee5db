"""The viet-asr engine: an offline Vietnamese streaming recogniser whose ONNX model ships inside
the PyPI wheel ``viet-asr`` (module ``vietasr``), so it works with no download.

Two runtimes decode that model: the wheel's own (:class:`VietAsrModel`, ``native``) and
onnxruntime with full graph optimisation (:class:`speech.vietasr_onnx.OnnxVietAsrModel`, the
default, about half the CPU). Either is loaded once per process, at first use, from whichever
pool thread needs it first; each session is one streaming decoder on it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from speech.asr import ENGINE_VIETASR, Capabilities, Partial, RecognizerBusy, RecognizerMissing
from speech.recognition_pool import PooledSession, RecognitionPool, StreamSlot

MODEL_RATE = 16000
DEFAULT_PRESET = "transcribe"
_QUIET_LOG_LEVEL = 3  # the native library's INFO/DEBUG lines would flood the worker's stderr
_INSTALL_HINT = "install it with `pip install viet-asr==0.1.0.dev11`"


class StreamDecoder(Protocol):
    """One utterance's decoder on a model; results have ``.text``."""

    def accept(self, samples: np.ndarray) -> object:
        """Add 16 kHz 16-bit samples."""
        ...

    def partial(self) -> Any:
        """What is decoded so far, as cheaply as the runtime can tell."""
        ...

    def peek(self) -> Any:
        """Everything fed so far, the audio the runtime holds back included; goes on."""
        ...

    def final(self) -> Any:
        """The transcript."""
        ...

    def close(self) -> None: ...


class AsrModel(Protocol):
    """A loaded-once model giving streaming decoders."""

    loads: int

    @property
    def loaded(self) -> bool: ...

    def pipeline(self) -> Any:
        """Load (once, blocking) and return the loaded runtime object."""
        ...

    def stream(self, sample_rate: float, phrases: Sequence[str] | None = None) -> StreamDecoder:
        """A decoder; biased towards ``phrases`` where the runtime can."""
        ...

    def close(self) -> None: ...


class _NativeStream:
    """The wheel's own streaming session as a :class:`StreamDecoder`: it decodes in bursts and
    has no way to decode what it holds back, so a peek is its partial."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def accept(self, samples: np.ndarray) -> object:
        return self._session.accept(samples)

    def partial(self) -> Any:
        return self._session.partial()

    def peek(self) -> Any:
        return self._session.partial()

    def final(self) -> Any:
        return self._session.final()

    def close(self) -> None:
        self._session.close()


class VietAsrModel:
    """One viet-asr pipeline preset on the wheel's own runtime, loaded lazily and at most once,
    from any thread."""

    def __init__(self, preset: str = DEFAULT_PRESET) -> None:
        self.preset = preset
        self.loads = 0  # how many times the native pipeline was built (1 once loaded)
        self._lock = threading.Lock()
        self._pipeline: Any = None

    @property
    def loaded(self) -> bool:
        """Whether the pipeline is in memory."""
        return self._pipeline is not None

    def pipeline(self) -> Any:
        """The loaded ``vietasr.Pipeline``; blocks while it loads. Raises RecognizerMissing."""
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._load()
                self.loads += 1
            return self._pipeline

    def stream(self, sample_rate: float, phrases: Sequence[str] | None = None) -> StreamDecoder:
        """A streaming decoder on the pipeline (loading it first); the wheel's runtime has no
        way to bias towards ``phrases``."""
        return _NativeStream(self.pipeline().stream(sample_rate=sample_rate))

    def close(self) -> None:
        """Free the native pipeline (sessions on it must be closed first)."""
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.close()
                self._pipeline = None

    def _load(self) -> Any:
        try:
            import vietasr
            from vietasr.ffi import native
        except (ImportError, OSError) as exc:
            # OSError: the package is there but its native library cannot be opened.
            raise RecognizerMissing(
                ENGINE_VIETASR, f"package viet-asr ({exc})", _INSTALL_HINT
            ) from exc
        native.lib.vietasr_set_log_level(_QUIET_LOG_LEVEL)
        # Resolve the destructors now: resolving them lazily from __del__ fails during
        # interpreter shutdown, once cffi's own modules are gone.
        _ = (native.lib.vietasr_pipeline_free, native.lib.vietasr_session_free)
        try:
            return vietasr.Pipeline.preset(self.preset)
        except Exception as exc:  # vietasr raises a bare RuntimeError subclass
            raise RecognizerMissing(
                ENGINE_VIETASR, f"model preset {self.preset!r} ({exc})", _INSTALL_HINT
            ) from exc


_shared_lock = threading.Lock()
_shared_models: dict[str, VietAsrModel] = {}


def shared_model(preset: str = DEFAULT_PRESET) -> VietAsrModel:
    """The process-wide model of ``preset`` (created on first call, loaded on first use), so
    every recogniser of a worker process shares one copy of the weights."""
    with _shared_lock:
        model = _shared_models.get(preset)
        if model is None:
            model = _shared_models[preset] = VietAsrModel(preset)
            atexit.register(model.close)  # free it while the interpreter is still whole
        return model


class VietAsrSession(PooledSession):
    """One streaming decoder of the shared pipeline."""

    def __init__(
        self,
        *,
        model: AsrModel,
        pool: RecognitionPool,
        slot: StreamSlot,
        chunk_ms: int,
        partial_every_ms: int,
        phrases: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            pool=pool, slot=slot, engine=ENGINE_VIETASR, model_rate=MODEL_RATE, chunk_ms=chunk_ms
        )
        self._model = model
        # Asking for a partial costs a decoder pass (about 13 % more CPU at every 100 ms); the
        # dialog needs them only for display and logs, so they are spaced out.
        self._partial_every = MODEL_RATE * partial_every_ms // 1000
        self._since_partial = 0
        self._decoder: StreamDecoder | None = None  # made on a pool thread: may load the model
        self._phrases = list(phrases) if phrases else None

    def _fed(self, chunk: bytes) -> StreamDecoder:
        """The decoder (created on first use), with ``chunk`` accepted."""
        if self._decoder is None:
            self._decoder = self._model.stream(float(MODEL_RATE), self._phrases)
        if chunk:
            self._decoder.accept(np.frombuffer(chunk, dtype="<i2"))
        return self._decoder

    def _accept(self, chunk: bytes) -> Partial | None:
        decoder = self._fed(chunk)
        self._since_partial += len(chunk) // 2
        if self._since_partial < self._partial_every:
            return None
        self._since_partial = 0
        return Partial(text=str(decoder.partial().text))

    def _peek(self, chunk: bytes) -> str:
        self._since_partial = 0
        return str(self._fed(chunk).peek().text).strip()

    def _final(self, chunk: bytes) -> tuple[str, float | None]:
        # The model gives no score, so confidence is None rather than an invented number.
        return str(self._fed(chunk).final().text).strip(), None

    def _free(self) -> None:
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None


class VietAsrRecognizer:
    """The viet-asr :class:`~speech.asr.Recognizer`."""

    def __init__(
        self,
        *,
        pool: RecognitionPool,
        model: AsrModel | None = None,
        chunk_ms: int = 100,
        partial_every_ms: int = 300,
    ) -> None:
        self._pool = pool
        self._model: AsrModel = model if model is not None else shared_model()
        self._chunk_ms = chunk_ms
        self._partial_every_ms = partial_every_ms
        self._capabilities = Capabilities(
            streaming=True,
            grammar=False,
            sample_rate=MODEL_RATE,
            languages=("vi",),
            partials=True,
        )

    @property
    def name(self) -> str:
        """Engine name, as in settings."""
        return ENGINE_VIETASR

    @property
    def capabilities(self) -> Capabilities:
        """Streaming with partials, no grammar mode, 16 kHz, Vietnamese."""
        return self._capabilities

    @property
    def model(self) -> AsrModel:
        """The (possibly shared) model this recogniser decodes with."""
        return self._model

    @property
    def pool(self) -> RecognitionPool:
        """The threads and slots its sessions use."""
        return self._pool

    def open_session(self, *, grammar: Sequence[str] | None = None) -> VietAsrSession:
        """A new session. ``grammar`` (the phrases the question expects: a menu node's
        keywords, yes/no) biases the transcript towards them where the runtime can
        (onnxruntime: :mod:`speech.ctc_bias`); it never restricts it, and the keywords are
        still matched on the transcript."""
        slot = self._pool.try_acquire()
        if slot is None:
            raise RecognizerBusy(
                f"{ENGINE_VIETASR}: all {self._pool.max_streams} recognition slots are busy"
            )
        return VietAsrSession(
            model=self._model,
            pool=self._pool,
            slot=slot,
            chunk_ms=self._chunk_ms,
            partial_every_ms=self._partial_every_ms,
            phrases=grammar,
        )

    async def load(self) -> None:
        """Load the model on a pool thread. Raises RecognizerMissing."""
        await self._pool.run(self._model.pipeline)

    def close(self) -> None:
        """Stop the worker pool (the shared model stays loaded for the process)."""
        self._pool.shutdown()
