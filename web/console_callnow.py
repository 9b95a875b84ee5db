"""The console's "call back now": the button's route, what each step is called, and the
correction of an outcome a call recorded.

The web app places no call itself: it inserts a request (:mod:`ivr.outbound.requests`) that a
worker claims. Only the number stored with the callback is dialled (the form carries the
callback's id, never a number), and only for an officer of the callback's department (an
admin: for the officer whose console they opened), whose own phones ring first. One call in
flight per callback (a second click gets 409). Without a trunk (``sip.trunk``) or the
registrar, the console says why and keeps only the outcome form.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from config.settings import Settings
from ivr.calllog.callback_outcomes import CallbackOutcome
from ivr.calllog.tables import CallbackRow
from ivr.outbound.requests import CLAIM_WITHIN_S, AlreadyCalling, DbOutboundCalls, OutboundRequest
from ivr.queue.model import EntryKind, EntryState
from web.auth import Principal, require
from web.console_data import ConsoleOfficer, queue_entry_of, resolve_officer
from web.context import sessions_of, web_context
from web.pages import render_error
from web.roles import Permission, Role

router = APIRouter(include_in_schema=False)
Officer = Annotated[Principal, Depends(require(Permission.CALLS_READ))]
RECENT_S = 3600.0  # the console lists the officer's calls of the last hour (to correct them)

STAGE_LABELS_VI = {
    "requested": "Đang chuẩn bị cuộc gọi…",
    "ringing-officer": "Đang đổ chuông máy của bạn",
    "calling-citizen": "Đang gọi người dân",
    "connected": "Đã kết nối với người dân",
}
OUTCOME_LABELS_VI = {
    "reached": "Đã liên lạc được",
    "no-answer": "Không nghe máy",
    "wrong-number": "Sai số",
}
FAILURE_LABELS_VI = {
    "officer-no-answer": "Máy của bạn không trả lời",
    "officer-hung-up": "Bạn đã gác máy trước khi người dân nghe",
    "no-worker": "Tổng đài chưa nhận yêu cầu (không có máy chủ thoại nào đang chạy?)",
    "callback-closed": "Yêu cầu gọi lại đã được xử lý",
    "not-a-number": "Số đã lưu không phải số điện thoại",
    "worker-stopped": "Máy chủ thoại dừng giữa cuộc gọi",
    "error": "Lỗi của tổng đài",
}


def unavailable_reason(settings: Settings) -> str:
    """Why "call back now" is not offered ('' when it is)."""
    if settings.sip.trunk is None:
        return "Chưa cấu hình đường trung kế (sip.trunk): hãy gọi bằng máy của bạn rồi ghi kết quả."
    if not settings.registrar.enabled:
        return "Tổng đài không nhận đăng ký máy cán bộ (registrar): chưa gọi lại tự động được."
    return ""


def stage_label(request: OutboundRequest, now: float) -> str:
    """What the console says about a request."""
    if request.state == "requested" and now - request.requested_at > CLAIM_WITHIN_S:
        return FAILURE_LABELS_VI["no-worker"]
    if request.state in STAGE_LABELS_VI:
        return STAGE_LABELS_VI[request.state]
    if request.state == "done":
        return OUTCOME_LABELS_VI.get(request.outcome, request.outcome)
    if request.detail.startswith("trunk-"):
        return f"Trung kế từ chối cuộc gọi ({request.status})"
    return FAILURE_LABELS_VI.get(request.detail, request.detail or "Không gọi được")


@dataclass(frozen=True)
class CallNowView:
    """One of the officer's recent calls, as the console lists it."""

    id: int
    source: str
    ref: int
    call_id: str
    state: str
    outcome: str
    label: str
    requested_at: float
    open: bool
    corrected_by: str


def view_of(request: OutboundRequest, now: float) -> CallNowView:
    return CallNowView(
        request.id, request.source, request.ref, request.call_id, request.state,
        request.outcome, stage_label(request, now), request.requested_at, request.open,
        request.corrected_by,
    )  # fmt: skip


def as_json(request: OutboundRequest, now: float) -> dict[str, object]:
    """A request as the feed sends it (``callback-call`` events)."""
    return {
        "id": request.id, "source": request.source, "ref": request.ref,
        "state": request.state, "outcome": request.outcome, "status": request.status,
        "detail": request.detail, "label": stage_label(request, now), "open": request.open,
    }  # fmt: skip


async def recent_calls(request: Request, me: ConsoleOfficer) -> list[CallNowView]:
    """This officer's calls of the last hour, newest first."""
    now = time.time()
    rows = await DbOutboundCalls(sessions_of(request)).of_officer(
        me.extension, since=now - RECENT_S
    )
    return [view_of(row, now) for row in reversed(rows)]


def _stale_after_s(settings: Settings) -> float:
    trunk = settings.sip.trunk
    assert trunk is not None
    return trunk.officer_ring_timeout_s + trunk.ring_timeout_s + settings.sip.max_call_s + 60


@router.post("/console/callbacks/{source}/{callback_id}/call")
async def call_back_now(
    request: Request,
    user: Officer,
    source: str,
    callback_id: int,
    officer: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Ring this officer's phones, then the callback's stored number (see the module
    docstring)."""
    settings = web_context(request).settings
    reason = unavailable_reason(settings)
    if reason:
        return render_error(request, 409, reason)
    sessions = sessions_of(request)
    is_admin = user.role is Role.ADMIN

    def find() -> tuple[ConsoleOfficer | None, str | None]:
        with sessions() as session:
            me = resolve_officer(session, user.username, is_admin, officer)
            if me is None:
                return None, None
            if source == "menu":
                row = session.get(CallbackRow, callback_id)
                ok = row is not None and row.department == me.department_id and not row.done_at
                return me, row.call_id if ok and row is not None else None
            if source == "queue":
                entry = queue_entry_of(session, callback_id)
                ok = (
                    entry is not None
                    and entry.kind == EntryKind.CALLBACK.value
                    and entry.state == EntryState.ASSIGNED.value
                    and entry.assigned_to == me.extension
                )
                return me, entry.call_id if ok and entry is not None else None
            return me, None

    me, call_id = await asyncio.to_thread(find)
    if me is None or call_id is None:  # another department's callback does not exist here
        return render_error(request, 404, "Không có yêu cầu gọi lại này (hoặc đã xong).")
    try:
        made = await DbOutboundCalls(sessions).request(
            source=source, ref=callback_id, call_id=call_id, department_id=me.department_id,
            officer=me.extension, requested_by=user.username, now=time.time(),
            stale_after_s=_stale_after_s(settings),
        )  # fmt: skip
    except AlreadyCalling:
        return render_error(request, 409, "Đang gọi lại số này.")
    query = "&".join(
        p for p in (f"officer={officer}" if officer else "", f"calling={made.id}") if p
    )
    return RedirectResponse(f"/console?{query}", status_code=303)


async def correct_outcome(
    request: Request, me: ConsoleOfficer, source: str, ref: int, user: Principal,
    outcome: CallbackOutcome, at: datetime,
) -> bool:  # fmt: skip
    """The outcome form on a callback a call already closed: the officer's correction, for
    a call of their department (a queue callback: one handed to them)."""
    calls = DbOutboundCalls(sessions_of(request))
    last = await calls.last_done(source, ref)
    if last is None or last.department_id != me.department_id:
        return False
    if source == "queue" and last.officer != me.extension:
        return False
    return await calls.correct(last.id, outcome, by=user.username, at=at)


__all__ = ["as_json", "correct_outcome", "recent_calls", "router", "unavailable_reason"]
