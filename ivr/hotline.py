"""Composition of a running hotline: what each answered call runs, and where its events go.

``build_hotline(settings, app=...)`` wires the prompt source, the event sinks and (for the
``hotline`` app) the menu runtime with its speech and integration back-ends. It is the one
place that knows every package; the packages themselves only know their Protocols.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from config.settings import Settings
from ivr.call import Call
from ivr.events import CallEvent, EventSink, FanoutSink
from ivr.runtime.greeting import digits_greeting

log = logging.getLogger(__name__)


class LogSink:
    """Writes every call event to the log (one line each)."""

    def emit(self, event: CallEvent) -> None:
        from integrations.privacy import mask_numbers_in

        # Floats rounded first: a duration's long decimals would look like a phone number.
        payload = {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in event.payload().items()
        }
        log.info("call %s %s %s", event.call_id[:12], event.kind, mask_numbers_in(str(payload)))


@dataclass
class Hotline:
    """What the worker needs: a handler per answered call and the event sink."""

    on_call: Callable[[Call], Awaitable[None]]
    sink: EventSink
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for closer in self.closers:
            try:
                await closer()
            except Exception:
                log.exception("closing the hotline")


def static_prompt_texts(tree: Any) -> list[str]:
    """Every prompt text written in a menu tree (rendered ahead of the first call)."""
    from menus.model import Prompt

    texts: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, Prompt):
            if value.text and "{" not in value.text:
                texts.append(value.text)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)

    visit(tree)
    return list(dict.fromkeys(texts))


async def build_hotline(
    settings: Settings, *, app: str = "hotline", now: Callable[[], datetime] | None = None
) -> Hotline:
    """Wire a hotline from settings: prompts (gTTS pre-rendered, espeak-ng offline), the call
    log in the database, and for ``app="hotline"`` the published menu tree run by the dialog
    runtime over the database dossier source, procedure catalogue and officer directory, with
    offline speech recognition when the recogniser loads."""
    from db import create_engine_from_url, in_memory_database, session_factory
    from ivr.calllog.sink import DbCallLog
    from ivr.calllog.writer_process import CallLogProcess
    from speech.prompt_cache import build_prompt_cache
    from speech.tts import build_synthesizer

    engine = create_engine_from_url(settings.database_url)
    sessions = session_factory(engine)
    calllog: DbCallLog | CallLogProcess
    if in_memory_database(settings.database_url):  # only this process can see that database
        calllog = DbCallLog(sessions)
    else:  # database work off the media process (see ivr.calllog.writer_process)
        calllog = CallLogProcess(settings.database_url)
    calllog.start()
    sink = FanoutSink(LogSink(), calllog)
    cache = build_prompt_cache(settings.speech, build_synthesizer(settings.speech))
    hotline = Hotline(on_call=_unset, sink=sink)

    async def close_db() -> None:
        await asyncio.to_thread(calllog.close)
        engine.dispose()

    hotline.closers.append(close_db)

    if app == "digits":

        async def on_digits_call(call: Call) -> None:
            await digits_greeting(call, cache.get)

        hotline.on_call = on_digits_call
        return hotline

    from integrations.calendar_vn import HolidayCalendar
    from integrations.dossiers_db import DatabaseDossierSource
    from integrations.officers import DbOfficerDirectory
    from integrations.procedures import DbProcedureCatalogue
    from ivr.runtime.deps import PinnedTree, RuntimeDeps
    from ivr.runtime.interpreter import run_call
    from menus.store import MenuStore, PublishedTrees

    trees = PublishedTrees(MenuStore(sessions), fallback=settings.menus.default_tree)
    recognizer, voice_detector = await _load_recognizer(settings, hotline)
    officers = DbOfficerDirectory(sessions, timezone=settings.timezone)
    tz = ZoneInfo(settings.timezone)
    deps = RuntimeDeps(
        prompts=cache.get,
        dossiers=DatabaseDossierSource(sessions),
        catalogue=DbProcedureCatalogue(sessions),
        officers=officers,
        calendar=HolidayCalendar(),
        now=now or (lambda: datetime.now(tz)),
        transfer_targets=dict(settings.sip.transfer_targets),
        recognizer=recognizer,
        voice_detector=voice_detector,
    )

    async def prerender() -> None:
        try:
            tree = await asyncio.to_thread(trees.current)
            report = await cache.prerender(static_prompt_texts(tree))
            log.info("prompts ready: %s", report)
        except Exception:
            log.exception("pre-rendering the menu prompts failed (they render on first use)")

    warmup = asyncio.get_running_loop().create_task(prerender())
    hotline.closers.append(lambda: _cancel(warmup))

    async def on_hotline_call(call: Call) -> None:
        tree = await asyncio.to_thread(trees.current)  # pinned for the whole call
        await run_call(call, PinnedTree.of(tree), deps, sink)

    hotline.on_call = on_hotline_call
    return hotline


async def _load_recognizer(settings: Settings, hotline: Hotline) -> tuple[Any, Any]:
    """The offline recogniser and the voice detector class, or (None, None): keypad only."""
    if settings.speech.recognizer == "none":
        log.info("speech recognition switched off: keypad only")
        return None, None
    try:
        from speech.asr import create_recognizer
        from speech.vad import SpeechDetector

        recognizer = create_recognizer(settings.speech)
        await recognizer.load()
    except Exception as exc:  # the hotline still answers by keypad
        log.warning("speech recognition unavailable (%s): keypad only", exc)
        return None, None
    hotline.closers.append(lambda: asyncio.to_thread(recognizer.close))
    return recognizer, SpeechDetector


async def _unset(call: Call) -> None:
    raise RuntimeError("hotline not wired")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
