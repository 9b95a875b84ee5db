"""viet-asr's own model run by onnxruntime with full graph optimisation.

The ``viet-asr`` wheel embeds its streaming Vietnamese model (a chunked conformer with CTC
output, int8 weights, 70 MB) and its token list in its native library, which exports both
(``vietasr_asr_model_onnx``, ``vietasr_asr_vocab``). Its own runtime costs 0.18-0.21 CPU
seconds per second of speech on this hardware; the same model in onnxruntime with every graph
optimisation on (fused quantised matrix products) costs about half, which is the difference
between 8 and 16 callers speaking at once on two cores (``bench/asr.py``). This module runs
that model: Kaldi-style log-mel features (80 bins, 25 ms windows every 10 ms, Povey window,
pre-emphasis 0.97, DC removed, 16-bit sample scale), chunks of 43 frames advancing by 40
(10 output frames each, the model's 4x subsampling with 3 frames of look-ahead), attention and
convolution caches carried from chunk to chunk, and greedy CTC decoding over the token list.

One :class:`OnnxVietAsrModel` per process holds the session; any number of
:class:`OnnxVietAsrStream` decoders share it from any thread (onnxruntime releases the GIL).
With ``max_batch`` above 1 the chunks of streams decoding at the same time are run together in
one batched call (:mod:`speech.chunk_batcher`). A stream given the phrases a question expects
keeps its chunks' log-probabilities and rescores them towards those phrases at the end
(:mod:`speech.ctc_bias`).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from speech.asr import ENGINE_VIETASR, RecognizerMissing
from speech.chunk_batcher import ChunkBatcher
from speech.ctc_bias import DEFAULT_BONUS, PhraseBias
from speech.onnx_folding import fold_convolution_weights

log = logging.getLogger(__name__)

MODEL_RATE = 16000
WINDOW = 400  # samples: 25 ms
HOP = 160  # samples: 10 ms
FFT = 512
MEL_BINS = 80
PREEMPHASIS = 0.97
CHUNK_FRAMES = 43  # feature frames per model call
STRIDE_FRAMES = 40  # frames a chunk consumes (the other 3 are look-ahead, seen again)
MIN_FRAMES = 7  # the fewest frames that give one output frame
LOOKAHEAD_FRAMES = 6  # frames of right context each output frame is computed with
OUTPUT_FRAMES = 10  # output frames per chunk
LAYERS, HEADS, LEFT_FRAMES, ATT_DIM = 12, 4, 40, 224
CNN_CHANNELS, CNN_CONTEXT = 448, 30
BLANK = 0
SKIP_SILENCE_DB = 25.0  # a chunk this far below the utterance's loudest frame is not decoded
WORD_START = "\u2581"  # the token list marks the first piece of a word with "▁"
_HINT = "set speech.vietasr_runtime to native to use the wheel's own runtime"


def _mel_banks() -> np.ndarray:
    """Kaldi's triangular mel filters (20 Hz to Nyquist) as a (FFT/2+1, MEL_BINS) matrix."""

    def mel(freq: np.ndarray | float) -> np.ndarray:
        return np.asarray(1127.0 * np.log1p(np.asarray(freq) / 700.0))

    low, high = mel(20.0), mel(MODEL_RATE / 2)
    delta = (high - low) / (MEL_BINS + 1)
    fft_mel = mel(np.arange(FFT // 2) * MODEL_RATE / FFT)
    banks = np.zeros((MEL_BINS, FFT // 2 + 1))
    for m in range(MEL_BINS):
        left, centre, right = low + m * delta, low + (m + 1) * delta, low + (m + 2) * delta
        rising = (fft_mel - left) / (centre - left)
        falling = (right - fft_mel) / (right - centre)
        banks[m, : FFT // 2] = np.maximum(0.0, np.minimum(rising, falling))
    return banks.T.astype(np.float32)


_BANKS = _mel_banks()
_POVEY = np.power(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / (WINDOW - 1)), 0.85).astype(
    np.float32
)
_FLOOR = float(np.finfo(np.float32).eps)


class Fbank:
    """Incremental log-mel features: samples in (any amount), whole frames out."""

    def __init__(self) -> None:
        self._samples = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add 16-bit samples (as numbers); the (n, 80) frames now complete."""
        buffer = np.concatenate([self._samples, samples.astype(np.float32)])
        if len(buffer) < WINDOW:
            self._samples = buffer
            return np.zeros((0, MEL_BINS), dtype=np.float32)
        count = 1 + (len(buffer) - WINDOW) // HOP
        index = np.arange(WINDOW)[None, :] + HOP * np.arange(count)[:, None]
        frames = buffer[index]
        frames = frames - frames.mean(axis=1, keepdims=True)
        emphasised = np.empty_like(frames)
        emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
        emphasised[:, 0] = frames[:, 0] * (1.0 - PREEMPHASIS)
        spectrum = np.fft.rfft(emphasised * _POVEY, n=FFT)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        self._samples = buffer[count * HOP :]
        features: np.ndarray = np.log(np.maximum(power @ _BANKS, _FLOOR))
        return features


def _outputs_for(frames: int) -> int:
    """Output frames the model's two stride-2 convolutions make of ``frames`` input frames."""
    if frames < MIN_FRAMES:
        return 0
    return ((frames - 3) // 2 + 1 - 3) // 2 + 1


_shared_lock = threading.Lock()
_shared: OnnxVietAsrModel | None = None

# A model call's inputs for one stream: features, offset, attention and convolution caches.
_Chunk = tuple[np.ndarray, int, np.ndarray, np.ndarray]
_Output = tuple[np.ndarray, np.ndarray, np.ndarray]


def shared_onnx_model(
    *, max_batch: int = 1, concurrency: int = 1, bias_bonus: float = DEFAULT_BONUS
) -> OnnxVietAsrModel:
    """The process-wide model (created on first call, loaded on first use), batching as the
    latest call asks."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = OnnxVietAsrModel()
        _shared.configure(max_batch=max_batch, concurrency=concurrency, bias_bonus=bias_bonus)
        return _shared


class OnnxVietAsrModel:
    """The wheel's embedded model in an onnxruntime session, loaded lazily and at most once."""

    def __init__(
        self,
        *,
        max_batch: int = 1,
        concurrency: int = 1,
        bias_bonus: float = DEFAULT_BONUS,
        skip_silence_db: float | None = SKIP_SILENCE_DB,
    ) -> None:
        self.loads = 0
        # A chunk whose every frame is this far below the loudest frame of its utterance is
        # not decoded (log of the mel energy ratio); None decodes every chunk.
        self.skip_below = None if skip_silence_db is None else skip_silence_db * np.log(10) / 10
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokens: list[str] = []
        self._vocabulary: dict[str, int] = {}
        self.batcher: ChunkBatcher[_Chunk, _Output] | None = None
        self.bias_bonus = bias_bonus
        self.configure(max_batch=max_batch, concurrency=concurrency, bias_bonus=bias_bonus)

    def configure(self, *, max_batch: int, concurrency: int, bias_bonus: float) -> None:
        """Batch up to ``max_batch`` streams' chunks per call, ``concurrency`` calls at once
        (1: every chunk its own call); ``bias_bonus`` nats per token for expected phrases."""
        self.bias_bonus = bias_bonus
        if max_batch <= 1:
            self.batcher = None
        elif (
            self.batcher is None
            or self.batcher.max_batch != max_batch
            or self.batcher.concurrency != concurrency
        ):
            self.batcher = ChunkBatcher(
                self._run_many, max_batch=max_batch, concurrency=concurrency
            )

    @property
    def loaded(self) -> bool:
        """Whether the session is built."""
        return self._session is not None

    def pipeline(self) -> OnnxVietAsrModel:
        """Load (once, from any thread) and return self; raises RecognizerMissing."""
        with self._lock:
            if self._session is None:
                self._session, self._tokens = _load()
                self._vocabulary = {t: i for i, t in enumerate(self._tokens) if t}
                self.loads += 1
        return self

    def stream(
        self, sample_rate: float = MODEL_RATE, phrases: Sequence[str] | None = None
    ) -> OnnxVietAsrStream:
        """A new streaming decoder (16 kHz input only: sessions resample before), biased
        towards ``phrases`` when given."""
        if int(sample_rate) != MODEL_RATE:
            raise ValueError(f"the model takes {MODEL_RATE} Hz audio, not {sample_rate}")
        self.pipeline()
        bias = self.bias(phrases) if phrases and self.bias_bonus > 0 else None
        return OnnxVietAsrStream(self, bias)

    def bias(self, phrases: Sequence[str], bonus: float | None = None) -> PhraseBias:
        """``phrases`` tokenised for rescoring (the model must be loaded)."""
        return PhraseBias(
            phrases, self._vocabulary, bonus=self.bias_bonus if bonus is None else bonus
        )

    def close(self) -> None:
        """Drop the session."""
        with self._lock:
            self._session = None

    def run(
        self,
        chunk: np.ndarray,
        offset: int,
        att: np.ndarray,
        cnn: np.ndarray,
        *,
        urgent: bool = False,
    ) -> _Output:
        """One stream's chunk: (log-probabilities per output frame, new caches). With batching
        on, it may run together with other streams' chunks; ``urgent`` ones go first."""
        if self.batcher is not None:
            return self.batcher.submit((chunk, offset, att, cnn), urgent=urgent)
        return self._run_many([(chunk, offset, att, cnn)])[0]

    def _run_many(self, chunks: Sequence[_Chunk]) -> list[_Output]:
        session = self._session
        if session is None:
            raise RuntimeError("model not loaded")
        if len(chunks) == 1:
            chunk, offset, att, cnn = chunks[0]
            feeds = {
                "chunk": chunk[None],
                "offset": np.array([[offset]], dtype=np.int64),
                "att_cache": att,
                "cnn_cache": cnn,
            }
        else:
            feeds = {
                "chunk": np.stack([c[0] for c in chunks]),
                "offset": np.array([[c[1]] for c in chunks], dtype=np.int64),
                "att_cache": np.concatenate([c[2] for c in chunks]),
                "cnn_cache": np.concatenate([c[3] for c in chunks]),
            }
        logits, new_att, new_cnn = session.run(None, feeds)
        # Copies, so that no stream's caches keep a whole batch's arrays alive.
        return [
            (logits[i], new_att[i : i + 1].copy(), new_cnn[i : i + 1].copy())
            for i in range(len(chunks))
        ]

    @property
    def tokens(self) -> list[str]:
        """The token list (index = token id)."""
        return self._tokens

    def text(self, ids: list[int]) -> str:
        """Tokens joined into words."""
        tokens = self._tokens
        pieces = [tokens[i] if 0 <= i < len(tokens) else "" for i in ids]
        return "".join(pieces).replace(WORD_START, " ").strip()


class OnnxVietAsrStream:
    """One utterance's streaming decoder: features, chunk caches, the tokens so far."""

    def __init__(
        self,
        model: OnnxVietAsrModel,
        bias: PhraseBias | None = None,
        *,
        keep_scores: bool = False,
    ) -> None:
        self._model = model
        self._bias = bias
        self._keep = keep_scores or bias is not None
        self._scores: list[np.ndarray] = []  # every chunk's log-probabilities, when kept
        self._fbank = Fbank()
        self._frames = np.zeros((0, MEL_BINS), dtype=np.float32)
        self._att = np.zeros((1, LAYERS, HEADS, LEFT_FRAMES, ATT_DIM), dtype=np.float32)
        self._cnn = np.zeros((1, LAYERS, CNN_CHANNELS, CNN_CONTEXT), dtype=np.float32)
        self._offset = 0
        self._ids: list[int] = []
        self._last = BLANK
        self._spliced: str | None = None
        self._peak = -np.inf  # the loudest frame so far, log of its mel energy
        self.decoded = 0  # chunks run through the model
        self.skipped = 0  # chunks found silent and not run

    def accept(self, samples: np.ndarray) -> None:
        """Add 16 kHz 16-bit samples; decodes every whole chunk."""
        frames = self._fbank.push(samples)
        if len(frames):
            self._frames = np.concatenate([self._frames, frames])
        while len(self._frames) >= CHUNK_FRAMES:
            chunk = self._frames[:CHUNK_FRAMES]
            if self._silent(chunk):
                # Nothing said: no model call, as if the chunk had not been there.
                self.skipped += 1
                self._last = BLANK
                self._frames = self._frames[STRIDE_FRAMES:]
                continue
            self.decoded += 1
            logits, self._att, self._cnn = self._model.run(
                chunk, self._offset, self._att, self._cnn
            )
            self._offset += len(logits)
            if self._keep:
                self._scores.append(logits)
            self._last = self._collapse(logits, self._ids, self._last)
            self._frames = self._frames[STRIDE_FRAMES:]

    def _silent(self, chunk: np.ndarray) -> bool:
        """Whether every frame of ``chunk`` is far below the loudest heard (the line's hiss
        after an answer, or before it), once speech was heard."""
        below = self._model.skip_below
        loudness = np.logaddexp.reduce(chunk, axis=1)
        peak = max(self._peak, float(loudness.max()))
        quiet = below is not None and self._peak > -np.inf and float(loudness.max()) < peak - below
        self._peak = peak
        return quiet

    def partial(self) -> _Text:
        """The words of the chunks decoded so far (free: no model call)."""
        return _Text(self._model.text(self._ids))

    def peek(self) -> _Text:
        """Everything heard so far, the frames short of a chunk included: one model call on
        them, padded, whose caches are then dropped, so the stream goes on unchanged."""
        ids = list(self._ids)
        tail = self._tail(ids)
        return _Text(self._model.text(self._biased(ids, tail)))

    def final(self) -> _Text:
        """The transcript, the last frames decoded as a padded chunk."""
        tail = self._tail(self._ids)
        self._frames = np.zeros((0, MEL_BINS), dtype=np.float32)
        if self._keep and tail is not None:
            self._scores.append(tail)
            tail = None
        return _Text(self._model.text(self._biased(self._ids, tail)))

    def scores(self) -> np.ndarray:
        """The log-probabilities of every frame decoded so far (frames x tokens), when the
        stream keeps them (biased, or ``keep_scores``)."""
        if not self._scores:
            return np.zeros((0, len(self._model.tokens)), dtype=np.float32)
        return np.concatenate(self._scores)

    @property
    def spliced(self) -> str | None:
        """The expected phrase the last peek or final spliced in, if any."""
        return self._spliced

    def _biased(self, ids: list[int], tail: np.ndarray | None) -> list[int]:
        self._spliced = None
        if self._bias is None:
            return ids
        scores = self._scores + ([tail] if tail is not None else [])
        if not scores:
            return ids
        outcome = self._bias.apply(np.concatenate(scores))
        self._spliced = outcome.phrase
        return outcome.ids

    def close(self) -> None:
        """Nothing native to free; the caches go with the object."""
        self._frames = np.zeros((0, MEL_BINS), dtype=np.float32)

    def _tail(self, ids: list[int]) -> np.ndarray | None:
        """Decode the frames short of a chunk into ``ids``; their log-probabilities."""
        real = len(self._frames)
        if not real:
            return None
        # The padding stands in for the look-ahead the last real frames would have had.
        valid = min(_outputs_for(real + LOOKAHEAD_FRAMES), OUTPUT_FRAMES)
        padded = np.zeros((CHUNK_FRAMES, MEL_BINS), dtype=np.float32)
        padded[:real] = self._frames
        # Urgent: the dialog is waiting for this result.
        logits, _, _ = self._model.run(padded, self._offset, self._att, self._cnn, urgent=True)
        self._collapse(logits[:valid], ids, self._last)
        return logits[:valid]

    @staticmethod
    def _collapse(logits: np.ndarray, ids: list[int], last: int) -> int:
        for best in logits.argmax(axis=-1).tolist():
            if best != last and best != BLANK:
                ids.append(best)
            last = best
        return last


class _Text:
    """A result with ``.text``, as the wheel's own results have."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _load() -> tuple[Any, list[str]]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RecognizerMissing(ENGINE_VIETASR, f"package onnxruntime ({exc})", _HINT) from exc
    model, vocab = embedded_model()
    try:
        model, folded = fold_convolution_weights(model)
        log.info("recogniser: %d convolution weights dequantized at load", folded)
    except Exception as exc:  # the model as shipped still runs, a sixth slower
        log.warning("recogniser: convolution weights left quantized (%s)", exc)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1  # one core per decode; the pool runs decodes side by side
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise RecognizerMissing(ENGINE_VIETASR, f"its embedded model ({exc})", _HINT) from exc
    return session, vocab


def embedded_model() -> tuple[bytes, list[str]]:
    """The model bytes and the token list (index = token id) embedded in the wheel's native
    library. Raises RecognizerMissing when the wheel or its exported symbols are absent."""
    try:
        from vietasr.ffi import NativeLibrary, native
    except (ImportError, OSError) as exc:
        raise RecognizerMissing(ENGINE_VIETASR, f"package viet-asr ({exc})", _HINT) from exc
    _ = native  # loading it first resolves its onnxruntime sibling
    try:
        lib = ctypes.CDLL(NativeLibrary.resolve_library_path())
        model = _blob(lib, "vietasr_asr_model_onnx")
        vocab = _blob(lib, "vietasr_asr_vocab").decode("utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise RecognizerMissing(
            ENGINE_VIETASR, f"the model embedded in libvietasr ({exc})", _HINT
        ) from exc
    tokens: dict[int, str] = {}
    for line in vocab.splitlines():
        token, _, number = line.rpartition(" ")
        if token and number.isdigit():
            tokens[int(number)] = token
    if not tokens or BLANK not in tokens:
        raise RecognizerMissing(ENGINE_VIETASR, "the token list embedded in libvietasr", _HINT)
    return model, [tokens.get(i, "") for i in range(max(tokens) + 1)]


def _blob(lib: ctypes.CDLL, name: str) -> bytes:
    size = ctypes.c_size_t.in_dll(lib, f"{name}_size").value
    start = ctypes.addressof(ctypes.c_char.in_dll(lib, name))
    return ctypes.string_at(start, size)
