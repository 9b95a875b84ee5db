"""Prompt audio for editors: "listen" renders text through the same synthesiser and prompt
cache a call uses (8 kHz, as a caller hears it); recordings are uploaded, listed and played."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response

from speech.audio import wav_bytes
from speech.prompt_cache import PromptCache
from web.audit import record_now
from web.auth import Principal, require
from web.context import WebContext, client_address, sessions_of, web_context
from web.pages import render, render_error
from web.recordings import (
    RecordingRefused,
    StoredRecording,
    list_recordings,
    store_upload,
    stored_path,
)
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(require(Permission.MENUS_EDIT))]
MAX_LISTEN_CHARS = 2000


def prompt_cache(context: WebContext) -> PromptCache:
    """The app's prompt cache, built on first use from the speech settings (the same
    directory and synthesiser the IVR workers use)."""
    cache = context.extras.get("prompt_cache")
    if cache is None:
        from speech.prompt_cache import build_prompt_cache
        from speech.tts import build_synthesizer

        speech = context.settings.speech
        cache = build_prompt_cache(speech, build_synthesizer(speech))
        context.extras["prompt_cache"] = cache
    assert isinstance(cache, PromptCache)
    return cache


def recordings_folder(context: WebContext) -> Path:
    """Where uploaded recordings live (outside any served folder)."""
    web = context.settings.web
    return web.recordings_dir or context.settings.data_dir / "recordings"


@router.get("/menus/listen.wav")
async def listen(
    request: Request, user: Editor, text: Annotated[str, Query(max_length=MAX_LISTEN_CHARS)]
) -> Response:
    """``text`` as a caller would hear it (WAV, 8 kHz mono)."""
    if not text.strip():
        return Response("không có lời nhắc", status_code=422)
    audio = await prompt_cache(web_context(request)).get(text)
    return Response(wav_bytes(audio.pcm, audio.rate), media_type="audio/wav")


@router.get("/menus/recordings", response_class=HTMLResponse)
def recordings_page(request: Request, user: Editor) -> Response:
    """Uploaded recordings and the upload form."""
    return _page(request)


def _page(request: Request, *, error: str = "", done: str = "", status: int = 200) -> Response:
    context = web_context(request)
    return render(
        request,
        "recordings.html",
        status_code=status,
        error=error,
        done=done,
        names=list_recordings(recordings_folder(context)),
        max_mb=context.settings.web.upload_max_bytes // 1_000_000,
        max_s=int(context.settings.web.upload_max_s),
    )


@router.post("/menus/recordings", response_class=HTMLResponse)
async def upload(request: Request, user: Editor, file: UploadFile) -> Response:
    """Store an uploaded recording in the line format, or say why not."""
    context = web_context(request)
    limit = context.settings.web.upload_max_bytes
    data = await file.read(limit + 1)
    try:
        stored = await _store(context, file.filename or "", data)
    except RecordingRefused as exc:
        return _page(request, error=str(exc), status=422)
    record_now(
        sessions_of(request),
        at=context.now(),
        actor=user.username,
        action="recording_upload",
        target=stored.name,
        after={
            "name": stored.name,
            "duration_s": round(stored.duration_s, 2),
            "original": (file.filename or "")[:200],
        },
        address=client_address(request),
    )
    return _page(request, done=f"Đã lưu {stored.name} ({stored.duration_s:.1f} giây).")


async def _store(context: WebContext, filename: str, data: bytes) -> StoredRecording:
    from fastapi.concurrency import run_in_threadpool

    web = context.settings.web
    return await run_in_threadpool(
        store_upload,
        recordings_folder(context),
        filename,
        data,
        max_bytes=web.upload_max_bytes,
        max_s=web.upload_max_s,
    )


@router.get("/menus/recordings/{name}")
def recording(request: Request, user: Editor, name: str) -> Response:
    """One stored recording (generated names only)."""
    path = stored_path(recordings_folder(web_context(request)), name)
    if path is None:
        return render_error(request, 404, "Không có bản ghi này.")
    return FileResponse(path, media_type="audio/wav")
