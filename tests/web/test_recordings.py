"""Recording uploads: converted to the line format under a generated name; path traversal,
oversize, non-audio and a 2-hour file refused with a reason; nothing written elsewhere."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests import support
from tests.web.test_menu_editor import editor, prepared
from tests.web.test_signin import form_token


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def two_hours(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("long") / "two_hours.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "7200",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "8k",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    return path.read_bytes()


def test_uploads_are_converted_or_refused_with_a_reason(
    app: FastAPI, sessions, tmp_path: Path, two_hours: bytes
) -> None:
    prepared(sessions)
    app.state.web.settings.web.upload_max_bytes = 8_000_000
    source = support.testdata_dir() / "speech" / "clip16k_1.wav"
    ogg = tmp_path / "clip.ogg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), str(ogg)], check=True)
    folder = tmp_path / "recordings"
    before = files_under(tmp_path)

    with editor(app, "lan") as client:

        def upload(name: str, data: bytes) -> str:
            csrf = form_token(client, "/menus/recordings")
            answer = client.post(
                "/menus/recordings",
                data={"csrf_token": csrf},
                files={"file": (name, data, "application/octet-stream")},
            )
            return f"{answer.status_code} {answer.text}"

        assert "Tên tệp không hợp lệ" in upload("../../etc/passwd.wav", ogg.read_bytes())
        assert "Tên tệp không hợp lệ" in upload("..\\x.wav", ogg.read_bytes())
        assert "Chỉ nhận tệp WAV, MP3 hoặc OGG" in upload("run.sh", b"#!/bin/sh\n")
        assert "không phải âm thanh" in upload("fake.wav", b"RIFF....WAVEfmt " + b"x" * 4000)
        assert "Tệp quá lớn" in upload("big.wav", b"\0" * 8_000_001)
        refused = upload("two_hours.mp3", two_hours)
        assert refused.startswith("422") and "dài 7200 giây, quá giới hạn 300 giây" in refused
        stored = upload("lời chào.ogg", ogg.read_bytes())
        assert stored.startswith("200") and "Đã lưu rec-" in stored

    made = files_under(tmp_path) - before
    assert len(made) == 1 and made.pop().parent == folder  # nothing else written anywhere
    [wav] = list(folder.glob("rec-*.wav"))
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    with editor(app, "lan") as client:
        assert client.get(f"/menus/recordings/{wav.name}").content == wav.read_bytes()
        assert client.get("/menus/recordings/..%2F..%2Fweb.db").status_code == 404
