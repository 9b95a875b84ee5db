"""The officer console: availability, the department's line, recent calls, callbacks, voice
messages to hear, and the screen-pop (live, from :mod:`web.console_events`).

Availability is written through the queue store, exactly as ``tongdai queue state`` does, so
every worker's queue sees it at its next turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from integrations.officers import OfficerInfo, officers_of
from ivr.calllog.callback_outcomes import (
    CallbackOutcome,
    append_event,
    finish_callback,
    record_outcome,
)
from ivr.events import VoiceMessageHandled
from ivr.queue.messages import message_path
from ivr.queue.model import EntryKind, EntryState, OfficerState
from ivr.queue.store_db import DbQueueStore
from web import console_callnow, console_events
from web.auth import Principal, require
from web.console_data import (
    STATE_LABELS_VI,
    TOGGLE_STATES,
    ConsoleOfficer,
    callbacks_for,
    line_view,
    message_of,
    messages_for,
    own_state,
    queue_entry_of,
    recent_handled,
    resolve_officer,
)
from web.context import sessions_of, web_context
from web.pages import render, render_error
from web.roles import Permission, Role

router = APIRouter(include_in_schema=False)
router.include_router(console_events.router)
router.include_router(console_callnow.router)
Officer = Annotated[Principal, Depends(require(Permission.CALLS_READ))]
OfficerParam = Annotated[str, Query(max_length=32)]
OUTCOME_LABELS_VI = {
    CallbackOutcome.REACHED: "Đã liên lạc được",
    CallbackOutcome.NO_ANSWER: "Không nghe máy",
    CallbackOutcome.WRONG_NUMBER: "Sai số",
}
NO_OFFICER = (
    "Tài khoản này chưa gắn với cán bộ nào (tongdai officers add … --web-login TÊN-ĐĂNG-NHẬP)."
)


async def _officer(request: Request, user: Principal, requested: str) -> ConsoleOfficer | None:
    sessions = sessions_of(request)
    is_admin = user.role is Role.ADMIN

    def find() -> ConsoleOfficer | None:
        with sessions() as session:
            return resolve_officer(session, user.username, is_admin, requested)

    return await asyncio.to_thread(find)


def _all_officers(sessions: sessionmaker[Session]) -> list[OfficerInfo]:
    with sessions() as session:
        return [o for o in officers_of(session) if o.active]


def _back(officer: str, note: str = "") -> RedirectResponse:
    query = "&".join(p for p in (f"officer={officer}" if officer else "", note) if p)
    return RedirectResponse("/console" + ("?" + query if query else ""), status_code=303)


@router.get("/console", response_class=HTMLResponse)
async def console_page(
    request: Request,
    user: Officer,
    officer: OfficerParam = "",
    done: OfficerParam = "",
    heard: OfficerParam = "",
    calling: OfficerParam = "",
) -> Response:
    """The console of the signed-in officer (an admin: of ``?officer=EXTENSION``)."""
    me = await _officer(request, user, officer)
    sessions = sessions_of(request)
    if me is None:
        choices: list[OfficerInfo] = []
        if user.role is Role.ADMIN:  # an admin picks whose console to open
            choices = await asyncio.to_thread(_all_officers, sessions)
        return render(request, "console.html", officer=None, message=NO_OFFICER, choices=choices)
    personal = user.can(Permission.PERSONAL_DATA)
    now = time.time()
    snap = await DbQueueStore(sessions).snapshot(me.department_id, now=now, history=0)
    line, officers = line_view(snap, now, personal)

    messages_dir = _messages_dir(request)

    def read() -> tuple[object, object, object]:
        with sessions() as session:
            return (
                recent_handled(session, me.extension, personal),
                callbacks_for(session, me, snap, personal),
                messages_for(session, me.department_id, personal, messages_dir),
            )

    recent, callbacks, messages = await asyncio.to_thread(read)
    calls = await console_callnow.recent_calls(request, me)
    return render(
        request,
        "console.html",
        officer=me,
        as_admin=bool(officer) and user.role is Role.ADMIN,
        state=own_state(snap, me.extension, now),
        states=TOGGLE_STATES,
        state_labels=STATE_LABELS_VI,
        line=line,
        officers=officers,
        recent=recent,
        callbacks=callbacks,
        messages=messages,
        outcomes=OUTCOME_LABELS_VI,
        clock=_clock(request),
        done=done,
        heard=heard,
        calling=calling,
        calls=calls,
        callnow_off=console_callnow.unavailable_reason(web_context(request).settings),
    )


def _messages_dir(request: Request) -> Path:
    return web_context(request).settings.speech.messages_dir


def _clock(request: Request) -> Callable[[float], str]:
    tz = ZoneInfo(web_context(request).settings.timezone)

    def text(moment: float) -> str:
        return datetime.fromtimestamp(moment, tz).strftime("%d/%m %H:%M:%S")

    return text


@router.post("/console/state")
async def set_state(
    request: Request,
    user: Officer,
    state: Annotated[str, Form(max_length=16)],
    officer: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Available, on a break or signed out (the queue sets ringing, on a call and wrap-up)."""
    try:
        wanted = OfficerState(state)
    except ValueError:
        wanted = None
    if wanted not in TOGGLE_STATES:
        return render_error(request, 400, "Trạng thái không hợp lệ.")
    me = await _officer(request, user, officer)
    if me is None:
        return render_error(request, 404, NO_OFFICER)
    store = DbQueueStore(sessions_of(request))
    now = time.time()
    snap = await store.snapshot(me.department_id, now=now, history=0)
    if own_state(snap, me.extension, now) in (OfficerState.RINGING, OfficerState.ON_CALL):
        return render_error(request, 409, "Đang có cuộc gọi: đổi trạng thái sau khi kết thúc.")
    assert wanted is not None
    await store.set_state(me.extension, me.department_id, wanted, now=now)
    return _back(officer)


@router.post("/console/callbacks/{source}/{callback_id}")
async def callback_done(
    request: Request,
    user: Officer,
    source: str,
    callback_id: int,
    outcome: Annotated[str, Form(max_length=16)],
    officer: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A callback made: its outcome recorded (reached, no answer, wrong number); on one a
    "call back now" already closed, the officer's correction of what it recorded."""
    try:
        result = CallbackOutcome(outcome)
    except ValueError:
        return render_error(request, 400, "Kết quả gọi lại không hợp lệ.")
    me = await _officer(request, user, officer)
    if me is None:
        return render_error(request, 404, NO_OFFICER)
    if source == "menu":
        ok = await asyncio.to_thread(_finish_menu, request, me, callback_id, user, result)
    elif source == "queue":
        ok = await _finish_queue(request, me, callback_id, user, result)
    else:
        ok = False
    if not ok and source in ("menu", "queue"):  # closed by "call back now": a correction
        at = web_context(request).now()
        ok = await console_callnow.correct_outcome(request, me, source, callback_id, user,
                                                   result, at)  # fmt: skip
    if not ok:
        return render_error(request, 404, "Không có yêu cầu gọi lại này (hoặc đã xong).")
    return _back(officer, "done=1")


def _finish_menu(
    request: Request, me: ConsoleOfficer, callback_id: int, user: Principal, result: CallbackOutcome
) -> bool:
    from ivr.calllog.tables import CallbackRow

    at = web_context(request).now()
    with sessions_of(request)() as session, session.begin():
        row = session.get(CallbackRow, callback_id)
        if row is None or row.department != me.department_id:
            return False
        return finish_callback(
            session, callback_id=callback_id, by=user.username, at=at, outcome=result
        )


async def _finish_queue(
    request: Request, me: ConsoleOfficer, entry_id: int, user: Principal, result: CallbackOutcome
) -> bool:
    """A queue callback handed to this officer: done, the officer to wrap-up (then free)."""
    sessions = sessions_of(request)
    context = web_context(request)

    def check() -> str | None:
        with sessions() as session:
            row = queue_entry_of(session, entry_id)
            mine = (
                row is not None
                and row.kind == EntryKind.CALLBACK.value
                and row.state == EntryState.ASSIGNED.value
                and row.assigned_to == me.extension
            )
            return row.call_id if mine and row is not None else None

    call_id = await asyncio.to_thread(check)
    if call_id is None:
        return False
    settings = context.settings.queues
    await DbQueueStore(sessions).finished(entry_id, now=time.time(), wrap_up_s=settings.wrap_up_s)

    def record() -> None:
        with sessions() as session, session.begin():
            record_outcome(session, call_id, source="queue", ref=entry_id, by=user.username,
                           at=context.now(), outcome=result)  # fmt: skip

    await asyncio.to_thread(record)
    return True


# --------------------------------------------------------------------------- voice messages

NO_MESSAGE = "Không có lời nhắn này."


async def _message_for(
    request: Request, user: Principal, entry_id: int, officer: str
) -> tuple[ConsoleOfficer | None, bool]:
    """The console's officer and whether they may open message `entry_id`: one of their own
    department's; an admin any (their console of ``officer``, or none)."""
    sessions = sessions_of(request)
    is_admin = user.role is Role.ADMIN

    def find() -> tuple[ConsoleOfficer | None, bool]:
        with sessions() as session:
            me = resolve_officer(session, user.username, is_admin, officer)
            row = message_of(session, entry_id)
            if row is None:
                return me, False
            return me, is_admin or (me is not None and me.department_id == row.department_id)

    return await asyncio.to_thread(find)


@router.get("/console/messages/{entry_id}/audio")
async def message_audio(
    request: Request, user: Officer, entry_id: int, officer: OfficerParam = ""
) -> Response:
    """A voice message's audio for the console's player: an officer of its department, or an
    admin; nobody else learns it exists (404). Never cached (the security middleware)."""
    _, allowed = await _message_for(request, user, entry_id, officer)
    if not allowed:
        return render_error(request, 404, NO_MESSAGE)
    path = message_path(_messages_dir(request), entry_id)
    try:
        audio = await asyncio.to_thread(path.read_bytes)
    except OSError:
        return render_error(request, 404, "Không còn tệp âm thanh của lời nhắn này.")
    return Response(audio, media_type="audio/wav")


@router.post("/console/messages/{entry_id}/handled")
async def message_handled(
    request: Request,
    user: Officer,
    entry_id: int,
    officer: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """The officer heard the message and dealt with it: it leaves the list (DONE, with who)."""
    me, allowed = await _message_for(request, user, entry_id, officer)
    if not allowed or me is None:
        return render_error(request, 404, NO_MESSAGE)
    sessions = sessions_of(request)
    if not await DbQueueStore(sessions).message_handled(entry_id, me.extension, now=time.time()):
        return render_error(request, 404, "Lời nhắn này đã được xử lý.")
    at = web_context(request).now()

    def record() -> None:  # the call's timeline shows who handled it
        with sessions() as session, session.begin():
            row = message_of(session, entry_id)
            if row is not None:
                event = VoiceMessageHandled(
                    call_id=row.call_id, at=at, entry_id=entry_id, by=user.username
                )
                append_event(session, event)

    await asyncio.to_thread(record)
    return _back(officer, "heard=1")
