"""Server-rendered pages: the Jinja2 environment and the helpers every page router uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from web.auth import Principal, principal_of
from web.csrf import ANON_COOKIE, anon_token
from web.roles import ROLE_LABELS_VI, Permission

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
STATIC_DIR = HERE / "static"

NAVIGATION: list[tuple[str, str, Permission]] = [
    ("/", "Trang chủ", Permission.SIGNED_IN),
    ("/dashboard", "Báo cáo", Permission.DASHBOARD),
    ("/calls", "Cuộc gọi", Permission.CALLS_READ),
    ("/console", "Bàn làm việc", Permission.CALLS_READ),
    ("/menus", "Kịch bản", Permission.MENUS_READ),
    ("/procedures", "Thủ tục", Permission.PROCEDURES_READ),
    ("/dossiers", "Hồ sơ", Permission.DOSSIERS_READ),
    ("/departments", "Phòng ban", Permission.DIRECTORY_READ),
    ("/users", "Người dùng", Permission.USERS_MANAGE),
    ("/audit", "Nhật ký", Permission.AUDIT_READ),
]


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` with the signed-in user, the navigation they may use and the CSRF
    token their forms carry."""
    principal: Principal | None = principal_of(request) if _has_web(request) else None
    nav = [(href, label) for href, label, perm in NAVIGATION if principal and principal.can(perm)]
    values = {
        "user": principal,
        "nav": nav,
        "csrf_token": principal.csrf_token if principal else "",
        "role_labels": ROLE_LABELS_VI,
        "path": request.url.path,
        **context,
    }
    return TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)


def render_anonymous(request: Request, template: str, **context: Any) -> HTMLResponse:
    """Render a page for visitors: its forms carry the anonymous CSRF token (cookie set)."""
    from web.context import web_context

    context_ = web_context(request)
    token, new = anon_token(request, context_.key)
    response = render(request, template, anon_csrf=token, **context)
    if new:
        response.set_cookie(
            ANON_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=context_.settings.web.secure_cookies,
            path="/",
        )
    return response


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    """A page saying what went wrong."""
    return render(request, "error.html", status_code=status_code, message=message, code=status_code)


def _has_web(request: Request) -> bool:
    return hasattr(request.app.state, "web")
