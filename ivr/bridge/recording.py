"""Recordings of bridged conversations: a stereo WAV per bridge, caller left, officer right.

While a bridge runs, each direction's relay appends the packets it sent on to a tape of its
own (:class:`~ivr.media.leg_tape.LegTape`, undecoded, from the datagram callback). When the
bridge ends the two tapes become one WAV in a thread: each packet is decoded and put where it
belongs on the bridge's timeline, so the silences (nothing relayed: a muted phone, silence
suppression, the other side's hold) stay where they were and both channels line up.

Where a packet goes: its RTP timestamp gives its place inside a run of packets from one source
(its own spacing, free of network jitter); the run is placed on the bridge's clock by its least
delayed packet (arrival time minus the payload's length). A new SSRC, or a packet whose
timestamp and arrival disagree with its predecessor's by more than :data:`RESYNC_S`, starts a
new run. All of it is array arithmetic over the tape (no Python step per packet), so the
thread writing a recording hardly competes with the event loop for the interpreter.

Files: ``bridge-<26 random letters>.wav`` in the recordings folder, mode 0600, named from
nothing the caller sent; the tapes ``.bridge-<same>.caller.tape`` / ``.caller.g711`` and the
officer's beside it until the WAV is written. The call's timeline gets a
:class:`~ivr.events.BridgeRecorded` event naming the file; the web app serves it only to
those who may listen. :func:`purge_recordings` applies the calls' retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import string
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core import g711
from core.audio import LINE_RATE
from core.private_wav import write_private_wav
from ivr.events import BridgeRecorded, EventSink
from ivr.media.leg_tape import LegTape, TapeContents, read_tape

log = logging.getLogger(__name__)

RESYNC_S = 0.5  # timestamps jumping this far from the arrivals: the source restarted
STALE_TAPE_S = 86_400.0  # a tape this old belongs to no running bridge (a crash): deleted
_NAME = re.compile(r"^bridge-[a-z]{26}$")
_WAV = re.compile(r"^bridge-[a-z]{26}\.wav$")
_TAPE = re.compile(r"^\.bridge-[a-z]{26}\.(caller|officer)\.(tape|g711)$")
_CHUNK = 3000  # packets decoded at once (a minute of 20 ms packets)
_ULAW = np.frombuffer(g711.ulaw_decode(bytes(range(256))), dtype="<i2")
_ALAW = np.frombuffer(g711.alaw_decode(bytes(range(256))), dtype="<i2")


def new_recording_name() -> str:
    """A fresh file stem: random letters (no digits, so no masking ever mistakes it for a
    number), nothing from the call."""
    return "bridge-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(26))


def recording_path(directory: Path, name: str) -> Path | None:
    """The WAV of recording `name`, or None when `name` is not a recording's name."""
    return directory / f"{name}.wav" if _NAME.match(name) else None


@dataclass
class BridgeTapes:
    """The two tapes of one running bridge and its start and end on the loop's clock."""

    name: str
    caller: LegTape
    officer: LegTape
    started: float
    ended: float | None = None

    def stop(self, now: float) -> None:
        """The relay stopped: the recording ends here (idempotent)."""
        if self.ended is None:
            self.ended = now
        self.caller.close()
        self.officer.close()


@dataclass(frozen=True)
class Recorded:
    """A written recording."""

    name: str
    duration_s: float
    path: Path


@dataclass
class BridgeRecorder:
    """Records every bridge into `directory` and tells `sink` when a recording is ready."""

    directory: Path
    sink: EventSink | None = None
    _pending: set[asyncio.Task[Recorded | None]] = field(default_factory=set)
    # one thread, one recording at a time: bridges ending together do not become as many
    # threads taking turns with the event loop
    _writer: ThreadPoolExecutor | None = None

    def start(self, now: float) -> BridgeTapes:
        """The tapes of a bridge starting at `now` (loop time). Nothing touches the disk on
        the event loop: the tapes' files are written by the recorder's thread."""
        name = new_recording_name()
        caller = LegTape(self.directory / f".{name}.caller", on_full=self._spill)
        officer = LegTape(self.directory / f".{name}.officer", on_full=self._spill)
        return BridgeTapes(name, caller, officer, now)

    def _thread(self) -> ThreadPoolExecutor:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="bridge-recording")
        return self._writer

    def _spill(self, tape: LegTape) -> None:
        """A tape's buffers are full (in the datagram callback): to its files, in the thread."""
        heads, audio = tape.take()
        try:
            self._thread().submit(self._append, tape, heads, audio)
        except RuntimeError:  # the interpreter is shutting down: never break the relay
            tape.close()

    def _append(self, tape: LegTape, heads: bytearray, audio: bytearray) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            tape.append(heads, audio)
        except Exception as exc:  # the conversation goes on; its recording stops here
            log.error("a bridge's recording stopped: %s", exc)

    def finish(
        self, tapes: BridgeTapes, *, now: float, call_id: str, officer: str, department: str
    ) -> asyncio.Task[Recorded | None]:
        """Write the WAV in the recorder's thread and then report it; returns at once (the
        task is kept until done, and :meth:`drain` waits for it)."""
        tapes.stop(now)
        task = asyncio.get_running_loop().create_task(
            self._write(tapes, call_id=call_id, officer=officer, department=department)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _write(
        self, tapes: BridgeTapes, *, call_id: str, officer: str, department: str
    ) -> Recorded | None:
        loop = asyncio.get_running_loop()
        try:  # after the spills already queued: one thread, in order
            recorded = await loop.run_in_executor(
                self._thread(), write_bridge_wav, self.directory, tapes
            )
        except Exception:
            log.exception("the recording of a bridge could not be written")
            return None
        if self.sink is not None:
            self.sink.emit(
                BridgeRecorded(
                    call_id=call_id,
                    officer=officer,
                    department=department,
                    recording=recorded.name,
                    duration_s=round(recorded.duration_s, 3),
                )
            )
        return recorded

    async def drain(self) -> None:
        """Wait for the recordings still being written (the hotline closing), then let the
        writing thread go (a later recording starts another)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=False)


def write_bridge_wav(directory: Path, tapes: BridgeTapes) -> Recorded:
    """The stereo WAV of a stopped bridge (caller left, officer right), with what its tapes
    still held in memory; the tapes are deleted."""
    ended = tapes.ended if tapes.ended is not None else tapes.started
    total = max(0, round((ended - tapes.started) * LINE_RATE))
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for tape in (tapes.caller, tapes.officer):
            tape.close()  # nothing more comes: its buffers may be taken from this thread
            tape.append(*tape.take())
        left = place_leg(read_tape(tapes.caller), tapes.started, total)
        right = place_leg(read_tape(tapes.officer), tapes.started, total)
        frames = np.column_stack((left, right)).astype("<i2").tobytes()
        path = write_private_wav(directory / f"{tapes.name}.wav", frames, channels=2)
    finally:
        tapes.caller.remove()
        tapes.officer.remove()
    return Recorded(tapes.name, total / LINE_RATE, path)


def place_leg(tape: TapeContents, started: float, total: int) -> npt.NDArray[np.int16]:
    """One channel of `total` samples from a leg's packets (see the module docstring). Array
    operations only, so the thread doing it leaves the event loop the interpreter's lock."""
    out = np.zeros(total, dtype=np.int16)
    heads = tape.heads
    if len(heads) == 0 or total == 0:
        return out
    lengths = heads["length"].astype(np.int64)
    stamps: npt.NDArray[np.uint32] = heads["timestamp"]
    steps = np.diff(stamps).view(np.int32).astype(np.int64)  # modulo 2**32, signed
    ts = np.concatenate(([0], np.cumsum(steps)))  # unwrapped, from the first packet's
    key = (heads["arrival"] - started) * LINE_RATE - lengths - ts  # where each asks to start
    ssrc = heads["ssrc"]
    new_run = np.ones(len(heads), dtype=bool)
    new_run[1:] = (ssrc[1:] != ssrc[:-1]) | (np.abs(np.diff(key)) > RESYNC_S * LINE_RATE)
    origin = np.minimum.reduceat(key, np.flatnonzero(new_run))  # each run's least delayed
    first = np.rint(origin[np.cumsum(new_run) - 1] + ts).astype(np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths  # of each payload in the audio
    codes = np.frombuffer(tape.audio, dtype=np.uint8)
    for lo in range(0, len(heads), _CHUNK):  # about a minute at a time: bounded memory
        hi = min(len(heads), lo + _CHUNK)
        a, b = int(starts[lo]), int(ends[hi - 1])
        sizes = lengths[lo:hi]
        part = codes[a:b]
        laws = np.repeat(heads["law"][lo:hi], sizes)
        pcm = np.where(laws == 8, _ALAW[part], _ULAW[part])
        at = np.repeat(first[lo:hi] - (starts[lo:hi] - a), sizes) + np.arange(b - a)
        keep = (at >= 0) & (at < total)
        out[at[keep]] = pcm[keep]
    return out


def purge_recordings(directory: Path, *, before: float, now: float | None = None) -> int:
    """Delete the recordings written before `before` (Unix seconds: the calls' retention) and
    tapes left by a bridge that never finished; how many recordings went."""
    if not directory.is_dir():
        return 0
    stale = (time.time() if now is None else now) - STALE_TAPE_S
    removed = 0
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            modified = path.stat().st_mtime
            if _WAV.match(path.name) and modified < before:
                path.unlink()
                removed += 1
            elif _TAPE.match(path.name) and modified < max(before, stale):
                path.unlink()
    return removed


__all__ = [
    "BridgeRecorder",
    "BridgeTapes",
    "Recorded",
    "new_recording_name",
    "place_leg",
    "purge_recordings",
    "recording_path",
    "write_bridge_wav",
]
