"""The vosk (Kaldi) engine: a model directory named in settings, streaming decoding with
partial results, grammar mode (recognition restricted to a phrase list plus ``[unk]``) and
the model's own endpointing (trailing-silence rules in its ``conf/model.conf``).

For Vietnamese the model is ``vosk-model-small-vn-0.4``; :func:`download_model` fetches it
where the internet is reachable.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from speech.asr import (
    ENGINE_VOSK,
    VN_MODEL_NAME,
    VN_MODEL_URL,
    Capabilities,
    Partial,
    RecognizerBusy,
    RecognizerMissing,
    clean_grammar,
)
from speech.recognition_pool import PooledSession, RecognitionPool, StreamSlot

log = logging.getLogger(__name__)

MODEL_RATE = 16000
DOWNLOAD_TIMEOUT_S = 30.0
UNKNOWN_WORD = "[unk]"
_MODEL_FILES = ("am/final.mdl", "conf/model.conf")
_SETUP_HINT = (
    f"run `tongdai models download-vosk` (or unzip {VN_MODEL_NAME}.zip) and set "
    "TONGDAI_SPEECH__VOSK_MODEL_DIR to the model directory"
)


def check_model_dir(model_dir: Path | None) -> Path:
    """The model directory if it holds a vosk model, else RecognizerMissing naming it."""
    if model_dir is None:
        raise RecognizerMissing(ENGINE_VOSK, "the model directory (not configured)", _SETUP_HINT)
    path = Path(model_dir)
    if not path.is_dir():
        raise RecognizerMissing(ENGINE_VOSK, f"model directory {path}", _SETUP_HINT)
    absent = [name for name in _MODEL_FILES if not (path / name).is_file()]
    if absent:
        raise RecognizerMissing(
            ENGINE_VOSK, f"vosk model in {path} (no {', '.join(absent)})", _SETUP_HINT
        )
    return path


class VoskModel:
    """A vosk model directory, loaded lazily and at most once, from any thread."""

    def __init__(self, model_dir: Path | None) -> None:
        self.model_dir = check_model_dir(model_dir)
        self.loads = 0
        self._lock = threading.Lock()
        self._model: Any = None

    def model(self) -> Any:
        """The loaded ``vosk.Model``; blocks while it loads. Raises RecognizerMissing."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
                self.loads += 1
            return self._model

    def _load(self) -> Any:
        try:
            import vosk
        except (ImportError, OSError) as exc:
            raise RecognizerMissing(
                ENGINE_VOSK, f"package vosk ({exc})", "install it with `pip install vosk`"
            ) from exc
        # Kaldi logs every decoder it builds on stderr; -2 keeps only errors. Words a grammar
        # lacks are reported through logging instead (see unknown_words).
        vosk.SetLogLevel(-2)
        try:
            return vosk.Model(str(self.model_dir))
        except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the files
            raise RecognizerMissing(
                ENGINE_VOSK, f"a loadable model in {self.model_dir} ({exc})", _SETUP_HINT
            ) from exc

    def unknown_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of ``phrases`` the model's vocabulary lacks (vosk would silently drop them)."""
        model = self.model()
        words = {word for phrase in phrases for word in phrase.split() if word != UNKNOWN_WORD}
        return sorted(word for word in words if model.vosk_model_find_word(word) < 0)


_shared_lock = threading.Lock()
_shared_models: dict[Path, VoskModel] = {}


def shared_model(model_dir: Path | None) -> VoskModel:
    """The process-wide model of ``model_dir`` (checked now, loaded on first use), so every
    recogniser of a worker process shares one copy of the graph."""
    path = check_model_dir(model_dir).resolve()
    with _shared_lock:
        model = _shared_models.get(path)
        if model is None:
            model = _shared_models[path] = VoskModel(path)
        return model


class VoskSession(PooledSession):
    """One KaldiRecognizer; utterances ended by the model's endpointer are kept in order."""

    def __init__(
        self,
        *,
        model: VoskModel,
        pool: RecognitionPool,
        slot: StreamSlot,
        grammar: list[str] | None,
        chunk_ms: int,
    ) -> None:
        super().__init__(
            pool=pool, slot=slot, engine=ENGINE_VOSK, model_rate=MODEL_RATE, chunk_ms=chunk_ms
        )
        self._model = model
        self._grammar = grammar
        self._decoder: Any = None
        self._segments: list[str] = []
        self._confidences: list[float] = []

    def _recognizer(self) -> Any:
        if self._decoder is None:
            import vosk

            model = self._model.model()
            if self._grammar is None:
                decoder = vosk.KaldiRecognizer(model, float(MODEL_RATE))
            else:
                missing = self._model.unknown_words(self._grammar)
                if missing:
                    log.warning("vosk grammar words not in the model vocabulary: %s", missing)
                # ensure_ascii=False: vosk's JSON reader does not decode \\u escapes.
                phrases = json.dumps([*self._grammar, UNKNOWN_WORD], ensure_ascii=False)
                decoder = vosk.KaldiRecognizer(model, float(MODEL_RATE), phrases)
            decoder.SetWords(True)  # per-word confidences
            self._decoder = decoder
        return self._decoder

    def _take(self, raw: str) -> None:
        result = json.loads(raw)
        words = [w for w in result.get("result", []) if w.get("word") != UNKNOWN_WORD]
        text = " ".join(w["word"] for w in words) if words else result.get("text", "")
        text = " ".join(t for t in text.split() if t != UNKNOWN_WORD)
        if text:
            self._segments.append(text)
        self._confidences.extend(float(w.get("conf", 0.0)) for w in words)

    def _joined(self, tail: str = "") -> str:
        return " ".join([*self._segments, tail]).strip()

    def _accept(self, chunk: bytes) -> Partial | None:
        decoder = self._recognizer()
        if decoder.AcceptWaveform(chunk):
            self._take(decoder.Result())
            return Partial(text=self._joined(), endpoint=True)
        partial = json.loads(decoder.PartialResult()).get("partial", "")
        return Partial(text=self._joined(partial))

    def _peek(self, chunk: bytes) -> str:
        decoder = self._recognizer()
        if chunk and decoder.AcceptWaveform(chunk):
            self._take(decoder.Result())
            return self._joined()
        return self._joined(json.loads(decoder.PartialResult()).get("partial", ""))

    def _final(self, chunk: bytes) -> tuple[str, float | None]:
        decoder = self._recognizer()
        if chunk and decoder.AcceptWaveform(chunk):
            self._take(decoder.Result())
        self._take(decoder.FinalResult())
        confidence = sum(self._confidences) / len(self._confidences) if self._confidences else None
        return self._joined(), confidence

    def _free(self) -> None:
        self._decoder = None  # the vosk wrapper frees the native recogniser when collected


class VoskRecognizer:
    """The vosk :class:`~speech.asr.Recognizer`."""

    def __init__(
        self,
        *,
        model_dir: Path | None,
        pool: RecognitionPool,
        language: str = "vi",
        chunk_ms: int = 100,
        model: VoskModel | None = None,
    ) -> None:
        self._model = model if model is not None else shared_model(model_dir)
        self._pool = pool
        self._chunk_ms = chunk_ms
        self._capabilities = Capabilities(
            streaming=True,
            grammar=True,
            sample_rate=MODEL_RATE,
            languages=(language,),
            partials=True,
        )

    @property
    def name(self) -> str:
        """Engine name, as in settings."""
        return ENGINE_VOSK

    @property
    def capabilities(self) -> Capabilities:
        """Streaming with partials and grammar mode, 16 kHz."""
        return self._capabilities

    @property
    def model(self) -> VoskModel:
        """The model this recogniser decodes with."""
        return self._model

    def open_session(self, *, grammar: Sequence[str] | None = None) -> VoskSession:
        """A new session, restricted to ``grammar`` phrases (plus ``[unk]``) when given."""
        phrases = clean_grammar(grammar) if grammar is not None else None
        slot = self._pool.try_acquire()
        if slot is None:
            raise RecognizerBusy(
                f"{ENGINE_VOSK}: all {self._pool.max_streams} recognition slots are busy"
            )
        return VoskSession(
            model=self._model, pool=self._pool, slot=slot, grammar=phrases, chunk_ms=self._chunk_ms
        )

    async def load(self) -> None:
        """Load the model on a pool thread. Raises RecognizerMissing."""
        await self._pool.run(self._model.model)

    def close(self) -> None:
        """Stop the worker pool."""
        self._pool.shutdown()


class ModelDownloadError(Exception):
    """A model could not be downloaded or unpacked; the message says what to do instead."""

    code = "stt-model-download"


def download_model(
    dest_dir: Path,
    *,
    url: str = VN_MODEL_URL,
    timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Download a vosk model zip from ``url`` and unpack it under ``dest_dir``.

    Returns the model directory (checked with :func:`check_model_dir`). Raises
    :class:`ModelDownloadError` when the server is unreachable, the file is not a zip, an
    entry would escape ``dest_dir``, or the archive holds no vosk model.
    """
    offline_hint = (
        f"without internet, copy {PurePosixPath(url).name} from a connected machine, "
        f"unzip it into {dest_dir} and set TONGDAI_SPEECH__VOSK_MODEL_DIR"
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=dest_dir) as archive:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                shutil.copyfileobj(response, archive)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                reason: object = f"HTTP {exc.code} {exc.reason}"
            else:
                reason = getattr(exc, "reason", exc)
            raise ModelDownloadError(f"cannot download {url}: {reason}; {offline_hint}") from exc
        archive.seek(0)
        try:
            with zipfile.ZipFile(archive) as bundle:
                tops = _safe_extract(bundle, dest_dir)
        except zipfile.BadZipFile as exc:
            raise ModelDownloadError(f"{url} is not a zip archive ({exc})") from exc
    for top in sorted(tops):
        candidate = dest_dir / top
        try:
            return check_model_dir(candidate)
        except RecognizerMissing:
            continue
    raise ModelDownloadError(f"{url} holds no vosk model (no {' and '.join(_MODEL_FILES)})")


def _safe_extract(bundle: zipfile.ZipFile, dest_dir: Path) -> set[str]:
    root = dest_dir.resolve()
    tops: set[str] = set()
    for member in bundle.namelist():
        target = (root / member).resolve()
        if not target.is_relative_to(root) or target == root:
            raise ModelDownloadError(f"refusing archive entry outside {dest_dir}: {member!r}")
        tops.add(PurePosixPath(member).parts[0])
    bundle.extractall(root)
    return tops
