"""Sign-in and sign-out pages, the home page and the API's schema and docs (signed in)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from web.audit import record_now
from web.auth import CurrentUser
from web.browser_sessions import COOKIE_NAME, open_session, revoke_session
from web.context import client_address, sessions_of, web_context
from web.csrf import CsrfRefused, check_anon_token
from web.pages import render, render_anonymous
from web.users import LoginRefused, authenticate

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    # Only a path on this site: never "//host" or "http://host" (an open redirect).
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render_anonymous(request, "login.html", next=_safe_next(next), username="", error="")


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; open a session and set its cookie, or say why not."""
    context = web_context(request)
    try:
        await check_anon_token(request, context.key)
    except CsrfRefused:
        return _again(request, username, next, "Phiên biểu mẫu đã hết hạn, xin nhập lại.", 403)
    address = client_address(request)
    if not context.login_limiter.allow(address):
        wait = context.login_limiter.retry_after_s(address)
        return _again(request, username, next, f"Thử quá nhiều lần. Xin đợi {wait} giây.", 429)
    web = context.settings.web
    sessions = sessions_of(request)
    now = context.now()
    try:
        user = await run_in_threadpool(
            authenticate,
            sessions,
            username=username,
            password=password,
            now=now,
            max_failures=web.login_failures_before_lockout,
            lockout_s=web.lockout_s,
        )
    except LoginRefused as exc:
        if exc.locked:
            message = "Tài khoản tạm khoá vì nhập sai nhiều lần. Xin thử lại sau."
        else:
            message = "Sai tên đăng nhập hoặc mật khẩu."
        return _again(request, username, next, message, 401)
    opened = open_session(
        sessions, context.key, user_id=user.id, now=now, max_s=web.session_max_s, address=address
    )
    record_now(sessions, at=now, actor=user.username, action="sign_in", address=address)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        opened.raw_id,
        max_age=web.session_max_s,
        httponly=True,
        samesite="strict",
        secure=web.secure_cookies,
        path="/",
    )
    return response


def _again(request: Request, username: str, next: str, error: str, status: int) -> Response:
    response = render_anonymous(
        request, "login.html", next=_safe_next(next), username=username[:64], error=error
    )
    response.status_code = status
    return response


@router.post("/logout")
def logout(request: Request, user: CurrentUser) -> Response:
    """End this browser's session."""
    context = web_context(request)
    if user.session_hash:
        revoke_session(sessions_of(request), user.session_hash, now=context.now())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: CurrentUser) -> Response:
    """The signed-in user's start page."""
    return render(request, "home.html")


@router.get("/openapi.json")
def openapi(request: Request, user: CurrentUser) -> JSONResponse:
    """The OpenAPI schema (signed in)."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request, user: CurrentUser) -> Response:
    """The API's operations as a page of our own (no script from elsewhere)."""
    schema: dict[str, Any] = request.app.openapi()
    operations = [
        (method.upper(), path, op.get("summary", ""), op.get("description", ""))
        for path, item in schema.get("paths", {}).items()
        for method, op in item.items()
    ]
    return render(request, "docs.html", operations=operations)
