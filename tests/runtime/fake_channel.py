"""A scripted fake :class:`~ivr.channel.CallChannel` for dialog tests, on a virtual clock.

A test describes the caller as a list of steps (press keys, say recorded audio, stay silent,
hang up), each triggered by what the caller hears or by the hotline waiting for an answer. The
fake records everything played (with the text behind each prompt, through :class:`FakePrompts`),
every transfer and who hung up.

Time is virtual: :func:`run_virtual` runs a coroutine on an event loop whose clock jumps
straight to the next timer whenever nothing is ready, so a call of several minutes with real
prompt lengths and real timeouts takes milliseconds and behaves the same on a loaded machine.
Work handed to threads (``asyncio.to_thread``) takes no virtual time: the clock waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import selectors
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ivr.channel import (
    FRAME_MS,
    FRAME_SAMPLES,
    LINE_RATE,
    Audio,
    CallerHungUp,
    CallInfo,
    PlayOutcome,
    TransferOutcome,
)
from speech.audio import read_wav, resample

T = TypeVar("T")

FRAME_S = FRAME_MS / 1000
DEADLOCK_GUARD_S = 30.0  # real seconds to wait for outside I/O before declaring a deadlock
DTMF_GAP_S = 0.25  # virtual seconds between two keys of one Press step
TRANSFER_DELAY_S = 1.0
NOISE_FRAMES = 50  # virtual seconds a REFER takes to report its outcome


# --------------------------------------------------------------------------- virtual clock


class VirtualClockDeadlock(RuntimeError):
    """Nothing is scheduled, nothing is running in a thread and no I/O came: the test hangs."""


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that, instead of sleeping, advances the owning loop's virtual clock."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        assert loop is not None
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if loop.in_threads:
            # Threads report back through the loop's self-pipe; wait for them in real time
            # and let virtual time stand still meanwhile.
            return super().select(loop.deadlock_guard_s)
        if timeout is None:
            ready = super().select(loop.deadlock_guard_s)
            if not ready:
                raise VirtualClockDeadlock("nothing scheduled and no I/O: the coroutine hangs")
            return ready
        loop.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual and jumps to the next timer when idle."""

    def __init__(self, deadlock_guard_s: float = DEADLOCK_GUARD_S) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self.deadlock_guard_s = deadlock_guard_s
        self._virtual_now = 0.0
        self.in_threads = 0

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward."""
        self._virtual_now += max(0.0, seconds)

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.in_threads += 1

        def _done(_: asyncio.Future[T]) -> None:
            self.in_threads -= 1

        future.add_done_callback(_done)
        return future


def run_virtual(coro: Coroutine[Any, Any, T], *, deadlock_guard_s: float = DEADLOCK_GUARD_S) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualClockLoop`; tasks it left running
    are cancelled before the loop closes."""
    loop = VirtualClockLoop(deadlock_guard_s)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            leftover = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in leftover:
                task.cancel()
            if leftover:
                loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


# --------------------------------------------------------------------------- prompts


class FakePrompts:
    """Text to :class:`Audio` without a synthesiser, remembering the text behind each audio.

    The audio is near-silence whose length follows the text (``seconds_per_char``), tagged so
    that two texts never give the same bytes.
    """

    def __init__(self, seconds_per_char: float = 0.06, min_s: float = 0.4) -> None:
        self.seconds_per_char = seconds_per_char
        self.min_s = min_s
        self._texts: dict[bytes, str] = {}
        self.rendered: list[str] = []

    async def __call__(self, text: str) -> Audio:
        """Render ``text`` (the prompt source interface: text -> Audio)."""
        self.rendered.append(text)
        return self.audio(text)

    def audio(self, text: str) -> Audio:
        """The audio standing for ``text``."""
        seconds = max(self.min_s, len(text) * self.seconds_per_char)
        samples = int(seconds * LINE_RATE)
        tag = np.frombuffer(hashlib.sha256(text.encode()).digest(), dtype="<i2") >> 8
        pcm = np.zeros(samples, dtype="<i2")
        pcm[: len(tag)] = tag
        data = pcm.tobytes()
        self._texts[data] = text
        return Audio(data, LINE_RATE)

    def text_of(self, audio: Audio) -> str:
        """The text that produced ``audio``, or a placeholder for audio from elsewhere."""
        return self._texts.get(audio.pcm, f"<audio {audio.duration_s:.2f}s>")


# --------------------------------------------------------------------------- caller script


@dataclass(frozen=True)
class Step:
    """One caller action and when it happens.

    ``hear``: act after a prompt containing this text starts (case-insensitive).
    ``at_s``: act at this virtual time since the call began.
    Neither: act when the hotline next waits for an answer (a fresh wait for a key).
    ``after_s`` is added after the trigger (into the prompt, or into the wait).
    """

    hear: str | None = field(default=None, kw_only=True)
    at_s: float | None = field(default=None, kw_only=True)
    after_s: float = field(default=0.5, kw_only=True)


@dataclass(frozen=True)
class Press(Step):
    """Press keys (``0-9 * #``), :data:`DTMF_GAP_S` apart."""

    keys: str = ""

    def __post_init__(self) -> None:
        bad = set(self.keys) - set("0123456789*#ABCD")
        if not self.keys or bad:
            raise ValueError(f"Press needs DTMF keys, got {self.keys!r}")


@dataclass(frozen=True)
class Say(Step):
    """Speak: ``pcm`` is 16-bit mono audio at 8000 Hz, played into the caller's audio."""

    pcm: bytes = b""

    @classmethod
    def wav(cls, path: str | Path, **trigger: Any) -> Say:
        """Speak a WAV file (resampled to the line rate)."""
        pcm, _ = read_wav(path, LINE_RATE)
        return cls(pcm=pcm, **trigger)

    @classmethod
    def pcm_at(cls, pcm: bytes, rate: int, **trigger: Any) -> Say:
        """Speak 16-bit mono PCM recorded at ``rate`` Hz."""
        return cls(pcm=resample(pcm, rate, LINE_RATE), **trigger)

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / LINE_RATE


@dataclass(frozen=True)
class Silence(Step):
    """Say nothing through one wait: the hotline's no-input timeout runs out."""


@dataclass(frozen=True)
class HangUp(Step):
    """Hang up."""


@dataclass(frozen=True)
class Played:
    """One play as the caller heard it."""

    text: str
    at_s: float
    outcome: PlayOutcome


@dataclass
class _Speech:
    start_s: float
    pcm: bytes


# --------------------------------------------------------------------------- the channel


class FakeChannel:
    """A CallChannel driven by a caller script, for runtime tests on a virtual clock."""

    def __init__(
        self,
        script: Sequence[Step],
        *,
        prompts: FakePrompts | None = None,
        caller: str = "0912345678",
        call_id: str = "fake-call-1",
        transfer_outcomes: Mapping[str, TransferOutcome] | None = None,
        max_call_s: float = 900.0,
        noise_level: int = 30,
    ) -> None:
        self.script = list(script)
        self.prompts = prompts
        self._info = CallInfo(call_id, caller, "", "1022", "PCMA")
        self._transfer_outcomes = dict(transfer_outcomes or {})
        self.max_call_s = max_call_s
        self.noise_level = noise_level
        self.played: list[Played] = []
        self.transfers: list[tuple[str, TransferOutcome]] = []
        self.pressed: list[tuple[float, str]] = []
        self.ended_by: str | None = None  # "caller", "ivr", "transfer", "timeout"
        self.script_done = False
        self._digits: deque[str] = deque()
        self._speech: list[_Speech] = []
        self._wait_epoch = 0
        self._epoch_from = 0
        self._heard_from = 0
        self._waiting = False
        self._prompt_epoch = 0
        self._changed = asyncio.Event()
        self._ended_event = asyncio.Event()
        self._digit_event = asyncio.Event()
        self._t0: float | None = None
        self._caller_task: asyncio.Task[None] | None = None
        # Line noise: one second of it, generated once and looped, so silence is realistic
        # for the voice detector without costing a random draw per frame.
        noise = np.random.default_rng(7).normal(0.0, noise_level, NOISE_FRAMES * FRAME_SAMPLES)
        self._noise = np.clip(noise, -32768, 32767).astype("<i2").tobytes()

    # -- the CallChannel interface

    @property
    def info(self) -> CallInfo:
        return self._info

    @property
    def ended(self) -> bool:
        return self.ended_by is not None

    async def play(
        self,
        audio: Audio,
        *,
        barge_in_digits: bool = True,
        barge_in: asyncio.Event | None = None,
    ) -> PlayOutcome:
        """Play ``audio`` for its duration, stopping early on a key or ``barge_in``."""
        self._start()
        self._raise_if_ended()
        start = self.now()
        text = self.prompts.text_of(audio) if self.prompts else f"<audio {audio.duration_s}s>"
        index = len(self.played)
        self.played.append(Played(text, start, PlayOutcome(True)))
        self._prompt_epoch += 1
        self._notify()
        if barge_in_digits and self._digits:
            outcome = PlayOutcome(False, digit=self._digits[0], played_s=0.0)
        else:
            waits: list[Awaitable[Any]] = [self._ended_event.wait()]
            if barge_in_digits:
                waits.append(self._digit_event.wait())
            if barge_in is not None:
                waits.append(barge_in.wait())
            await _first_of(waits, timeout_s=audio.duration_s)
            self._raise_if_ended()
            played_s = min(audio.duration_s, self.now() - start)
            if barge_in_digits and self._digits:
                outcome = PlayOutcome(False, digit=self._digits[0], played_s=played_s)
            elif barge_in is not None and barge_in.is_set():
                outcome = PlayOutcome(False, speech=True, played_s=played_s)
            else:
                outcome = PlayOutcome(True, played_s=audio.duration_s)
        self.played[index] = Played(text, start, outcome)
        return outcome

    async def next_digit(self, timeout_s: float) -> str | None:
        """The next key pressed, or None after ``timeout_s`` virtual seconds."""
        self._start()
        self._raise_if_ended()
        if not self._digits:
            self._wait_epoch += 1
            self._waiting = True
            self._notify()
            try:
                await _first_of(
                    [self._digit_event.wait(), self._ended_event.wait()], timeout_s=timeout_s
                )
            finally:
                self._waiting = False
            self._raise_if_ended()
            if not self._digits:
                return None
        digit = self._digits.popleft()
        if not self._digits:
            self._digit_event.clear()
        return digit

    def flush_digits(self) -> None:
        """Forget keys typed ahead."""
        self._digits.clear()
        self._digit_event.clear()

    async def audio_frames(self) -> AsyncIterator[bytes]:
        """The caller's audio from now on, in 20 ms frames paced by the (virtual) clock."""
        self._start()
        t = self.now()
        while not self.ended:
            await asyncio.sleep(max(0.0, t + FRAME_S - self.now()))
            if self.ended:
                return
            yield self._frame_at(t)
            t += FRAME_S

    async def transfer(self, target: str) -> TransferOutcome:
        """Blind transfer: the scripted outcome for ``target`` (default: 200 OK)."""
        self._start()
        self._raise_if_ended()
        outcome = self._transfer_outcomes.get(target, TransferOutcome(True, 200, "OK"))
        await _first_of([self._ended_event.wait()], timeout_s=TRANSFER_DELAY_S)
        self._raise_if_ended()
        self.transfers.append((target, outcome))
        if outcome.ok:
            self._end("transfer")
        return outcome

    async def hangup(self) -> None:
        """End the call from the hotline's side. Idempotent."""
        if not self.ended:
            self._end("ivr")

    # -- for tests

    def now(self) -> float:
        """Virtual seconds since the call began."""
        loop = asyncio.get_running_loop()
        return loop.time() - (self._t0 if self._t0 is not None else loop.time())

    @property
    def texts(self) -> list[str]:
        """The text of every prompt played, in order."""
        return [p.text for p in self.played]

    def heard(self, fragment: str) -> bool:
        """Whether any prompt played contained ``fragment`` (case-insensitive)."""
        fragment = fragment.lower()
        return any(fragment in t.lower() for t in self.texts)

    async def close(self) -> None:
        """Stop the caller script (call after the runtime returned)."""
        if self._caller_task is not None and not self._caller_task.done():
            self._caller_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._caller_task

    # -- internals

    def _start(self) -> None:
        if self._t0 is None:
            self._t0 = asyncio.get_running_loop().time()
            self._caller_task = asyncio.create_task(self._run_script())

    def _raise_if_ended(self) -> None:
        if self.ended:
            raise CallerHungUp(self.ended_by or "ended")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _end(self, by: str) -> None:
        self.ended_by = by
        self._ended_event.set()
        self._notify()

    def _frame_at(self, t: float) -> bytes:
        for speech in self._speech:
            offset = round((t - speech.start_s) * LINE_RATE)
            if 0 <= offset < len(speech.pcm) // 2:
                chunk = speech.pcm[offset * 2 : (offset + FRAME_SAMPLES) * 2]
                return chunk.ljust(FRAME_SAMPLES * 2, b"\0")
        index = round(t / FRAME_S) % NOISE_FRAMES
        return self._noise[index * FRAME_SAMPLES * 2 : (index + 1) * FRAME_SAMPLES * 2]

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            changed = self._changed
            if self.ended:
                raise CallerHungUp(self.ended_by or "ended")
            await changed.wait()

    async def _trigger(self, step: Step) -> None:
        if step.at_s is not None:
            await asyncio.sleep(max(0.0, step.at_s - self.now()))
        elif step.hear is not None:
            wanted = step.hear.lower()
            seen = self._heard_from

            def heard() -> bool:
                return any(wanted in p.text.lower() for p in self.played[seen:])

            await self._wait_until(heard)
        else:
            epoch = self._epoch_from
            await self._wait_until(lambda: self._waiting and self._wait_epoch > epoch)
        await asyncio.sleep(step.after_s)

    async def _act(self, step: Step) -> None:
        if isinstance(step, Press):
            for i, key in enumerate(step.keys):
                if i:
                    await asyncio.sleep(DTMF_GAP_S)
                if self.ended:
                    return
                self._digits.append(key)
                self.pressed.append((self.now(), key))
                self._digit_event.set()
                self._notify()
        elif isinstance(step, Say):
            self._speech.append(_Speech(self.now(), step.pcm))
            await asyncio.sleep(step.duration_s)
        elif isinstance(step, HangUp):
            self._end("caller")

    async def _run_script(self) -> None:
        guard = asyncio.get_running_loop().call_later(self.max_call_s, self._give_up)
        try:
            for step in self.script:
                await self._trigger(step)
                if self.ended:
                    return
                await self._act(step)
                if self.ended:
                    return
                # The next step reacts only to what happens after this one.
                self._heard_from = len(self.played)
                self._epoch_from = self._wait_epoch
            self.script_done = True
            await self._ended_event.wait()
        except CallerHungUp:
            return
        finally:
            guard.cancel()

    def _give_up(self) -> None:
        if not self.ended:
            self._end("timeout")


async def _first_of(waits: Sequence[Awaitable[Any]], *, timeout_s: float) -> None:
    """Wait until the first of ``waits`` completes or ``timeout_s`` passes; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=max(0.0, timeout_s), return_when="FIRST_COMPLETED")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
