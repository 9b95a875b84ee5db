"""CSRF tokens: the session's own token for signed-in forms, a signed double-submit cookie for
the anonymous ones (sign-in, the virtual assistant).

A state-changing request made with a session cookie must carry the session's token in the
``X-CSRF-Token`` header or a ``csrf_token`` form field. API tokens are exempt: a browser never
sends them on its own.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from web.keyed_hash import keyed_hash, same

HEADER = "x-csrf-token"
FIELD = "csrf_token"
ANON_COOKIE = "tongdai_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Exception):
    """A state-changing request without a valid CSRF token."""


async def submitted_token(request: Request) -> str:
    """The token the request carries (header first, then a form field)."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check_session_token(request: Request, expected: str) -> None:
    """CsrfRefused unless the request carries ``expected``."""
    if request.method in SAFE_METHODS:
        return
    got = await submitted_token(request)
    if not got or not same(got, expected):
        raise CsrfRefused("missing or wrong CSRF token")


def anon_token(request: Request, key: bytes) -> tuple[str, bool]:
    """The anonymous CSRF token: the request's valid cookie, or a new one; and whether it is
    new (then the response must set the cookie)."""
    cookie = request.cookies.get(ANON_COOKIE, "")
    if _valid(cookie, key):
        return cookie, False
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{keyed_hash(key, 'csrf:' + nonce)[:32]}", True


def _valid(token: str, key: bytes) -> bool:
    nonce, _, mac = token.partition(".")
    return bool(nonce) and hmac.compare_digest(mac, keyed_hash(key, "csrf:" + nonce)[:32])


async def check_anon_token(request: Request, key: bytes) -> None:
    """CsrfRefused unless the submitted token equals a valid anonymous cookie."""
    cookie = request.cookies.get(ANON_COOKIE, "")
    got = await submitted_token(request)
    if not _valid(cookie, key) or not got or not same(got, cookie):
        raise CsrfRefused("missing or wrong CSRF token")
