"""Listening to the caller's voice for one question, on the caller's 20 ms frames."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable

from ivr.channel import FRAME_MS, LINE_RATE, CallChannel
from ivr.runtime.deps import VoiceDetector
from speech.asr import RecognitionSession, RecognizerError, Result
from speech.vad import VadEventKind

FRAME_S = FRAME_MS / 1000


class SpeechTurn:
    """Listens to the caller for one question: onset (barge-in), then one utterance.

    The recognition session is opened only at the speech onset, so a slot is held while the
    caller speaks, not while a long prompt plays. When no slot is free, ``refused`` is set
    (and ``started``, so the prompt stops) and the runtime switches the call to the keypad.

    With a ``complete`` test, the transcript so far is checked once per pause of
    ``complete_pause_s``: when it already answers the question the utterance ends there
    (``ended_early``), otherwise listening goes on until the detector's full trailing silence,
    so a caller who pauses between the groups of a code is not cut off.
    """

    def __init__(
        self,
        channel: CallChannel,
        open_session: Callable[[], RecognitionSession],
        detector: VoiceDetector,
        *,
        max_utterance_s: float,
        preroll_s: float,
        complete: Callable[[str], bool] | None = None,
        complete_pause_s: float = 0.3,
    ) -> None:
        self._channel = channel
        self._open_session = open_session
        self._detector = detector
        self._max_frames = max(1, int(max_utterance_s / FRAME_S))
        self._preroll: deque[bytes] = deque(maxlen=max(1, math.ceil(preroll_s / FRAME_S)))
        self._complete = complete
        self._complete_pause_s = complete_pause_s
        self.started = asyncio.Event()
        self.refused: RecognizerError | None = None
        self.ended_early = False

    async def run(self) -> Result | None:
        """Read frames until the utterance ends; its transcript, or None if nobody spoke (or
        recognition was refused)."""
        frames = self._channel.audio_frames()
        session: RecognitionSession | None = None
        try:
            spoken = 0
            checked = False
            async for frame in frames:
                event = self._detector.feed(frame)
                if session is None:
                    self._preroll.append(frame)
                    if event is None or event.kind is not VadEventKind.SPEECH_START:
                        continue
                    try:
                        session = self._open_session()
                    except RecognizerError as exc:
                        self.refused = exc
                        self.started.set()
                        return None
                    self.started.set()
                    for early in self._preroll:
                        await session.feed(early, LINE_RATE)
                    continue
                partial = await session.feed(frame, LINE_RATE)
                spoken += 1
                ended = event is not None and event.kind is VadEventKind.SPEECH_END
                if ended or (partial is not None and partial.endpoint):
                    break
                if spoken >= self._max_frames:
                    break
                pause = self._detector.pause_s
                if pause == 0.0:
                    checked = False
                elif (
                    self._complete is not None
                    and not checked
                    and pause >= self._complete_pause_s - 1e-6
                ):
                    checked = True  # once per pause: a hypothesis costs a decoder pass
                    if self._complete(await session.hypothesis()):
                        self.ended_early = True
                        break
            if session is None:
                return None
            return await session.finish()
        finally:
            if session is not None:
                session.close()
            closer = getattr(frames, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
