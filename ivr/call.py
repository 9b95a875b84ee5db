"""One call: a SIP dialog and its media stream, implementing :class:`ivr.channel.CallChannel`.

The endpoint owns the signalling; this object owns what the dialog runtime sees: playing audio
with barge-in, the digit queue (RFC 4733, SIP INFO and in-band tones all land here), the caller's
audio frames, transfer and hang-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import ErrorCode
from ivr.channel import (
    Audio,
    CallerHungUp,
    CallInfo,
    PlayOutcome,
    TransferOutcome,
)
from ivr.events import (
    CallAnswered,
    CallEnded,
    CallError,
    DigitReceived,
    EventSink,
    HoldChanged,
)
from speech.audio import resample
from speech.echo_guard import EchoReference

if TYPE_CHECKING:
    from ivr.media.stream import MediaStream

log = logging.getLogger(__name__)


CallHandler = Callable[["Call"], Awaitable[None]]
"""Runs a call (the dialog runtime) from its answer until it returns or the caller hangs up."""


class Signalling(Protocol):
    """What a call asks of the dialog it stands on (``ivr.sip.legs.Leg`` fits)."""

    def hangup(self) -> Awaitable[None]: ...

    def refer(self, target: str) -> Awaitable[TransferOutcome]: ...


class _EndedSignalling:
    """A finished call's dialog: nothing left to hang up or transfer."""

    async def hangup(self) -> None:
        return None

    async def refer(self, target: str) -> TransferOutcome:
        raise CallerHungUp("ended")


_ENDED = _EndedSignalling()


class Call:
    """A live call as the dialog runtime sees it."""

    def __init__(
        self,
        *,
        info: CallInfo,
        stream: MediaStream,
        signalling: Signalling,
        sink: EventSink,
        handler: CallHandler | None = None,
        hangup_grace_s: float = 2.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """``handler`` runs once the call is answered (None: the owner drives the call, as a
        bridge does); ``hangup_grace_s`` is how long it has to notice the end of the call
        before its task is cancelled."""
        self._info = info
        self._run = handler
        self._hangup_grace_s = hangup_grace_s
        self.stream = stream
        self._signalling = signalling
        self._sink = sink
        self._now = now
        self._digits: asyncio.Queue[str] = asyncio.Queue()
        self._digit_arrived = asyncio.Event()
        self._ended = asyncio.Event()
        self.end_reason = ""
        self.started_at = now()
        self.on_hold = False
        self.handler: asyncio.Task[None] | None = None
        # While set (a bridge), digits go here with their source instead of the digit queue.
        self.digit_listener: Callable[[str, str], None] | None = None
        # what is being played, for the echo guard in front of speech barge-in
        self.echo_reference = EchoReference(clock=now)

    # -- CallChannel -------------------------------------------------------------------------
    @property
    def info(self) -> CallInfo:
        return self._info

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def play(
        self,
        audio: Audio,
        *,
        barge_in_digits: bool = True,
        barge_in: asyncio.Event | None = None,
    ) -> PlayOutcome:
        self._check_alive()
        if barge_in_digits and not self._digits.empty():
            return PlayOutcome(completed=False, digit=self._peek_digit())
        pcm = audio.pcm if audio.rate == 8000 else resample(audio.pcm, audio.rate, 8000)
        started = self._now()
        self.echo_reference.playing(pcm, at=started)
        done = asyncio.ensure_future(self.stream.play(pcm))
        waiters: list[asyncio.Future[Any]] = [done, asyncio.ensure_future(self._ended.wait())]
        digit_wait = barge_wait = None
        if barge_in_digits:
            self._digit_arrived.clear()
            digit_wait = asyncio.ensure_future(self._digit_arrived.wait())
            waiters.append(digit_wait)
        if barge_in is not None:
            barge_wait = asyncio.ensure_future(barge_in.wait())
            waiters.append(barge_wait)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters[1:]:
                w.cancel()
            self.echo_reference.stopped()
        played = self._now() - started
        if done.done() and not done.cancelled() and done.result():
            return PlayOutcome(completed=True, played_s=played)
        self.stream.stop_playback()
        self._check_alive()
        if digit_wait is not None and not self._digits.empty():
            return PlayOutcome(completed=False, digit=self._peek_digit(), played_s=played)
        if barge_wait is not None and barge_in is not None and barge_in.is_set():
            return PlayOutcome(completed=False, speech=True, played_s=played)
        return PlayOutcome(completed=False, played_s=played)

    async def next_digit(self, timeout_s: float) -> str | None:
        self._check_alive()
        if not self._digits.empty():
            return self._digits.get_nowait()
        get = asyncio.ensure_future(self._digits.get())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait([get, ended], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        self._check_alive()
        return None

    def flush_digits(self) -> None:
        while not self._digits.empty():
            self._digits.get_nowait()

    def audio_frames(self) -> AsyncIterator[bytes]:
        return self.stream.frames()

    async def transfer(self, target: str) -> TransferOutcome:
        self._check_alive()
        return await self._signalling.refer(target)

    async def hangup(self) -> None:
        if self.ended:
            return
        await self._signalling.hangup()

    # -- from the endpoint and the media stream ------------------------------------------------
    def answered(self) -> None:
        """The dialog is confirmed: announce it and start the handler."""
        self._sink.emit(CallAnswered(call_id=self._info.call_id))
        if self._run is not None and self.handler is None:
            self.handler = asyncio.get_running_loop().create_task(self._run_handler(self._run))

    async def _run_handler(self, run: CallHandler) -> None:
        try:
            await run(self)
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            log.exception("call handler failed on %s", self._info.call_id)
            self._sink.emit(
                CallError(call_id=self._info.call_id, code=ErrorCode.INTERNAL, detail=str(exc))
            )
        if not self.ended:
            await self.hangup()

    def digit(self, digit: str, source: str) -> None:
        """A digit arrived (RFC 4733, SIP INFO or in-band)."""
        if self.ended:
            return
        self._sink.emit(DigitReceived(call_id=self._info.call_id, digit=digit, source=source))
        if self.digit_listener is not None:
            self.digit_listener(digit, source)
            return
        self._digits.put_nowait(digit)
        self._digit_arrived.set()

    def set_hold(self, on_hold: bool) -> None:
        if on_hold != self.on_hold:
            self.on_hold = on_hold
            self._sink.emit(HoldChanged(call_id=self._info.call_id, on_hold=on_hold))

    def end(self, reason: str) -> None:
        """The call is over (BYE either way, CANCEL, timeout): release media, wake waiters."""
        if self.ended:
            return
        self.end_reason = reason
        self._ended.set()
        self.stream.close()
        # The endpoint keeps an ended leg (and so this call) a while for retransmissions; let
        # go of what is big or points back at the leg, so a finished call is freed by
        # reference counting, not by a full collection that may come much later.
        self._signalling = _ENDED
        self.echo_reference = EchoReference(clock=self._now)  # the last prompt's energy
        self._sink.emit(
            CallEnded(
                call_id=self._info.call_id, reason=reason, duration_s=self._now() - self.started_at
            )
        )
        if self.handler is not None and not self.handler.done():
            task = self.handler
            # Give the runtime a moment to notice CallerHungUp, then cancel what is left.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_later(self._hangup_grace_s, task.cancel)

    def _peek_digit(self) -> str | None:
        # asyncio.Queue has no peek; the digit stays queued for next_digit.
        return self._digits._queue[0] if self._digits.qsize() else None  # type: ignore[attr-defined]

    def _check_alive(self) -> None:
        if self.ended:
            raise CallerHungUp(self.end_reason)
