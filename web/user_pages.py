"""Users and roles (admins): add, change role, disable, set a password, sign out, remove.
Every change is in the audit log with the record before and after."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.api_tokens import list_tokens
from web.audit import record_now
from web.auth import Principal, require
from web.browser_sessions import revoke_user_sessions
from web.context import client_address, sessions_of, web_context
from web.pages import render
from web.roles import Permission, Role
from web.users import User, UserError, add_user, get_user, list_users, remove_user, update_user

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]


def _snapshot(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {
        "username": user.username,
        "role": user.role.value,
        "active": user.active,
        "display_name": user.display_name,
    }


def _page(request: Request, *, error: str = "", done: str = "", status: int = 200) -> Response:
    sessions = sessions_of(request)
    return render(
        request,
        "users.html",
        status_code=status,
        users=list_users(sessions),
        tokens=list_tokens(sessions),
        roles=list(Role),
        error=error,
        done=done,
    )


def _audit(request: Request, admin: Principal, action: str, target: str, **snapshots: Any) -> None:
    context = web_context(request)
    record_now(
        sessions_of(request),
        at=context.now(),
        actor=admin.username,
        action=action,
        target=target,
        address=client_address(request),
        **snapshots,
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, admin: Admin) -> Response:
    """Every user and token."""
    return _page(request)


@router.post("/users", response_class=HTMLResponse)
def add(
    request: Request,
    admin: Admin,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1024)],
    display_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a user."""
    try:
        user = add_user(
            sessions_of(request),
            username=username,
            role=role,
            password=password,
            display_name=display_name,
            now=web_context(request).now(),
        )
    except UserError as exc:
        return _page(request, error=str(exc), status=422)
    _audit(request, admin, "user_add", user.username, after=_snapshot(user))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username}", response_class=HTMLResponse)
def change(
    request: Request,
    admin: Admin,
    username: str,
    role: Annotated[str, Form(max_length=16)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change a user's role, active flag or password; a change signs them out everywhere."""
    sessions = sessions_of(request)
    try:
        new_role = Role(role) if role else None
        before, after = update_user(
            sessions,
            username,
            role=new_role,
            active={"yes": True, "no": False}.get(active),
            password=password or None,
        )
    except (UserError, ValueError) as exc:
        return _page(request, error=str(exc), status=422)
    revoke_user_sessions(sessions, after.id, now=web_context(request).now())
    _audit(
        request,
        admin,
        "user_change",
        after.username,
        before=_snapshot(before),
        after={**(_snapshot(after) or {}), "password_changed": bool(password)},
    )
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username}/remove", response_class=HTMLResponse)
def remove(request: Request, admin: Admin, username: str) -> Response:
    """Remove a user (never the last admin)."""
    try:
        user = remove_user(sessions_of(request), username)
    except UserError as exc:
        return _page(request, error=str(exc), status=422)
    _audit(request, admin, "user_remove", user.username, before=_snapshot(user))
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{username}/sign-out", response_class=HTMLResponse)
def sign_out(request: Request, admin: Admin, username: str) -> Response:
    """End every session of a user."""
    sessions = sessions_of(request)
    user = get_user(sessions, username)
    if user is None:
        return _page(request, error=f"no user {username!r}", status=404)
    count = revoke_user_sessions(sessions, user.id, now=web_context(request).now())
    _audit(request, admin, "user_sign_out", user.username, after={"sessions_ended": count})
    return _page(request, done=f"Đã đăng xuất {count} phiên của {user.username}.")
