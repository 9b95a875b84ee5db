"""The recording line: an editor calls it to record the hotline's prompts by phone.

The call: the editor enters the PIN (a few wrong tries end the call; wrong PINs across calls
lock the line for a while), then the number of a prompt as the editor page shows it
(:mod:`menus.prompt_numbers`), hears the prompt's text, and records after a tone. A take ends
on ``#``, on silence after speech, or at the maximum length. The editor hears the take back and
presses 1 to keep it or 2 to record again. A kept take is written as a WAV file at the line rate
(generated name, mode 0600) into the recordings folder and attached to the prompt in a draft of
the tree; the hotline plays it once that draft is published, like any other change.

Calls reach this line by the callee's user part (``recording_line.user``); every other call runs
the hotline (:func:`routed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.audio import LINE_RATE, Audio
from ivr.audio_take import Take, TakeLimits, record_take, tone, write_recording
from ivr.channel import CallChannel, CallerHungUp, DigitSpec, collect_digits
from ivr.recording_line_settings import RecordingLineSettings
from menus.prompt_numbers import NumberedPrompt

log = logging.getLogger(__name__)

PromptSource = Callable[[str], Awaitable[Audio]]

WELCOME = "Đường dây thu âm lời nhắc. Xin nhập mã số bí mật, rồi bấm phím thăng."
WRONG_PIN = "Mã số không đúng. Xin nhập lại."
REFUSED = "Mã số không đúng. Xin tạm biệt."
ASK_NUMBER = "Xin nhập số thứ tự của lời nhắc cần thu, rồi bấm phím thăng."
NO_SUCH_PROMPT = "Không có lời nhắc mang số này."
PROMPT_READS = "Lời nhắc này là:"
RECORD_AFTER_TONE = "Xin đọc lời nhắc sau tiếng bíp. Bấm phím thăng khi đọc xong."
NOTHING_HEARD = "Tôi chưa nghe thấy gì."
YOU_RECORDED = "Quý vị vừa thu:"
KEEP_OR_AGAIN = "Bấm phím 1 để giữ bản thu, phím 2 để thu lại."
SAVED = "Đã lưu bản thu vào bản nháp. Bản thu được phát sau khi bản nháp được xuất bản."
NOT_SAVED = "Xin lỗi, chưa lưu được bản thu. Xin thử lại sau."
GOODBYE = "Xin cảm ơn. Xin tạm biệt."


CHOICE_TRIES = 3  # unanswered or invalid answers before a question gives up
MAX_TAKES = 5  # takes of one prompt before the line moves on
MAX_PROMPTS_PER_CALL = 50


class PromptDrafts(Protocol):
    """Numbered prompts and the draft a recording is attached to
    (:class:`menus.prompt_numbers.DraftRecordings`). Blocking: called in a thread."""

    def prompts(self) -> list[NumberedPrompt]: ...

    def attach(self, number: int, text: str, recording: str) -> int: ...


class PinGuard:
    """Checks PINs in constant time and locks the line after too many wrong ones.

    Shared by every call of a worker: wrong PINs of all calls count together, so guessing by
    calling again and again is limited too."""

    def __init__(
        self, settings: RecordingLineSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._digest = hashlib.sha256(settings.pin.get_secret_value().encode()).digest()
        self._enabled = bool(settings.pin.get_secret_value())
        self._settings = settings
        self._clock = clock
        self._failures: deque[float] = deque()
        self._locked_until = 0.0

    def locked(self) -> bool:
        """True while the line refuses every PIN."""
        return not self._enabled or self._clock() < self._locked_until

    def check(self, entered: str) -> bool:
        """Whether ``entered`` is the PIN; a wrong one counts towards the lock."""
        if self.locked():
            return False
        digest = hashlib.sha256(entered.encode()).digest()
        if hmac.compare_digest(digest, self._digest):
            return True
        now = self._clock()
        self._failures.append(now)
        while self._failures and self._failures[0] < now - self._settings.failure_window_s:
            self._failures.popleft()
        if len(self._failures) >= self._settings.failures_to_lock:
            self._locked_until = now + self._settings.lock_s
            self._failures.clear()
            log.warning("recording line locked for %.0f s after wrong PINs", self._settings.lock_s)
        return False


def new_recording_id() -> str:
    """A fresh recording id (valid for :class:`speech.recorded.RecordedPrompts`)."""
    return f"phone-{secrets.token_hex(6)}"


@dataclass
class RecordingLine:
    """Runs one call of the recording line (see the module docstring)."""

    settings: RecordingLineSettings
    prompts: PromptSource
    drafts: PromptDrafts
    recordings_dir: Path
    guard: PinGuard
    new_id: Callable[[], str] = field(default=new_recording_id)
    saved: list[tuple[int, str]] = field(default_factory=list)  # (prompt, recording) this run

    async def __call__(self, call: CallChannel) -> None:
        try:
            if not await self._sign_in(call):
                await self._say(call, REFUSED)
                return
            for _ in range(MAX_PROMPTS_PER_CALL):
                chosen = await self._choose(call)
                if chosen is None:
                    break
                await self._record_prompt(call, chosen)
            await self._say(call, GOODBYE)
        except CallerHungUp:
            return
        finally:
            with contextlib.suppress(Exception):
                await call.hangup()

    async def _say(self, call: CallChannel, text: str, *, barge: bool = True) -> None:
        await call.play(await self.prompts(text), barge_in_digits=barge)

    async def _keys(self, call: CallChannel, max_digits: int) -> str | None:
        spec = DigitSpec(
            max_digits=max_digits,
            terminator="#",
            first_timeout_s=self.settings.digit_timeout_s,
            inter_timeout_s=self.settings.digit_timeout_s / 2,
        )
        outcome = await collect_digits(call, spec)
        return None if outcome.timed_out else outcome.digits

    async def _sign_in(self, call: CallChannel) -> bool:
        if self.guard.locked():
            log.warning("recording line call %s refused: the line is locked", call.info.call_id)
            return False
        await self._say(call, WELCOME)
        for attempt in range(self.settings.pin_tries):
            entered = await self._keys(call, max_digits=16)
            if entered is not None and self.guard.check(entered):
                return True
            log.info("recording line call %s: wrong PIN", call.info.call_id)
            if attempt + 1 < self.settings.pin_tries and not self.guard.locked():
                await self._say(call, WRONG_PIN)
        return False

    async def _choose(self, call: CallChannel) -> NumberedPrompt | None:
        for _ in range(CHOICE_TRIES):
            await self._say(call, ASK_NUMBER)
            entered = await self._keys(call, max_digits=4)
            if entered is None:
                continue
            prompts = await asyncio.to_thread(self.drafts.prompts)
            chosen = next((p for p in prompts if str(p.number) == entered.lstrip("0")), None)
            if chosen is not None:
                return chosen
            await self._say(call, NO_SUCH_PROMPT)
        return None

    async def _record_prompt(self, call: CallChannel, prompt: NumberedPrompt) -> None:
        await self._say(call, PROMPT_READS)
        await self._say(call, prompt.text)
        for _ in range(MAX_TAKES):
            await self._say(call, RECORD_AFTER_TONE)
            await call.play(tone(), barge_in_digits=False)
            call.flush_digits()  # keys pressed before the tone do not end the take
            take = await self.record(call)
            if take.stopped_by == "nothing" or not take.pcm:
                await self._say(call, NOTHING_HEARD)
                continue
            choice = await self._review(call, take)
            if choice == "1":
                await self._keep(call, prompt, take)
                return
            if choice is None:
                return

    async def _review(self, call: CallChannel, take: Take) -> str | None:
        await self._say(call, YOU_RECORDED)
        await call.play(Audio(take.pcm, LINE_RATE))
        for _ in range(CHOICE_TRIES):
            await self._say(call, KEEP_OR_AGAIN)
            key = await call.next_digit(self.settings.digit_timeout_s)
            if key in ("1", "2"):
                return key
        return None

    async def _keep(self, call: CallChannel, prompt: NumberedPrompt, take: Take) -> None:
        recording_id = self.new_id()
        try:
            await asyncio.to_thread(write_recording, self.recordings_dir, recording_id, take.pcm)
            draft = await asyncio.to_thread(
                self.drafts.attach, prompt.number, prompt.text, recording_id
            )
        except Exception as exc:  # the editor is told; a written file stays for an admin
            log.error("recording line: take for prompt %d not kept (%s)", prompt.number, exc)
            await self._say(call, NOT_SAVED)
            return
        self.saved.append((prompt.number, recording_id))
        log.info("recording %s for prompt %d in draft %d", recording_id, prompt.number, draft)
        await self._say(call, SAVED)

    async def record(self, call: CallChannel) -> Take:
        """One take of the caller's audio (:func:`ivr.audio_take.record_take`); a hang-up
        during the take ends the call without keeping it."""
        settings = self.settings
        limits = TakeLimits(
            max_s=settings.max_record_s,
            silence_end_s=settings.silence_end_s,
            no_speech_s=settings.no_speech_s,
            speech_rms=settings.speech_rms,
        )
        take = await record_take(call, limits)
        if take.hung_up:
            raise CallerHungUp("ended while recording")
        return take


CallHandler = Callable[[Any], Awaitable[None]]


def routed(user: str, line: CallHandler, hotline: CallHandler) -> CallHandler:
    """Calls to ``user`` go to the recording line, every other call to the hotline."""

    async def on_call(call: Any) -> None:
        if call.info.callee == user:
            await line(call)
        else:
            await hotline(call)

    return on_call


def with_recording_line(
    settings: Any, sessions: Any, prompts: PromptSource, hotline: CallHandler
) -> CallHandler:
    """The hotline's call handler with the recording line in front when a PIN is set."""
    line_settings: RecordingLineSettings = settings.recording_line
    if not line_settings.pin.get_secret_value():
        return hotline
    from menus.prompt_numbers import DraftRecordings
    from menus.store import MenuStore

    drafts = DraftRecordings(MenuStore(sessions), fallback=settings.menus.default_tree)
    line = RecordingLine(
        settings=line_settings,
        prompts=prompts,
        drafts=drafts,
        recordings_dir=settings.speech.recordings_dir,
        guard=PinGuard(line_settings),
    )
    log.info("recording line on user %r", line_settings.user)
    return routed(line_settings.user, line, hotline)
