"""``tongdai transcribe`` and ``tongdai models download-vosk`` as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cli import main
from speech.audio import read_wav, write_wav
from tests.speech_asr.digits import digits_of
from tests.support import ROOT


def test_one_transcript_per_file_at_any_rate(
    speech_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_1.wav", 44100)
    hifi = tmp_path / "call8k_1_44k.wav"
    write_wav(hifi, pcm, 44100)
    files = [speech_dir / "call8k_1.wav", speech_dir / "clip16k_2.wav", hifi]
    assert main(["transcribe", *map(str, files)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert digits_of(lines[0]).startswith("8753")
    assert "quý vị" in lines[1]
    assert digits_of(lines[2]).startswith("8753")


def test_unreadable_files_keep_the_lines_aligned(
    speech_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "notes.wav"
    fake.write_text("not audio")
    files = [fake, tmp_path / "absent.wav", speech_dir / "clip16k_2.wav"]
    assert main(["transcribe", *map(str, files)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[:2] == ["", ""] and "quý vị" in lines[2]
    assert "notes.wav: " in captured.err and "absent.wav" in captured.err


def test_vosk_engine_from_the_command_line(
    vosk_ko_dir: Path, korean_speech: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["transcribe", "--engine", "vosk", "--model-dir", str(vosk_ko_dir)]
    assert main([*args, str(korean_speech["aniyo"])]) == 0
    assert capsys.readouterr().out.strip()


def test_missing_vosk_model_is_reported(
    speech_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["transcribe", "--engine", "vosk", "--model-dir", str(tmp_path / "nowhere")]
    assert main([*args, str(speech_dir / "clip16k_2.wav")]) == 2
    err = capsys.readouterr().err
    assert "stt-provider-missing" in err and str(tmp_path / "nowhere") in err


def test_missing_native_library_is_reported(speech_dir: Path) -> None:
    env = {**os.environ, "VIETASR_LIBRARY_PATH": "/nonexistent/libvietasr.so"}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "transcribe", str(speech_dir / "clip16k_2.wav")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "stt-provider-missing" in done.stderr and "viet-asr" in done.stderr
    assert "Traceback" not in done.stderr


def test_download_vosk_fails_clearly_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vosk-model-small-vn-0.4.zip"
    assert main(["models", "download-vosk", "--dest", str(tmp_path), "--url", url]) == 1
    err = capsys.readouterr().err
    assert "cannot download" in err and "TONGDAI_SPEECH__VOSK_MODEL_DIR" in err
