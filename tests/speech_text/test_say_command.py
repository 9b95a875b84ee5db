"""``tongdai say`` run as the real console command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from speech.audio import read_wav
from tests.speech_text.sox_probe import sox_info, sox_stat
from tests.support import need

TONGDAI = Path(sys.executable).parent / "tongdai"
STATUS = "Hồ sơ 000.00.14.H56-200203-0118 đang xử lý, hẹn trả ngày 29/12/2021."


def _say(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    need(TONGDAI.exists(), f"{TONGDAI} is not installed (pip install -e .)")
    need(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    env = {**os.environ, "TONGDAI_SPEECH__PROMPT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [str(TONGDAI), "say", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )


def test_say_renders_a_status_answer(tmp_path: Path) -> None:
    out = tmp_path / "status.wav"
    done = _say(tmp_path, STATUS, "-o", str(out), "--engine", "espeak-ng")
    assert done.returncode == 0, done.stderr
    assert "espeak-ng" in done.stdout
    assert "hai mươi chín tháng mười hai" in done.stderr  # the spoken form is shown
    info = sox_info(out)
    assert (info["Sample Rate"], info["Channels"]) == ("8000", "1")
    stat = sox_stat(out)
    assert 6.0 < stat["Length (seconds)"] < 30.0
    assert stat["RMS amplitude"] > 0.02
    # What was rendered is in the prompt cache for the next caller.
    assert len(list((tmp_path / "cache").rglob("*.wav"))) == 2


def _say_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """The same command through ``cli.main`` in this process (no second interpreter start-up)."""
    need(shutil.which("espeak-ng") is not None, "espeak-ng is not installed")
    import cli

    monkeypatch.setenv("TONGDAI_SPEECH__PROMPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    code = cli.main(["say", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_say_default_engine_always_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hello.wav"
    code, stdout, _ = _say_in_process(
        tmp_path, monkeypatch, capsys, "Xin chào", "-o", str(out), "--rate", "16000", "--no-cache"
    )
    assert code == 0
    assert "16000 Hz" in stdout
    assert sox_info(out)["Sample Rate"] == "16000"
    assert sox_stat(out)["RMS amplitude"] > 0.02
    assert not (tmp_path / "cache").exists()


def test_say_through_g711(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean, line = tmp_path / "clean.wav", tmp_path / "line.wav"
    for out, extra in ((clean, []), (line, ["--codec", "pcma"])):
        code, _, _ = _say_in_process(
            tmp_path,
            monkeypatch,
            capsys,
            "Xin chào",
            "-o",
            str(out),
            "--engine",
            "espeak-ng",
            *extra,
        )
        assert code == 0
    clean_pcm, _ = read_wav(clean)
    line_pcm, _ = read_wav(line)
    assert len(clean_pcm) == len(line_pcm) and clean_pcm != line_pcm  # companded, same length
    assert sox_stat(line)["RMS amplitude"] == pytest.approx(
        sox_stat(clean)["RMS amplitude"], rel=0.05
    )


@pytest.mark.parametrize(
    "args",
    [
        ["   ", "-o", "x.wav"],
        ["xin chào", "-o", "x.wav", "--rate", "100"],
        ["xin chào", "-o", "x.wav", "--rate", "16000", "--codec", "pcmu"],
    ],
)
def test_say_refuses_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    code, _, stderr = _say_in_process(tmp_path, monkeypatch, capsys, *args)
    assert code == 2
    assert "tongdai say:" in stderr
    assert not (tmp_path / "x.wav").exists()
