"""Who is asking: the signed-in user (session cookie) or an API token, and role checks.

Reuse in any router::

    from web.auth import CurrentUser, require
    from web.roles import Permission

    @router.get("/officer/queue")
    def queue(user: Annotated[Principal, Depends(require(Permission.CALLS_READ))]) -> ...:
        ...

``CurrentUser`` is any signed-in user. Both refuse an anonymous request (401 for the API, a
redirect to the sign-in page for pages) and a state-changing request made with a session
cookie but without its CSRF token (403).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from web.api_tokens import find_token
from web.browser_sessions import COOKIE_NAME, find_session
from web.context import sessions_of, web_context
from web.csrf import check_session_token
from web.roles import Permission, Role, allows
from web.users import User


class NotSignedIn(Exception):
    """No valid session or token."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this."""


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, and how it proved it."""

    user: User
    via: Literal["session", "token"]
    csrf_token: str = ""
    session_hash: str = ""
    token_name: str = ""

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def role(self) -> Role:
        return self.user.role

    def can(self, permission: Permission) -> bool:
        """Whether this user's role allows ``permission``."""
        return allows(self.user.role, permission)


def principal_of(request: Request) -> Principal | None:
    """The request's principal (found once, then kept on ``request.state``), or None."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    context = web_context(request)
    sessions = sessions_of(request)
    now = context.now()
    principal: Principal | None = None
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        found_token = find_token(sessions, context.key, authorization[7:].strip(), now=now)
        if found_token is not None:
            principal = Principal(found_token[0], "token", token_name=found_token[1])
    else:
        raw = request.cookies.get(COOKIE_NAME, "")
        found = (
            find_session(
                sessions, context.key, raw, now=now, idle_s=context.settings.web.session_idle_s
            )
            if raw
            else None
        )
        if found is not None:
            principal = Principal(
                found.user, "session", csrf_token=found.csrf_token, session_hash=found.id_hash
            )
    request.state.principal = principal
    return principal


def signed_in(request: Request) -> Principal:
    """The principal; NotSignedIn when there is none (runs in the thread pool: it reads the
    database)."""
    principal = principal_of(request)
    if principal is None:
        raise NotSignedIn()
    return principal


async def current_user(
    request: Request, principal: Annotated[Principal, Depends(signed_in)]
) -> Principal:
    """Any signed-in user, CSRF-checked when a session cookie makes a change."""
    if principal.via == "session":
        await check_session_token(request, principal.csrf_token)
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(
    permission: Permission,
) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency: the signed-in user, when their role allows ``permission`` (else 403)."""

    async def dependency(principal: CurrentUser) -> Principal:
        if not principal.can(permission):
            raise Forbidden(permission.value)
        return principal

    dependency.__name__ = f"require_{permission.value}"
    return dependency
