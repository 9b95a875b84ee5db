"""The :class:`~ivr.queue.waiting.OfficerLine` of the hotline: ring, whisper, bridge.

Every registered phone of every officer the queue reserved is dialled at once; the first to
answer wins and the others are cancelled (a 2xx racing the CANCEL is hung up). The caller
hanging up while the phones ring cancels them all. The answering officer first hears the whisper
(who is calling and why), then the two calls are bridged until either side hangs up. Targets
come only from the registrar's bindings of officers in the directory: nothing the caller typed
or said is ever dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.audio import LINE_RATE
from ivr.bridge.recording import BridgeRecorder
from ivr.bridge.relay import RelayStats, bridge
from ivr.call import Call
from ivr.channel import Audio, CallChannel, CallerHungUp
from ivr.queue.model import QueueEntry
from ivr.sip.bindings import BindingStore
from ivr.sip.legs import Leg
from ivr.sip.uac import DialError
from speech.audio import resample

log = logging.getLogger(__name__)

NO_PHONE_WAIT_S = 2.0  # an officer marked available with no registered phone: try again later
CALLER_WATCH_S = 0.1  # how often a ringing attempt checks that the caller is still there


class Dialler(Protocol):
    """``Endpoint.dial`` as the bridge uses it."""

    def __call__(
        self,
        target_uri: str,
        *,
        from_uri: str,
        timeout_s: float,
        cancel: asyncio.Event | None = None,
    ) -> Awaitable[Leg[Call]]: ...


WhisperSource = Callable[[str], Awaitable[Audio]]
"""The whisper's text to audio (the prompt cache)."""


@dataclass
class Answered:
    """Which officer answered, on which leg, and how long their phones rang."""

    officer: str
    leg: Leg[Call]
    ring_s: float


class BridgeLine:
    """Reaches officers through their registered phones."""

    def __init__(
        self,
        dial: Dialler,
        bindings: BindingStore,
        *,
        from_uri: str,
        whisper: WhisperSource,
        clock: Callable[[], float],
        hold_music: Audio | None = None,
        probe_every: int = 0,
        recorder: BridgeRecorder | None = None,
    ) -> None:
        """``hold_music`` is played to one side of a bridge while the other holds it (silence
        when None); ``probe_every`` > 0 measures the relay's added delay (benchmarks);
        ``recorder`` records every conversation (none when None)."""
        self.dial = dial  # set late: the endpoint is built after the hotline
        self._bindings = bindings
        self._from_uri = from_uri
        self._whisper = whisper
        self._clock = clock
        self._hold_pcm = b"" if hold_music is None else _line_pcm(hold_music)
        self._probe_every = probe_every
        self.recorder = recorder
        self.ring_times_s: list[float] = []  # INVITE to answer, per answered attempt
        self.dialled_at: list[float] = []  # when each round of INVITEs went out (clock time)
        self.relays: list[tuple[RelayStats, RelayStats]] = []  # per bridge: up, down

    async def connect(
        self,
        channel: CallChannel,
        officers: Sequence[str],
        entry: QueueEntry,
        *,
        ring_timeout_s: float,
        on_answer: Callable[[str], Awaitable[None]],
        summary: str = "",
    ) -> bool:
        """Ring, whisper `summary`, bridge (see the module docstring)."""
        if not isinstance(channel, Call):
            raise TypeError("the bridge joins SIP calls only")
        answered = await self.ring(channel, officers, ring_timeout_s)
        if answered is None:
            return False
        officer_call = answered.leg.call
        if officer_call is None:  # never: an answered leg always has its call
            return False
        try:
            if summary:
                await officer_call.play(await self._whisper(summary), barge_in_digits=False)
            await on_answer(answered.officer)
        except CallerHungUp:  # the officer hung up during the whisper
            await channel.hangup()
            raise
        if channel.ended:
            await officer_call.hangup()
            raise CallerHungUp("caller left during the whisper")
        loop = asyncio.get_running_loop()
        recorder = self.recorder
        tapes = None if recorder is None else recorder.start(loop.time())
        try:
            self.relays.append(
                await bridge(
                    channel,
                    officer_call,
                    hold_music=self._hold_pcm,
                    probe_every=self._probe_every,
                    tapes=tapes,
                )
            )
        finally:
            if recorder is not None and tapes is not None:
                # written in a thread by a task of its own: the caller's hang-up (which may
                # cancel this call's task) does not lose it, and the queue does not wait
                recorder.finish(
                    tapes,
                    now=loop.time(),
                    call_id=entry.call_id,
                    officer=answered.officer,
                    department=entry.department_id,
                )
        return True

    async def ring(
        self, caller: Call, officers: Sequence[str], timeout_s: float
    ) -> Answered | None:
        """Dial every phone of `officers`; the first answer, or None. CallerHungUp when the
        caller leaves while the phones ring (every attempt is cancelled first)."""
        winner = await self.ring_phones(officers, timeout_s, gone=lambda: caller.ended)
        if caller.ended:
            if winner is not None:
                await winner.leg.hangup()
            raise CallerHungUp("caller left while the officer's phone rang")
        return winner

    async def ring_phones(
        self, officers: Sequence[str], timeout_s: float, *, gone: Callable[[], bool]
    ) -> Answered | None:
        """Dial every phone of `officers`; the first answer, or None. Once `gone()` is true
        every attempt is cancelled, and an answer that still comes is returned for the
        caller of this method to hang up."""
        targets = [
            (officer, binding.contact)
            for officer in officers
            for binding in await self._bindings.bindings(officer, now=self._clock())
        ]
        if not targets:
            log.info("no registered phone for %s", ", ".join(officers))
            await asyncio.sleep(min(timeout_s, NO_PHONE_WAIT_S))
            return None
        cancel = asyncio.Event()
        started = self._clock()
        self.dialled_at.append(started)

        async def attempt(officer: str, contact: str) -> tuple[str, Leg[Call]]:
            leg = await self.dial(
                contact, from_uri=self._from_uri, timeout_s=timeout_s, cancel=cancel
            )
            return officer, leg

        attempts = [asyncio.create_task(attempt(o, c)) for o, c in targets]
        watcher = asyncio.create_task(_cancel_when_gone(gone, cancel))
        winner: Answered | None = None
        try:
            for finished in asyncio.as_completed(attempts):
                try:
                    officer, leg = await finished
                except DialError:
                    continue
                if winner is None and not gone():
                    winner = Answered(officer, leg, self._clock() - started)
                    cancel.set()  # the other phones stop ringing
                else:  # a second phone answered before its CANCEL arrived
                    with contextlib.suppress(Exception):
                        await leg.hangup()
        finally:
            watcher.cancel()
            cancel.set()
            await asyncio.gather(*attempts, return_exceptions=True)
        if winner is not None:
            self.ring_times_s.append(winner.ring_s)
        return winner


def _line_pcm(audio: Audio) -> bytes:
    return audio.pcm if audio.rate == LINE_RATE else resample(audio.pcm, audio.rate, LINE_RATE)


async def _cancel_when_gone(gone: Callable[[], bool], cancel: asyncio.Event) -> None:
    while not gone() and not cancel.is_set():
        await asyncio.sleep(CALLER_WATCH_S)
    cancel.set()
