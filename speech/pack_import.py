"""Importing a voice pack from a folder of recordings named by their text.

``không.wav``, ``tháng.wav``, ``cần bổ sung giấy tờ.wav`` (an underscore stands for a space):
each file is decoded (any format ffmpeg reads), mixed to mono, resampled to the line rate,
trimmed of leading and trailing silence and written into the pack folder under a safe name; the
pack's manifest maps each text to its file. Files that cannot be used are reported, never half
imported; fragments already in the pack are replaced by the new recording.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio import LINE_RATE
from speech.audio import AudioFormatError, decode_audio, wav_bytes
from speech.voice_pack import MANIFEST, fragment_key, trim

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac", ".m4a")
MAX_FRAGMENT_BYTES = 10 * 1024 * 1024
"""A fragment is a word or a phrase: a file larger than this is refused."""

MIN_FRAGMENT_S = 0.05
"""Shorter than this after trimming is silence, not a word."""


@dataclass
class ImportReport:
    """What an import did: texts imported, files refused with the reason."""

    imported: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def text_of(path: Path) -> str:
    """The fragment text a file name stands for (``cần_bổ_sung.wav`` -> ``cần bổ sung``)."""
    return fragment_key(unicodedata.normalize("NFC", path.stem).replace("_", " "))


def _file_name(key: str) -> str:
    # ASCII names: a pack copied between systems keeps working whatever the file system's
    # Unicode normalisation.
    return hashlib.sha1(key.encode()).hexdigest()[:16] + ".wav"


def read_manifest(pack_dir: Path) -> dict[str, str]:
    """The pack's fragments (text -> file name); empty when there is no pack yet."""
    path = pack_dir / MANIFEST
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in dict(data.get("fragments", {})).items()}


def import_pack(source: Path, pack_dir: Path, *, rate: int = LINE_RATE) -> ImportReport:
    """Add every recording in ``source`` to the pack in ``pack_dir`` (created when absent)."""
    report = ImportReport()
    fragments = read_manifest(pack_dir)
    pack_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        key = text_of(path)
        if not key:
            report.refused[path.name] = "the file name holds no words"
            continue
        if path.stat().st_size > MAX_FRAGMENT_BYTES:
            report.refused[path.name] = "too large for a word or phrase"
            continue
        try:
            pcm, _ = decode_audio(path, rate=rate)
        except AudioFormatError as exc:
            report.refused[path.name] = str(exc)
            continue
        samples = trim(np.frombuffer(pcm, dtype="<i2").astype(np.float32), rate)
        if samples.size < MIN_FRAGMENT_S * rate:
            report.refused[path.name] = "silent or too short"
            continue
        name = _file_name(key)
        _write(pack_dir / name, wav_bytes(samples.astype("<i2").tobytes(), rate))
        fragments[key] = name
        report.imported.append(key)
    manifest = {"rate": rate, "fragments": dict(sorted(fragments.items()))}
    _write(pack_dir / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    return report


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a running hotline never reads half a file
