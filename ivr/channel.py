"""The call interface seen by the dialog runtime. The runtime never imports SIP or RTP.

Audio crossing this interface is always 16-bit signed little-endian PCM, mono, at a declared
rate (the phone line is 8000 Hz), in 20 ms frames when streamed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from core.audio import FRAME_MS, FRAME_SAMPLES, LINE_RATE, Audio

__all__ = ["FRAME_MS", "FRAME_SAMPLES", "LINE_RATE", "Audio"]  # the channel's audio type, from core


class CallerHungUp(Exception):
    """Raised by any channel operation once the call has ended."""


WEB_CODEC = "web"
"""The ``codec`` of the virtual assistant's channel: typed text and keys, no caller audio."""


@dataclass(frozen=True)
class CallInfo:
    """Who is calling, as far as the signalling says."""

    call_id: str
    caller: str  # caller's number or user part, as received
    caller_display: str
    callee: str
    codec: str
    # The number a trusted proxy or trunk asserted (ivr/sip/caller_identity.py); None when
    # nothing trusted vouches for ``caller``, which is then only a claim.
    asserted_caller: str | None = None


@dataclass(frozen=True)
class PlayOutcome:
    """How a play ended: completed, or interrupted by a digit or by speech (barge-in)."""

    completed: bool
    digit: str | None = None
    speech: bool = False
    played_s: float = 0.0


@dataclass(frozen=True)
class TransferOutcome:
    """Result of a blind transfer: the final sipfrag status seen, and whether it succeeded."""

    ok: bool
    status: int
    reason: str = ""


@dataclass(frozen=True)
class DigitSpec:
    """What to collect: length limits, terminator, and the two timeouts (seconds)."""

    max_digits: int = 1
    min_digits: int = 1
    terminator: str | None = "#"
    first_timeout_s: float = 5.0
    inter_timeout_s: float = 3.0


@dataclass(frozen=True)
class DigitsOutcome:
    """Digits collected. ``timed_out`` means nothing (or too little) came in time."""

    digits: str
    terminated: bool = False
    timed_out: bool = False


class CallChannel(Protocol):
    """One live call, as the dialog runtime drives it."""

    @property
    def info(self) -> CallInfo: ...

    async def play(
        self,
        audio: Audio,
        *,
        barge_in_digits: bool = True,
        barge_in: asyncio.Event | None = None,
    ) -> PlayOutcome:
        """Play audio to the caller. Stops early on a digit (if allowed; the digit stays queued)
        or when ``barge_in`` is set (e.g. by a speech detector)."""
        ...

    async def next_digit(self, timeout_s: float) -> str | None:
        """The next digit the caller pressed (type-ahead kept in order), or None on timeout."""
        ...

    def flush_digits(self) -> None:
        """Forget digits typed ahead."""
        ...

    def audio_frames(self) -> AsyncIterator[bytes]:
        """The caller's audio from now on, as 20 ms frames of 16-bit PCM at 8000 Hz.
        The iterator ends when the call ends."""
        ...

    async def transfer(self, target: str) -> TransferOutcome:
        """Blind transfer (REFER) to a configured SIP URI, following NOTIFY progress."""
        ...

    async def hangup(self) -> None:
        """End the call from our side (BYE). Idempotent."""
        ...

    @property
    def ended(self) -> bool: ...


async def collect_digits(channel: CallChannel, spec: DigitSpec) -> DigitsOutcome:
    """Collect digits with a first-digit timeout, an inter-digit timeout, a maximum length
    and an optional terminator (which is not included in the result)."""
    digits = ""
    timeout = spec.first_timeout_s
    while len(digits) < spec.max_digits:
        digit = await channel.next_digit(timeout)
        if digit is None:
            return DigitsOutcome(digits, timed_out=len(digits) < spec.min_digits)
        if spec.terminator is not None and digit == spec.terminator:
            return DigitsOutcome(digits, terminated=True, timed_out=not digits)
        digits += digit
        timeout = spec.inter_timeout_s
    return DigitsOutcome(digits)
