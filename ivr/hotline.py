"""Composition of a running hotline: what each answered call runs, and where its events go.

``build_hotline(settings, app=...)`` wires the prompt source, the event sinks and (for the
``hotline`` app) the menu runtime with its speech and integration back-ends. It is the one
place that knows every package; the packages themselves only know their Protocols.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from config.settings import Settings
from ivr.bridge.officer_line import BridgeLine
from ivr.call import Call
from ivr.events import CallEvent, EventSink, FanoutSink
from ivr.outbound.claim_loop import ClaimLoop
from ivr.queue.waiting import QueueDoor
from ivr.runtime.greeting import digits_greeting
from ivr.sip.endpoint import RegisterHandler

log = logging.getLogger(__name__)

WARMUP_WAIT_S = 60.0  # longest a worker waits for its prompts before it takes calls


class LogSink:
    """Writes every call event to the log (one line each)."""

    def emit(self, event: CallEvent) -> None:
        from integrations.privacy import mask_numbers_in

        # Floats rounded first: a duration's long decimals would look like a phone number.
        payload = {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in event.payload().items()
        }
        log.info(
            "call %s %s %s", event.call_id[:12], event.kind, mask_numbers_in(str(payload)),
            extra={"call_id": event.call_id},  # structured logs carry the whole Call-ID
        )  # fmt: skip


@dataclass
class Hotline:
    """What the worker needs: a handler per answered call and the event sink."""

    on_call: Callable[[Call], Awaitable[None]]
    sink: EventSink
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    prompt_stats: Any = None  # the prompt cache's counters, for metrics
    recognition_pool: Any = None  # the recogniser's slots, for metrics
    registrar: RegisterHandler | None = None  # answers officers' REGISTERs
    bridge: BridgeLine | None = None  # rings officers; its dial is the worker's endpoint
    calllog: Any = None  # the call-log sink, whose drops are counted in metrics
    warmup: asyncio.Task[None] | None = None  # the menu prompts rendered ahead of the first call
    outbound: ClaimLoop | None = None  # "call back now": claims the console's requests

    def attach(self, endpoint: Any) -> None:
        """Give the hotline the worker's endpoint (before it starts): officers' REGISTERs
        answered, the bridge and "call back now" dialling through it."""
        endpoint.registrar = self.registrar
        if self.bridge is not None:
            self.bridge.dial = endpoint.dial
        if self.outbound is not None:
            self.outbound.caller.dial = endpoint.dial

    def start_outbound(self) -> None:
        """Once the endpoint is started: claim the console's "call back now" requests."""
        if self.outbound is not None:
            self.outbound.start()
            self.closers.insert(0, self.outbound.close)

    async def warmed(self, timeout_s: float = WARMUP_WAIT_S) -> None:
        """Wait, at most ``timeout_s``, for the prompts rendered ahead of the first call: a
        worker that takes calls while synthesising them answers late and plays its clock late."""
        if self.warmup is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.warmup), timeout_s)
        except TimeoutError:
            log.warning("prompts still rendering after %.0f s: taking calls anyway", timeout_s)

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
    settings: Settings,
    *,
    app: str = "hotline",
    now: Callable[[], datetime] | None = None,
    sinks: Sequence[EventSink] = (),
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
        calllog = DbCallLog(sessions, node_id=settings.node.id)
    else:  # database work off the media process (see ivr.calllog.writer_process)
        calllog = CallLogProcess(settings.database_url, node_id=settings.node.id)
    calllog.start()
    sink = FanoutSink(LogSink(), calllog, *sinks)
    cache = build_prompt_cache(settings.speech, build_synthesizer(settings.speech))
    hotline = Hotline(on_call=_unset, sink=sink, prompt_stats=cache.stats, calllog=calllog)

    async def close_db() -> None:
        await asyncio.to_thread(calllog.close)
        engine.dispose()

    hotline.closers.append(close_db)
    if settings.registrar.enabled:
        hotline.registrar = build_registrar(settings, sessions)

    if app == "digits":
        from ivr.runtime.greeting import GOODBYE, GREETING

        # the keys read back may be a phone or ID number: offline and off disk like any data
        digits_voice = build_prompt_voice(settings.speech, cache.get)
        digits_prompts = digits_voice.for_tree(None, extra_static=(GREETING, GOODBYE))

        async def on_digits_call(call: Call) -> None:
            await digits_greeting(call, digits_prompts)

        hotline.on_call = on_digits_call
        return hotline

    from integrations.calendar_vn import HolidayCalendar
    from integrations.dossiers_db import DatabaseDossierSource
    from integrations.officers import DbOfficerDirectory
    from integrations.procedures import DbProcedureCatalogue
    from integrations.verification import CheckLimits, DbCheckFailures
    from ivr.calllog.purge_schedule import purge_once, purge_periodically
    from ivr.runtime.deps import PinnedTree, RuntimeDeps, RuntimeTiming
    from ivr.runtime.interpreter import run_call
    from menus.followed_tree import FollowedTree
    from menus.store import MenuStore, PublishedTrees

    trees = PublishedTrees(MenuStore(sessions), fallback=settings.menus.default_tree)
    followed = FollowedTree(trees)  # a call's set-up pins it without a database query
    await followed.start()
    hotline.closers.append(followed.close)
    recognizer, voice_detector = await _load_recognizer(settings, hotline)
    officers = DbOfficerDirectory(sessions, timezone=settings.timezone)
    tz = ZoneInfo(settings.timezone)
    voice = build_prompt_voice(settings.speech, cache.get)
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
        check_failures=DbCheckFailures(sessions),
        check_limits=CheckLimits(**settings.integrations.caller_check.model_dump()),
        timing=RuntimeTiming(max_call_s=settings.sip.max_call_s),
        queue=build_queue(settings, sessions, cache.get, hotline),
        messages=build_message_box(settings, sessions),
    )

    async def prerender() -> None:
        try:
            tree = followed.current()
            report = await cache.prerender(static_prompt_texts(tree))
            log.info("prompts ready: %s", report)
        except Exception:
            log.exception("pre-rendering the menu prompts failed (they render on first use)")

    warmup = asyncio.get_running_loop().create_task(prerender())
    hotline.warmup = warmup
    hotline.closers.append(lambda: _cancel(warmup))
    retention = asyncio.get_running_loop().create_task(
        purge_periodically(
            lambda: purge_once(
                sessions,
                retention_days=settings.integrations.retention_days,
                lockout_window_s=settings.integrations.caller_check.lockout_window_s,
                now=datetime.now(tz),
                messages_dir=settings.speech.messages_dir,
                recordings_dir=settings.queues.recordings_dir,
            ),
            interval_s=settings.integrations.purge_interval_s,
        )
    )
    hotline.closers.append(lambda: _cancel(retention))

    async def on_hotline_call(call: Call) -> None:
        tree = followed.current()  # pinned for the whole call
        prompts = voice.for_tree(tree, report=recording_problem(sink, call.info.call_id))
        call_deps = dataclasses.replace(
            deps, prompts=prompts, voice_detector=echo_guarded(deps.voice_detector, call)
        )
        await run_call(call, PinnedTree.of(tree), call_deps, sink)

    hotline.on_call = on_hotline_call
    from ivr.recording_line import with_recording_line  # calls to the recording number

    hotline.on_call = with_recording_line(settings, sessions, cache.get, on_hotline_call)
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
        from speech.vietasr_engine import VietAsrRecognizer

        if isinstance(recognizer, VietAsrRecognizer):
            hotline.recognition_pool = recognizer.pool
    except Exception as exc:  # the hotline still answers by keypad
        log.warning("speech recognition unavailable (%s): keypad only", exc)
        return None, None
    hotline.closers.append(lambda: asyncio.to_thread(recognizer.close))
    from speech.vietasr_engine import VietAsrRecognizer

    if isinstance(recognizer, VietAsrRecognizer):  # its slots, for metrics
        hotline.recognition_pool = recognizer.pool
    return recognizer, SpeechDetector


def runtime_fixed_texts() -> tuple[str, ...]:
    """The runtime's own sentences that carry no data: static, like the tree's prompts."""
    from ivr.runtime import phrases, voice_message
    from ivr.runtime.interpreter import ERROR_APOLOGY

    return (
        voice_message.LEAVE_MESSAGE,
        voice_message.NOTHING_HEARD,
        voice_message.MESSAGE_SAVED,
        voice_message.NOT_SAVED,
        voice_message.PHONE_ONLY,
        phrases.NOT_UNDERSTOOD,
        phrases.GOODBYE,
        phrases.SYSTEM_APOLOGY,
        phrases.TRANSFER_FAILED,
        phrases.KEYPAD_ONLY,
        phrases.CONFIRM_KEYS,
        ERROR_APOLOGY,
    )


def build_prompt_voice(
    speech: Any,
    static: Callable[[str], Awaitable[Any]],
    *,
    private: Callable[[str], Awaitable[Any]] | None = None,
) -> Any:
    """Recordings, the static prompt cache, and private offline rendering of dynamic sentences
    (by default the voice pack over espeak-ng): see :mod:`speech.prompt_audio`."""
    from speech.prompt_audio import PromptVoice
    from speech.recorded import RecordedPrompts
    from speech.voice_pack import build_pack_speaker

    return PromptVoice(
        static=static,
        private=private or build_pack_speaker(speech),
        recordings=RecordedPrompts(speech.recordings_dir),
        fixed_texts=runtime_fixed_texts(),
    )


def echo_guarded(detector: Callable[[], Any] | None, call: Call) -> Callable[[], Any] | None:
    """Each turn's voice detector behind an echo guard that knows what this call plays."""
    if detector is None:
        return None
    from speech.echo_guard import EchoGuard

    def guarded() -> Any:
        return EchoGuard(detector(), call.echo_reference)

    return guarded


def recording_problem(sink: EventSink, call_id: str) -> Callable[[str], None]:
    """Report a recording that could not be played as a call error event."""
    from core.errors import ErrorCode
    from ivr.events import CallError

    def report(detail: str) -> None:
        sink.emit(
            CallError(call_id=call_id, code=ErrorCode.RECORDING_UNAVAILABLE, detail=detail[:300])
        )

    return report


def build_queue(
    settings: Settings, sessions: Any, prompts: Any, hotline: Hotline
) -> QueueDoor | None:
    """The department queues with the bridge to officers' registered phones (None when the
    registrar is off: "an officer" is then the REFER to the configured targets)."""
    import time

    from ivr.queue.music import load_music
    from ivr.queue.store_db import DbQueueStore
    from ivr.registrar_db import DbRegistry

    if not settings.registrar.enabled:
        return None
    host = settings.sip.public_address or settings.sip.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    from ivr.bridge.recording import BridgeRecorder

    music = load_music(settings.queues.music_file)
    recorder = None
    if settings.queues.record_bridges:
        recorder = BridgeRecorder(settings.queues.recordings_dir, sink=hotline.sink)
        hotline.closers.insert(0, recorder.drain)  # before the call log closes
    hotline.bridge = BridgeLine(
        _not_started,
        DbRegistry(sessions, realm=settings.registrar.realm),
        from_uri=f"sip:hotline@{host}:{settings.sip.port}",
        whisper=prompts,
        clock=time.time,
        hold_music=music,  # heard by one side of a bridge while the other holds
        recorder=recorder,
    )
    hotline.outbound = build_outbound(settings, sessions, hotline.bridge, host)
    return QueueDoor(
        store=DbQueueStore(sessions),
        settings=settings.queues,
        prompts=prompts,
        music=music,
        officers=hotline.bridge,
        clock=time.time,
        sink=hotline.sink,
    )


def build_outbound(
    settings: Settings, sessions: Any, bridge: BridgeLine, host: str
) -> ClaimLoop | None:
    """ "Call back now" through the configured trunk (None without one)."""
    from ivr.outbound.callback_call import CallbackCaller
    from ivr.outbound.requests import DbOutboundCalls

    trunk = settings.sip.trunk
    if trunk is None:
        return None
    requests = DbOutboundCalls(sessions)
    caller = CallbackCaller(
        phones=bridge.ring_phones,
        dial=_not_started,
        requests=requests,
        trunk=trunk,
        from_uri=f"sip:{trunk.caller_id}@{host}:{settings.sip.port}",
        wrap_up_s=settings.queues.wrap_up_s,
    )
    return ClaimLoop(requests, caller, sessions, node_id=settings.node.id)


def build_message_box(settings: Settings, sessions: Any) -> Any:
    """Callers' voice messages: queue entries of the shared database, audio in the messages
    folder."""
    import time

    from ivr.queue.messages import VoiceMessageBox
    from ivr.queue.store_db import DbQueueStore

    return VoiceMessageBox(DbQueueStore(sessions), settings.speech.messages_dir, clock=time.time)


async def _not_started(*args: Any, **kwargs: Any) -> Any:
    from ivr.sip.uac import DialFailed

    raise DialFailed(503, "the worker's endpoint is not started")


def build_registrar(settings: Settings, sessions: Any) -> RegisterHandler:
    """The registrar officers' softphones register to, over the shared database."""
    import time

    from ivr.registrar_db import DbRegistry
    from ivr.sip.registrar import Registrar

    registry = DbRegistry(sessions, realm=settings.registrar.realm)
    registrar = Registrar(settings.registrar, credentials=registry, store=registry, clock=time.time)
    return registrar.handle


async def _unset(call: Call) -> None:
    raise RuntimeError("hotline not wired")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
