"""Measure WAV files with the real sox program, as an engineer would by hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support import need


def _run(args: list[str]) -> str:
    need(shutil.which("sox") is not None, "sox is not installed")
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout + done.stderr


def sox_info(path: Path) -> dict[str, str]:
    """``sox --i`` fields: 'Channels', 'Sample Rate', 'Precision', 'Duration' ..."""
    fields: dict[str, str] = {}
    for line in _run(["sox", "--i", str(path)]).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[" ".join(key.split())] = value.strip()
    return fields


def sox_stat(path: Path) -> dict[str, float]:
    """``sox FILE -n stat`` figures: 'Length (seconds)', 'RMS amplitude', 'Maximum amplitude' ..."""
    figures: dict[str, float] = {}
    for line in _run(["sox", str(path), "-n", "stat"]).splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        try:
            figures[" ".join(key.split())] = float(value.split()[0])
        except (ValueError, IndexError):
            continue
    return figures
