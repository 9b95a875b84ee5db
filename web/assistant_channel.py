"""The virtual assistant's channel: the dialog runtime's :class:`~ivr.channel.CallChannel` over
a web page instead of a telephone line.

- ``play`` keeps the audio (the page shows each prompt as text, from the runtime's own
  ``PromptPlayed`` event, and can play it) and returns at once: the whole prompt is on screen.
- Keypad buttons become digits, exactly as DTMF does on the phone.
- Typed text goes through the runtime's speech path unchanged: when the visitor sends text,
  :meth:`WebChannel.audio_frames` yields one marker frame at which :class:`TypedTurnDetector`
  reports the start of speech and one at which it reports its end, and the session of
  :class:`TypedTextRecognizer` returns the typed text as the transcript. So typed Vietnamese is
  understood by the same keyword, digit and yes/no matching as a caller's words.
- A visitor reads and types slower than a caller answers: every wait the runtime asks for is
  stretched by ``timeout_factor``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence

from core.audio import FRAME_SAMPLES, Audio
from ivr.channel import (
    CallerHungUp,
    CallInfo,
    PlayOutcome,
    TransferOutcome,
)
from speech.asr import Capabilities, Partial, Result
from speech.vad import VadEvent, VadEventKind

START_FRAME = b"\x01\x00" * FRAME_SAMPLES
"""Marks the start of a typed utterance in the frame stream."""
END_FRAME = b"\x02\x00" * FRAME_SAMPLES
"""Marks its end."""
MAX_TEXT_CHARS = 300
KEYS = frozenset("0123456789*#")


class WebChannel:
    """One virtual-assistant conversation, driven by the runtime like a call."""

    def __init__(
        self, info: CallInfo, *, timeout_factor: float, on_audio: Callable[[Audio], None]
    ) -> None:
        self._info = info
        self._timeout_factor = timeout_factor
        self._on_audio = on_audio
        self._keys: deque[str] = deque()
        self._key_arrived = asyncio.Event()
        self._texts: asyncio.Queue[str] = asyncio.Queue()
        self._typed: deque[str] = deque()
        self._ended = asyncio.Event()
        self._listening = 0  # audio_frames readers: a speech turn is open
        self.waiting = asyncio.Event()
        """Set while the runtime waits for the visitor (the page may be shown)."""

    @property
    def info(self) -> CallInfo:
        return self._info

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def listening(self) -> bool:
        """Whether typed text would be heard now (a question that takes words is open)."""
        return self._listening > 0

    # --- what the visitor does

    def press(self, key: str) -> None:
        """A keypad button."""
        if key in KEYS and not self.ended:
            self.waiting.clear()
            self._keys.append(key)
            self._key_arrived.set()

    def say(self, text: str) -> None:
        """Typed text, heard as a spoken answer."""
        if not self.ended:
            self.waiting.clear()
            self._texts.put_nowait(text.strip()[:MAX_TEXT_CHARS])

    def take_typed(self) -> str:
        """The text of the utterance being recognised (for the recogniser's session)."""
        return self._typed.popleft() if self._typed else ""

    # --- CallChannel

    async def play(
        self, audio: Audio, *, barge_in_digits: bool = True, barge_in: asyncio.Event | None = None
    ) -> PlayOutcome:
        self._check()
        self._on_audio(audio)
        if barge_in_digits and self._keys:
            return PlayOutcome(False, digit=self._keys[0])
        return PlayOutcome(True, played_s=audio.duration_s)

    async def next_digit(self, timeout_s: float) -> str | None:
        self._check()
        if not self._keys:
            self.waiting.set()
            self._key_arrived.clear()
            arrived = asyncio.ensure_future(self._key_arrived.wait())
            ended = asyncio.ensure_future(self._ended.wait())
            try:
                await asyncio.wait(
                    {arrived, ended},
                    timeout=timeout_s * self._timeout_factor,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                arrived.cancel()
                ended.cancel()
            self._check()
        if not self._keys:
            return None
        self.waiting.clear()
        return self._keys.popleft()

    def flush_digits(self) -> None:
        self._keys.clear()

    async def audio_frames(self) -> AsyncIterator[bytes]:
        self._listening += 1
        try:
            while not self.ended:
                getter = asyncio.ensure_future(self._texts.get())
                ended = asyncio.ensure_future(self._ended.wait())
                try:
                    await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ended.cancel()
                    if not getter.done():
                        getter.cancel()
                if not getter.done():
                    return
                self._typed.append(getter.result())
                yield START_FRAME
                yield END_FRAME
        finally:
            self._listening -= 1

    async def transfer(self, target: str) -> TransferOutcome:
        self._check()
        return TransferOutcome(False, 501, "the virtual assistant cannot transfer")

    async def hangup(self) -> None:
        self._ended.set()
        self.waiting.set()

    def _check(self) -> None:
        if self.ended:
            raise CallerHungUp()


class TypedTurnDetector:
    """The voice detector of a web conversation: speech starts and ends at the marker frames."""

    pause_s = 0.0

    def feed(self, frame: bytes) -> VadEvent | None:
        if frame == START_FRAME:
            return VadEvent(VadEventKind.SPEECH_START, 0.0)
        if frame == END_FRAME:
            return VadEvent(VadEventKind.SPEECH_END, 0.02)
        return None


class TypedTextSession:
    """A recognition session whose transcript is what the visitor typed."""

    def __init__(self, channel: WebChannel) -> None:
        self._channel = channel
        self._text: str | None = None

    def _value(self) -> str:
        if self._text is None:
            self._text = self._channel.take_typed()
        return self._text

    async def feed(self, pcm: bytes, rate: int) -> Partial | None:
        return None

    async def hypothesis(self) -> str:
        return self._value()

    async def finish(self) -> Result:
        return Result(text=self._value(), confidence=1.0, duration_s=0.0, engine="typed-text")

    def close(self) -> None:
        return None


class TypedTextRecognizer:
    """The recogniser of a web conversation (one per conversation)."""

    def __init__(self, channel: WebChannel) -> None:
        self._channel = channel

    @property
    def name(self) -> str:
        return "typed-text"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            streaming=True, grammar=False, sample_rate=8000, languages=("vi",), partials=False
        )

    def open_session(self, *, grammar: Sequence[str] | None = None) -> TypedTextSession:
        return TypedTextSession(self._channel)

    async def load(self) -> None:
        return None

    def close(self) -> None:
        return None
