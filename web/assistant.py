"""Virtual-assistant conversations: each one the dialog runtime walking the published tree on a
:class:`~web.assistant_channel.WebChannel`, logged in the call log like a call (channel
``web``), with the same disclosure policy (a web visitor has no caller ID, so personal details
need the phone-digits check)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from core.audio import Audio
from ivr.channel import WEB_CODEC, CallInfo
from ivr.events import CallAnswered, CallEnded, CallEvent, CallStarted, FanoutSink, PromptPlayed
from ivr.runtime.deps import PinnedTree, PromptSource, RuntimeDeps
from ivr.runtime.interpreter import run_call
from menus.model import MenuTree
from web.assistant_channel import KEYS, TypedTextRecognizer, TypedTurnDetector, WebChannel
from web.context import WebContext

log = logging.getLogger(__name__)

MAX_CONVERSATIONS = 200
MAX_MESSAGES = 300
SETTLE_S = 20.0
"""How long a request waits for the runtime to need the visitor again."""
ENDED_KEPT_S = 120.0
"""An ended conversation stays readable this long."""
KEYPAD_ONLY = "Ở bước này xin quý vị dùng các phím bấm."


@dataclass
class Message:
    """One line of the conversation: the assistant's prompt (with audio) or the visitor's."""

    who: str  # "bot" | "me" | "note"
    text: str
    audio: Audio | None = None


@dataclass
class Conversation:
    """One visitor's conversation."""

    id: str
    owner: str
    channel: WebChannel
    started: float
    last_active: float
    messages: list[Message] = field(default_factory=list)
    task: asyncio.Task[Any] | None = None
    pending_audio: list[Audio] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.channel.ended or (self.task is not None and self.task.done())


_SPOKEN: ContextVar[str] = ContextVar("assistant_spoken", default="")
"""The text the runtime last rendered in this conversation's task (set by the prompt source)."""


def remembering(prompts: PromptSource) -> PromptSource:
    """The prompt source, noting the text it renders in the running conversation's context: a
    personal sentence's event carries only its template id, and the visitor who passed the
    check is shown the sentence itself (on the page only: the call log keeps the id)."""

    async def render(text: str) -> Audio:
        _SPOKEN.set(text)
        return await prompts(text)

    return render


def _shown_text(event: PromptPlayed) -> str:
    """What the page shows for a played prompt: its text, or for a personal sentence (whose
    event holds ``[template-id]``) the sentence just rendered in this conversation."""
    text = event.text
    if text.startswith("[") and text.endswith("]") and _SPOKEN.get():
        return _SPOKEN.get()
    return text


class _ConversationSink:
    """Shows each prompt the runtime plays as a message with the audio just played."""

    def __init__(self, conversation: Conversation) -> None:
        self._conversation = conversation

    def emit(self, event: CallEvent) -> None:
        if isinstance(event, PromptPlayed):
            conv = self._conversation
            audio = conv.pending_audio.pop(0) if conv.pending_audio else None
            if len(conv.messages) < MAX_MESSAGES:
                conv.messages.append(Message("bot", _shown_text(event), audio))


class AssistantService:
    """Starts, drives and ends conversations; one per web app."""

    def __init__(
        self,
        context: WebContext,
        sessions: sessionmaker[Session],
        *,
        deps: RuntimeDeps,
        sink: Any,
        tree: Callable[[], MenuTree],
    ) -> None:
        self._context = context
        self._sessions = sessions
        self._deps = deps
        self._sink = sink
        self._tree = tree
        self.conversations: dict[str, Conversation] = {}

    def _now_s(self) -> float:
        return self._context.monotonic()

    async def reap(self) -> None:
        """End and forget conversations that ended or were idle longer than the setting."""
        idle = self._context.settings.web.assistant_idle_s
        for conv in list(self.conversations.values()):
            if self._now_s() - conv.last_active > (ENDED_KEPT_S if conv.ended else idle):
                await conv.channel.hangup()
                self.conversations.pop(conv.id, None)

    async def start(
        self, owner: str, *, tree: MenuTree | None = None, label: str = "assistant"
    ) -> Conversation | None:
        """A new conversation (None when too many are open), run until it needs the visitor.
        ``tree``: a draft to try (default: the published tree); ``label`` is the call's callee
        in the call log."""
        await self.reap()
        if len(self.conversations) >= MAX_CONVERSATIONS:
            return None
        call_id = "web-" + secrets.token_hex(12)
        info = CallInfo(
            call_id=call_id, caller="web", caller_display="", callee=label, codec=WEB_CODEC
        )
        conv_ref: list[Conversation] = []
        channel = WebChannel(
            info,
            timeout_factor=self._context.settings.web.assistant_wait_factor,
            on_audio=lambda audio: conv_ref[0].pending_audio.append(audio),
        )
        conv = Conversation(secrets.token_urlsafe(16), owner, channel, self._now_s(), self._now_s())
        conv_ref.append(conv)
        self.conversations[conv.id] = conv
        if tree is None:
            tree = await asyncio.to_thread(self._tree)
        conv.task = asyncio.create_task(self._run(conv, tree))
        await self.settle(conv)
        return conv

    async def _run(self, conv: Conversation, tree: MenuTree) -> None:
        info = conv.channel.info
        sink = FanoutSink(self._sink, _ConversationSink(conv))
        deps = dataclasses.replace(
            self._deps,
            recognizer=TypedTextRecognizer(conv.channel),
            voice_detector=TypedTurnDetector,
        )
        started = time.monotonic()
        sink.emit(
            CallStarted(
                call_id=info.call_id,
                caller=info.caller,
                callee=info.callee,
                codec="web",
                remote_media="",
            )
        )
        sink.emit(CallAnswered(call_id=info.call_id))
        reason = "ivr-bye"
        try:
            await run_call(conv.channel, PinnedTree.of(tree), deps, sink)
            reason = "caller-bye" if conv.channel.ended else "ivr-bye"
        except Exception:
            log.exception("virtual assistant conversation %s failed", info.call_id)
            reason = "error"
        finally:
            await conv.channel.hangup()
            sink.emit(
                CallEnded(
                    call_id=info.call_id, reason=reason, duration_s=time.monotonic() - started
                )
            )

    async def settle(self, conv: Conversation) -> None:
        """Wait until the runtime waits for the visitor again, or the conversation ends."""
        waiting = asyncio.ensure_future(conv.channel.waiting.wait())
        assert conv.task is not None
        try:
            await asyncio.wait(
                {waiting, conv.task}, timeout=SETTLE_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiting.cancel()

    async def key(self, conv: Conversation, key: str) -> None:
        """A keypad button pressed."""
        if key not in KEYS or conv.ended:
            return
        conv.last_active = self._now_s()
        conv.messages.append(Message("me", f"Phím {key}"))
        conv.channel.press(key)
        await self.settle(conv)

    async def text(self, conv: Conversation, text: str) -> None:
        """Typed words, understood as a spoken answer (or keys where only keys are taken)."""
        text = " ".join(text.split())[:300]
        if not text or conv.ended:
            return
        conv.last_active = self._now_s()
        conv.messages.append(Message("me", text))
        if conv.channel.listening:
            conv.channel.say(text)
        elif all(ch in KEYS for ch in text):
            for ch in text:
                conv.channel.press(ch)
        else:
            conv.messages.append(Message("note", KEYPAD_ONLY))
            return
        await self.settle(conv)

    async def end(self, conv: Conversation) -> None:
        """The visitor leaves."""
        await conv.channel.hangup()
        if conv.task is not None:
            await asyncio.wait({conv.task}, timeout=5.0)
        self.conversations.pop(conv.id, None)


def build_service(context: WebContext, sessions: sessionmaker[Session]) -> AssistantService:
    """The service with the runtime's real backends, as the IVR workers wire them."""
    from integrations.calendar_vn import HolidayCalendar
    from integrations.dossiers_db import DatabaseDossierSource
    from integrations.officers import DbOfficerDirectory
    from integrations.procedures import DbProcedureCatalogue
    from ivr.calllog.sink import DbCallLog
    from menus.store import MenuStore, PublishedTrees
    from web.prompt_pages import prompt_cache

    settings = context.settings
    tz = ZoneInfo(settings.timezone)
    deps = RuntimeDeps(
        prompts=remembering(prompt_cache(context).get),
        dossiers=DatabaseDossierSource(sessions),
        catalogue=DbProcedureCatalogue(sessions),
        officers=DbOfficerDirectory(sessions, timezone=settings.timezone),
        calendar=HolidayCalendar(),
        now=lambda: datetime.now(tz),
        transfer_targets={},
    )
    calllog = DbCallLog(sessions)
    calllog.start()
    context.extras["assistant_calllog"] = calllog
    trees = PublishedTrees(MenuStore(sessions), fallback=settings.menus.default_tree)
    return AssistantService(context, sessions, deps=deps, sink=calllog, tree=trees.current)
