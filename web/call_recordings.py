"""Recordings of a call's bridged conversations: who may listen, and the audio route.

A recording is named by its call's ``bridge-recorded`` event (:class:`ivr.events.BridgeRecorded`)
and lives in ``queues.recordings_dir``. Only those who may listen get it: an admin, or an
officer of the department the call was bridged to. An officer of another department gets 404
(the recording's existence does not leak across departments), other roles 403 (the call log's
permission). Never cached (the security middleware's ``Cache-Control: no-store``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.bridge.recording import recording_path
from ivr.calllog.tables import CallEventRow
from web.auth import Principal, require
from web.console_data import officer_for
from web.context import sessions_of, web_context
from web.pages import render_error
from web.roles import Permission, Role

router = APIRouter(include_in_schema=False)
CallsReader = Annotated[Principal, Depends(require(Permission.CALLS_READ))]
KIND = "bridge-recorded"
NO_RECORDING = "Không có bản ghi âm này."
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class CallRecording:
    """One recorded conversation of a call, as its event tells it."""

    name: str
    officer: str
    department: str
    duration_s: float


def recordings_of(session: Session, call_id: str) -> list[CallRecording]:
    """The call's recorded conversations, in order."""
    rows = session.scalars(
        select(CallEventRow.payload)
        .where(CallEventRow.call_id == call_id, CallEventRow.kind == KIND)
        .order_by(CallEventRow.seq)
    ).all()
    found = []
    for payload in rows:
        data = dict(payload or {})
        name = str(data.get("recording", ""))
        if recording_path(Path("."), name) is None:
            continue
        found.append(
            CallRecording(
                name,
                str(data.get("officer", "")),
                str(data.get("department", "")),
                float(data.get("duration_s") or 0.0),
            )
        )
    return found


def may_listen(session: Session, user: Principal, department: str) -> bool:
    """An admin, or an officer of `department`."""
    if user.role is Role.ADMIN:
        return True
    if user.role is not Role.OFFICER:
        return False
    me = officer_for(session, user.username)
    return me is not None and me.department_id == department


def recordings_dir(request: Request) -> Path:
    """Where the hotline writes the recordings (``queues.recordings_dir``)."""
    return Path(web_context(request).settings.queues.recordings_dir)


@router.get("/calls/{call_id}/recordings/{name}")
async def call_recording(request: Request, user: CallsReader, call_id: str, name: str) -> Response:
    """A recorded conversation of the call as ``audio/wav`` (stereo: caller left, officer
    right) for those who may listen; 404 for everyone else with the call log's permission."""
    sessions = sessions_of(request)

    def allowed() -> bool:
        with sessions() as session:
            for recording in recordings_of(session, call_id[:128]):
                if recording.name == name:
                    return may_listen(session, user, recording.department)
        return False

    path = recording_path(recordings_dir(request), name)
    if path is None or not await asyncio.to_thread(allowed):
        return render_error(request, 404, NO_RECORDING)
    try:
        audio = await asyncio.to_thread(path.open, "rb")
    except OSError:
        return render_error(request, 404, "Không còn tệp ghi âm của cuộc gọi này.")
    size = os.fstat(audio.fileno()).st_size

    def chunks() -> Iterator[bytes]:  # streamed: a 30-minute recording is 58 MB
        with audio:
            while block := audio.read(CHUNK_BYTES):
                yield block

    return StreamingResponse(
        chunks(), media_type="audio/wav", headers={"content-length": str(size)}
    )
