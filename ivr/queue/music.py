"""Music on hold: a file from settings, or a generated default gentle enough to wait on.

The default is a slow arpeggio over four chords (I–vi–IV–V in C major) of soft sine tones with
a fade in and out on every note and a quiet fifth beneath, about −20 dBFS: no harsh edges,
nothing a G.711 line distorts, and long enough (16 s) not to sound like a beep loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.audio import LINE_RATE, Audio
from speech.audio import read_wav

NOTE_S = 0.5
CHORDS_HZ = (  # C, Am, F, G: root, third, fifth, octave
    (261.63, 329.63, 392.00, 523.25),
    (220.00, 261.63, 329.63, 440.00),
    (174.61, 220.00, 261.63, 349.23),
    (196.00, 246.94, 293.66, 392.00),
)
PEAK = 0.1 * 32767  # −20 dBFS


def default_music(rate: int = LINE_RATE) -> Audio:
    """The generated hold music: 4 chords × 2 bars × 4 notes of 0.5 s (16 s)."""
    n = int(NOTE_S * rate)
    t = np.arange(n) / rate
    envelope = np.sin(np.pi * np.arange(n) / n) ** 2  # each note swells and fades: no clicks
    notes: list[np.ndarray] = []
    for chord in CHORDS_HZ:
        bass = chord[0] / 2
        for _ in range(2):
            for hz in chord:
                tone = np.sin(2 * np.pi * hz * t) + 0.5 * np.sin(2 * np.pi * bass * t)
                notes.append(tone * envelope / 1.5)
    signal = np.concatenate(notes) * PEAK
    return Audio(signal.astype("<i2").tobytes(), rate)


def load_music(path: Path | None) -> Audio:
    """The music file at `path` at the line rate, or the default when `path` is None."""
    if path is None:
        return default_music()
    pcm, rate = read_wav(path, LINE_RATE)
    if not pcm:
        raise ValueError(f"music on hold file {path} holds no audio")
    return Audio(pcm, rate)


def music_slice(music: Audio, offset_s: float, length_s: float) -> Audio:
    """`length_s` of `music` from `offset_s`, wrapping around: the music continues where the
    previous slice stopped, so slices played one after another sound like one loop."""
    bytes_per_s = music.rate * 2
    total = len(music.pcm)
    start = int(offset_s * bytes_per_s) % total // 2 * 2
    size = int(length_s * bytes_per_s) // 2 * 2
    doubled = music.pcm + music.pcm * (1 + size // total)
    return Audio(doubled[start : start + size], music.rate)
