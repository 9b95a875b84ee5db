"""A bridge's recording from its tapes: packets put back on the bridge's timeline by their RTP
timestamps (network jitter removed, silences kept), a new source placed by its arrival; the
stereo WAV owner-only with the tapes gone; the retention's purge."""

from __future__ import annotations

import os
import random
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import g711
from ivr.bridge.recording import (
    BridgeRecorder,
    place_leg,
    purge_recordings,
    recording_path,
    write_bridge_wav,
)
from ivr.media.leg_tape import HEAD_DTYPE, LegTape, TapeContents, read_tape

RATE = 8000
STARTED = 1000.0  # the loop's clock when the bridge started


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped by a slow envelope: no two 20 ms frames alike, so a misplaced packet shows."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    envelope = 0.5 + 0.5 * np.sin(np.arange(n) / RATE * 2 * np.pi * 3)
    return (rng.normal(0, 4000, n) * envelope).clip(-32000, 32000).astype(np.int16)


@dataclass(frozen=True)
class TapedPacket:
    arrival: float
    timestamp: int
    ssrc: int
    law: int
    payload: bytes


def tape_of(packets: list[TapedPacket]) -> TapeContents:
    heads = np.array(
        [(p.arrival, p.timestamp, p.ssrc, p.law, len(p.payload)) for p in packets], HEAD_DTYPE
    )
    return TapeContents(heads, b"".join(p.payload for p in packets))


def g711_round_trip(pcm: np.ndarray) -> np.ndarray:
    return np.frombuffer(g711.alaw_decode(g711.alaw_encode(pcm.tobytes())), dtype="<i2")


def packets_of(
    pcm: np.ndarray, *, first_ts: int, ssrc: int, sent_at: float, jitter_s: float, seed: int
) -> list[TapedPacket]:
    """`pcm` as 20 ms A-law packets; each arrives 20 ms after its first sample was spoken
    (sent at `sent_at` + its place) plus up to `jitter_s` of network delay."""
    rng = random.Random(seed)
    out = []
    for i in range(0, len(pcm) - 159, 160):
        payload = g711.alaw_encode(pcm[i : i + 160].tobytes())
        arrival = sent_at + (i + 160) / RATE + rng.uniform(0, jitter_s)
        out.append(TapedPacket(arrival, (first_ts + i) & 0xFFFFFFFF, ssrc, 8, payload))
    return out


def test_jittered_packets_land_on_their_timestamps_and_a_pause_stays_silent() -> None:
    first, second = speech_like(2.0, 1), speech_like(1.0, 2)
    # 2 s of speech from 0.5 s, a 1.5 s pause (no packets: silence suppression), 1 s more;
    # timestamps near the 32-bit wrap
    packets = packets_of(first, first_ts=0xFFFFF000, ssrc=7, sent_at=STARTED + 0.5,
                         jitter_s=0.03, seed=3)  # fmt: skip
    packets += packets_of(second, first_ts=0xFFFFF000 + 28000, ssrc=7,
                          sent_at=STARTED + 4.0, jitter_s=0.03, seed=4)  # fmt: skip
    packets.sort(key=lambda p: p.arrival)  # as they came
    out = place_leg(tape_of(packets), STARTED, 6 * RATE)
    # the least delayed packet fixes the run: every other packet sits on its own timestamp
    lead = next(i for i, v in enumerate(out) if v)
    assert abs(lead - 0.5 * RATE) <= 0.002 * RATE  # within the jitter's luck of 0.5 s
    assert np.array_equal(out[lead : lead + len(first)], g711_round_trip(first))
    resumed = lead + int(3.5 * RATE)
    assert not np.any(out[lead + len(first) : resumed])  # the pause kept, silent
    assert np.array_equal(out[resumed : resumed + len(second)], g711_round_trip(second))


def test_a_new_source_is_placed_by_its_arrival() -> None:
    first, second = speech_like(1.0, 5), speech_like(1.0, 6)
    packets = packets_of(first, first_ts=1000, ssrc=1, sent_at=STARTED, jitter_s=0, seed=0)
    # a re-INVITE: another SSRC whose timestamps mean nothing on the old scale, 2 s later
    packets += packets_of(second, first_ts=123456789, ssrc=2, sent_at=STARTED + 3.0,
                          jitter_s=0, seed=0)  # fmt: skip
    out = place_leg(tape_of(packets), STARTED, 5 * RATE)
    assert np.array_equal(out[:RATE], g711_round_trip(first))
    assert not np.any(out[RATE : 3 * RATE])
    assert np.array_equal(out[3 * RATE : 4 * RATE], g711_round_trip(second))
    # a source whose timestamps run away from its arrivals (a jump of 10 s) restarts too
    jumped = packets_of(first, first_ts=0, ssrc=1, sent_at=STARTED, jitter_s=0, seed=0)
    jumped[25:] = [TapedPacket(p.arrival, p.timestamp + 80_000, 1, 8, p.payload)
                   for p in jumped[25:]]  # fmt: skip
    assert np.array_equal(place_leg(tape_of(jumped), STARTED, RATE), g711_round_trip(first))


def test_the_wav_is_stereo_owner_only_as_long_as_the_bridge_and_the_tapes_go(
    tmp_path: Path,
) -> None:
    os.umask(0o022)  # what the hotline's own umask (077) would hide
    caller, officer = speech_like(1.0, 8), speech_like(0.6, 9)
    recorder = BridgeRecorder(tmp_path / "recordings")
    tapes = recorder.start(STARTED)
    for p in packets_of(caller, first_ts=0, ssrc=1, sent_at=STARTED, jitter_s=0.01, seed=1):
        tapes.caller.add(p.arrival, p.timestamp, p.ssrc, "PCMA", p.payload)
    ulaw = g711.ulaw_encode(officer.tobytes())
    for i in range(0, len(ulaw), 160):  # the officer's phone speaks PCMU from 0.2 s
        tapes.officer.add(STARTED + 0.2 + (i + 160) / RATE, 5000 + i, 9, "PCMU", ulaw[i : i + 160])
    tapes.stop(STARTED + 1.5)
    assert tapes.caller.packets == 50
    recorded = write_bridge_wav(recorder.directory, tapes)
    assert recorded.path == recording_path(recorder.directory, tapes.name)
    assert recorded.path.stat().st_mode & 0o777 == 0o600
    assert recorded.duration_s == 1.5
    assert sorted(p.name for p in recorder.directory.iterdir()) == [recorded.path.name]
    with wave.open(str(recorded.path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, RATE, 12000)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    left, right = frames[:, 0], frames[:, 1]
    lead = next(i for i, v in enumerate(left) if v)
    assert np.array_equal(left[lead : lead + RATE], g711_round_trip(caller))
    decoded = np.frombuffer(g711.ulaw_decode(ulaw), dtype="<i2")
    assert np.array_equal(right[int(0.2 * RATE) : int(0.8 * RATE)], decoded)
    assert not np.any(right[: int(0.2 * RATE)]) and not np.any(right[int(0.8 * RATE) :])
    assert recording_path(recorder.directory, "../etc/passwd") is None


def test_the_purge_removes_recordings_past_the_retention_and_forgotten_tapes(
    tmp_path: Path,
) -> None:
    now = time.time()
    old, new = tmp_path / f"bridge-{'a' * 26}.wav", tmp_path / f"bridge-{'b' * 26}.wav"
    forgotten, running = (tmp_path / f".bridge-{'c' * 26}.caller.g711",
                          tmp_path / f".bridge-{'d' * 26}.officer.tape")  # fmt: skip
    other = tmp_path / "notes.wav"
    for path in (old, new, forgotten, running, other):
        path.write_bytes(b"x")
    os.utime(old, (now - 40 * 86400, now - 40 * 86400))
    os.utime(other, (now - 40 * 86400, now - 40 * 86400))
    os.utime(forgotten, (now - 2 * 86400, now - 2 * 86400))
    assert purge_recordings(tmp_path, before=now - 30 * 86400, now=now) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [new.name, running.name, other.name]
    )
    assert purge_recordings(tmp_path / "none", before=now) == 0


def test_a_tape_keeps_g711_only_until_closed_and_a_torn_end_is_cut(tmp_path: Path) -> None:
    tape = LegTape(tmp_path / "t")
    tape.add(1.0, 0, 1, "G722", b"\x00" * 160)  # not G.711: not recorded
    tape.add(1.0, 0, 1, "PCMU", b"\xff" * 160)
    tape.add(1.02, 160, 1, "PCMA", b"\xd5" * 80)
    tape.close()
    tape.add(1.04, 240, 1, "PCMU", b"\xff" * 160)  # after the end: ignored
    assert read_tape(tape).heads.size == 0  # nothing on disk until appended
    tape.append(*tape.take())
    contents = read_tape(tape)
    assert contents.heads["law"].tolist() == [0, 8] and len(contents.audio) == 240
    assert tape.packets == 2
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in tape.paths)
    with tape.paths[1].open("r+b") as audio:  # the last payload only half written
        audio.truncate(200)
    assert read_tape(tape).heads["length"].tolist() == [160]
    tape.remove()
    assert list(tmp_path.iterdir()) == []


async def test_full_buffers_go_to_the_files_in_the_recorders_thread(tmp_path: Path) -> None:
    recorder = BridgeRecorder(tmp_path / "recordings")
    tapes = recorder.start(STARTED)
    pcm = speech_like(20.0, 11)  # 160 kB of A-law: the buffers fill twice
    packets = packets_of(pcm, first_ts=0, ssrc=3, sent_at=STARTED, jitter_s=0.002, seed=2)
    threads: set[str] = set()
    append = tapes.caller.append

    def appended(heads: bytes | bytearray, audio: bytes | bytearray) -> None:
        threads.add(threading.current_thread().name)
        append(heads, audio)

    tapes.caller.append = appended  # type: ignore[method-assign]
    for p in packets:
        tapes.caller.add(p.arrival, p.timestamp, p.ssrc, "PCMA", p.payload)
    task = recorder.finish(tapes, now=STARTED + 21.0, call_id="c", officer="1001",
                           department="d")  # fmt: skip
    recorded = await task
    await recorder.drain()
    assert recorded is not None and recorded.duration_s == 21.0
    assert len(threads) == 1 and threads.pop().startswith("bridge-recording")
    with wave.open(str(recorded.path), "rb") as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    lead = next(i for i, v in enumerate(frames[:, 0]) if v)
    assert np.array_equal(frames[lead : lead + len(pcm), 0], g711_round_trip(pcm))
    assert not np.any(frames[:, 1])  # the officer said nothing
