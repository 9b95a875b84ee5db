"""HTTP-level protection: security headers, cross-origin refusal and the error answers for
sign-in, role and CSRF failures. Installed by :func:`install`."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.auth import Forbidden, NotSignedIn
from web.csrf import SAFE_METHODS, CsrfRefused

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
API_PREFIXES = ("/api/", "/openapi.json", "/docs")


class SecurityHeaders:
    """Adds the security headers to every response; ``no-store`` unless static."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CrossOriginRefusal:
    """Refuses a state-changing request that a browser says comes from another site: an
    ``Origin`` whose host differs from ``Host``, or ``Sec-Fetch-Site: cross-site``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if _cross_origin(headers):
                response = JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _cross_origin(headers: dict[str, str]) -> bool:
    if headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    return (urlsplit(origin).netloc or "").lower() != headers.get("host", "").lower()


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def _not_signed_in(request: Request, _exc: Exception) -> Response:
    if _is_api(request) or request.method not in SAFE_METHODS:
        return JSONResponse(
            {"detail": "sign-in or an API token required"},
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _forbidden(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": f"role does not allow: {exc}"}, status_code=403)
    from web.pages import render_error

    return render_error(request, 403, "Vai trò của bạn không được phép xem trang này.")


def _csrf(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=403)


def install(app: FastAPI, *, allowed_hosts: list[str]) -> None:
    """Add the middleware and the exception handlers to ``app``."""
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(CsrfRefused, _csrf)
    app.add_middleware(CrossOriginRefusal)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    # Added last, so it runs outermost and also marks the refusals above.
    app.add_middleware(SecurityHeaders)
