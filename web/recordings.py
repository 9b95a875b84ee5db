"""Uploaded prompt recordings: checked, converted to the line format (8 kHz mono 16-bit WAV)
and stored under generated names in the recordings folder, which is never served as a folder.

Refused with a reason: a file name with a path in it, an unknown extension, more than
``max_bytes``, content ffprobe does not see as WAV, MP3 or OGG audio, or longer than ``max_s``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from speech.audio import AudioFormatError, decode_audio, write_wav

LINE_RATE_HZ = 8000
PROBE_TIMEOUT_S = 20.0
ALLOWED_SUFFIXES = {".wav": "wav", ".mp3": "mp3", ".ogg": "ogg", ".oga": "ogg"}
ALLOWED_FORMATS = {"wav", "mp3", "ogg"}
STORED_NAME = re.compile(r"^rec-[0-9a-f]{32}\.wav$")


class RecordingRefused(ValueError):
    """The upload cannot be stored; the message (Vietnamese) says why."""


@dataclass(frozen=True)
class StoredRecording:
    """A stored recording: its generated name and length."""

    name: str
    duration_s: float


def check_filename(filename: str) -> str:
    """The container format the name's extension implies; RecordingRefused for a name with a
    path in it or another extension."""
    if (
        not filename
        or "/" in filename
        or "\\" in filename
        or ".." in filename
        or "\x00" in filename
    ):
        raise RecordingRefused("Tên tệp không hợp lệ (không được chứa đường dẫn).")
    fmt = ALLOWED_SUFFIXES.get(Path(filename).suffix.lower())
    if fmt is None:
        raise RecordingRefused("Chỉ nhận tệp WAV, MP3 hoặc OGG.")
    return fmt


def probe(path: Path) -> tuple[str, float]:
    """The format ffprobe sees and the duration in seconds; RecordingRefused if not audio."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise RecordingRefused("Máy chủ thiếu ffprobe (gói ffmpeg).")
    try:
        done = subprocess.run(
            [
                ffprobe,
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                str(path),
            ],
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RecordingRefused("Không đọc được tệp âm thanh (quá thời gian).") from None
    try:
        info = json.loads(done.stdout or b"{}")
    except ValueError:
        info = {}
    streams = info.get("streams") or []
    names = set(str(info.get("format", {}).get("format_name", "")).split(","))
    if done.returncode != 0 or not any(s.get("codec_type") == "audio" for s in streams):
        raise RecordingRefused("Tệp không phải âm thanh WAV, MP3 hoặc OGG.")
    if any(
        s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic") != 1
        for s in streams
    ):
        raise RecordingRefused("Tệp có hình ảnh động: chỉ nhận âm thanh.")
    fmt = next((n for n in names if n in ALLOWED_FORMATS), None)
    if fmt is None:
        raise RecordingRefused("Tệp không phải âm thanh WAV, MP3 hoặc OGG.")
    try:
        duration = float(info.get("format", {}).get("duration", "nan"))
    except ValueError:
        duration = float("nan")
    if duration != duration:  # NaN: ffprobe could not tell
        raise RecordingRefused("Không xác định được độ dài bản ghi.")
    return fmt, duration


def store_upload(
    folder: Path, filename: str, data: bytes, *, max_bytes: int, max_s: float
) -> StoredRecording:
    """Check and convert an upload; the stored recording. Nothing is left behind on refusal."""
    check_filename(filename)
    if len(data) > max_bytes:
        raise RecordingRefused(f"Tệp quá lớn: tối đa {max_bytes // 1_000_000} MB.")
    if not data:
        raise RecordingRefused("Tệp rỗng.")
    incoming = folder / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    temp = incoming / uuid.uuid4().hex
    try:
        temp.write_bytes(data)
        fmt, duration = probe(temp)
        if duration > max_s:
            raise RecordingRefused(
                f"Bản ghi dài {duration:.0f} giây, quá giới hạn {max_s:.0f} giây."
            )
        try:
            pcm, _ = decode_audio(temp, fmt=fmt, rate=LINE_RATE_HZ)
        except AudioFormatError:
            raise RecordingRefused("Không giải mã được tệp âm thanh.") from None
        name = f"rec-{uuid.uuid4().hex}.wav"
        write_wav(folder / name, pcm, LINE_RATE_HZ)
        return StoredRecording(name, len(pcm) / 2 / LINE_RATE_HZ)
    finally:
        temp.unlink(missing_ok=True)


def stored_path(folder: Path, name: str) -> Path | None:
    """The path of a stored recording named ``name`` (generated names only), or None."""
    if not STORED_NAME.fullmatch(name):
        return None
    path = folder / name
    return path if path.is_file() else None


def list_recordings(folder: Path) -> list[str]:
    """Stored recordings, newest first."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if STORED_NAME.fullmatch(p.name)]
    return [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)]
