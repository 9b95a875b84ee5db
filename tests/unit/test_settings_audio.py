"""Settings layering and the one resampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from config.settings import load_settings
from speech.audio import read_wav, resample, wav_bytes


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGDAI_SIP__PORT", "5077")
    monkeypatch.setenv("TONGDAI_DATABASE_URL", "sqlite:///x.db")
    s = load_settings()
    assert s.sip.port == 5077
    assert s.database_url == "sqlite:///x.db"
    assert "operator" in s.sip.transfer_targets  # from config/tongdai.yaml


def test_resample_keeps_a_tone() -> None:
    t = np.arange(8000) / 8000
    tone = (np.sin(2 * np.pi * 440 * t) * 10000).astype("<i2").tobytes()
    up = np.frombuffer(resample(tone, 8000, 16000), dtype="<i2")
    assert len(up) == 16000
    spectrum = np.abs(np.fft.rfft(up))
    assert abs(np.argmax(spectrum) * 16000 / len(up) - 440) < 2


def test_read_wav_resamples(tmp_path: Path, speech_dir: Path) -> None:
    pcm, rate = read_wav(speech_dir / "call8k_1.wav", rate=16000)
    assert rate == 16000
    assert 2.7 < len(pcm) / 2 / 16000 < 2.95
    out = tmp_path / "x.wav"
    out.write_bytes(wav_bytes(pcm, rate))
    assert read_wav(out)[1] == 16000
