"""The virtual assistant's public pages (no sign-in): start a conversation, read the prompts
and play them, answer with keypad buttons or typed Vietnamese. Limited per address; each
conversation belongs to the browser that started it (its anonymous CSRF cookie)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from menus.api import DraftId, get_known_ids, get_store
from menus.store import MenuNotFound, MenuStore
from menus.validate import KnownIds
from speech.audio import wav_bytes
from web.assistant import AssistantService, Conversation, build_service
from web.auth import Principal, require
from web.context import client_address, sessions_of, web_context
from web.csrf import ANON_COOKIE, CsrfRefused, anon_token, check_anon_token
from web.keyed_hash import keyed_hash, same
from web.pages import render_anonymous, render_error
from web.roles import Permission

router = APIRouter(include_in_schema=False)
Editor = Annotated[Principal, Depends(require(Permission.MENUS_EDIT))]
Store = Annotated[MenuStore, Depends(get_store)]
Known = Annotated[KnownIds, Depends(get_known_ids)]
KEYPAD = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]


def _service(request: Request) -> AssistantService:
    context = web_context(request)
    service = context.extras.get("assistant")
    if service is None:
        service = build_service(context, sessions_of(request))
        context.extras["assistant"] = service
    assert isinstance(service, AssistantService)
    return service


def _owner(request: Request) -> str:
    return keyed_hash(web_context(request).key, "assistant:" + request.cookies.get(ANON_COOKIE, ""))


async def _guard(request: Request) -> Response | None:
    """A refusal page when the address is over its limit or the form is forged."""
    context = web_context(request)
    address = client_address(request)
    if not context.assistant_limiter.allow(address):
        wait = context.assistant_limiter.retry_after_s(address)
        return render_error(request, 429, f"Quý vị thao tác quá nhanh. Xin đợi {wait} giây.")
    try:
        await check_anon_token(request, context.key)
    except CsrfRefused:
        return render_error(request, 403, "Phiên trang đã hết hạn. Xin mở lại trang trợ lý ảo.")
    return None


def _find(request: Request, conversation_id: str) -> Conversation | None:
    conv = _service(request).conversations.get(conversation_id)
    if conv is None or not same(conv.owner, _owner(request)):
        return None
    return conv


@router.get("/assistant", response_class=HTMLResponse)
def landing(request: Request) -> Response:
    """The start page."""
    return render_anonymous(request, "assistant.html", conv=None, keypad=KEYPAD)


@router.post("/assistant", response_class=HTMLResponse)
async def start(request: Request) -> Response:
    """Start a conversation."""
    refused = await _guard(request)
    if refused is not None:
        return refused
    conv = await _service(request).start(_owner(request))
    if conv is None:
        return render_error(request, 503, "Trợ lý ảo đang bận. Xin quý vị thử lại sau ít phút.")
    return RedirectResponse(f"/assistant/{conv.id}#latest", status_code=303)


@router.post("/menus/drafts/{draft_id}/try", response_class=HTMLResponse)
async def try_draft(
    request: Request, draft_id: DraftId, user: Editor, store: Store, known: Known
) -> Response:
    """An editor tries a draft on the assistant before publishing it (logged as a web call
    to ``draft-N``)."""
    try:
        tree, _problems = await run_in_threadpool(store.check_draft, draft_id, known)
    except MenuNotFound:
        return render_error(request, 404, "Không tìm thấy bản nháp.")
    if tree is None:
        return render_error(request, 422, "Bản nháp chưa thành một cây kịch bản: sửa lỗi trước.")
    context = web_context(request)
    token, new = anon_token(request, context.key)
    owner = keyed_hash(context.key, "assistant:" + token)
    conv = await _service(request).start(owner, tree=tree, label=f"draft-{draft_id}")
    if conv is None:
        return render_error(request, 503, "Trợ lý ảo đang bận. Xin thử lại sau ít phút.")
    response = RedirectResponse(f"/assistant/{conv.id}#latest", status_code=303)
    if new:
        response.set_cookie(
            ANON_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=context.settings.web.secure_cookies,
            path="/",
        )
    return response


@router.get("/assistant/{conversation_id}", response_class=HTMLResponse)
def conversation(request: Request, conversation_id: str) -> Response:
    """The conversation so far, the keypad and the text box."""
    conv = _find(request, conversation_id)
    if conv is None:
        return render_error(request, 404, "Cuộc trò chuyện đã kết thúc. Xin bắt đầu lại.")
    return render_anonymous(request, "assistant.html", conv=conv, keypad=KEYPAD)


@router.post("/assistant/{conversation_id}/key", response_class=HTMLResponse)
async def key(
    request: Request, conversation_id: str, key: Annotated[str, Form(max_length=1)]
) -> Response:
    """A keypad button."""
    return await _act(request, conversation_id, key=key)


@router.post("/assistant/{conversation_id}/text", response_class=HTMLResponse)
async def text(
    request: Request, conversation_id: str, text: Annotated[str, Form(max_length=300)]
) -> Response:
    """Typed words."""
    return await _act(request, conversation_id, text=text)


@router.post("/assistant/{conversation_id}/end", response_class=HTMLResponse)
async def end(request: Request, conversation_id: str) -> Response:
    """Leave the conversation."""
    refused = await _guard(request)
    if refused is not None:
        return refused
    conv = _find(request, conversation_id)
    if conv is not None:
        await _service(request).end(conv)
    return RedirectResponse("/assistant", status_code=303)


async def _act(
    request: Request, conversation_id: str, *, key: str = "", text: str = ""
) -> Response:
    refused = await _guard(request)
    if refused is not None:
        return refused
    conv = _find(request, conversation_id)
    if conv is None:
        return render_error(request, 404, "Cuộc trò chuyện đã kết thúc. Xin bắt đầu lại.")
    service = _service(request)
    if key:
        await service.key(conv, key)
    else:
        await service.text(conv, text)
    return RedirectResponse(f"/assistant/{conv.id}#latest", status_code=303)


@router.get("/assistant/{conversation_id}/audio/{index}")
def audio(
    request: Request, conversation_id: str, index: Annotated[int, Path(ge=0, le=100_000)]
) -> Response:
    """One prompt's audio as the phone line carries it (WAV, 8 kHz)."""
    conv = _find(request, conversation_id)
    if conv is None or not 0 <= index < len(conv.messages):
        return Response(status_code=404)
    sound = conv.messages[index].audio
    if sound is None:
        return Response(status_code=404)
    return Response(wav_bytes(sound.pcm, sound.rate), media_type="audio/wav")
