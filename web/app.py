"""Composition of the web app's own parts onto the FastAPI app (``server.create_app`` calls
:func:`install_web`): context, security middleware, audit, sign-in, pages and the menu API's
authentication."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

import menus.api
from config.settings import Settings
from db import create_engine_from_url, session_factory
from web import (
    assistant_pages,
    audit_pages,
    call_pages,
    catalogue_pages,
    console_pages,
    directory_pages,
    holiday_pages,
    menu_editor,
    menu_pages,
    officer_pages,
    prompt_pages,
    security,
    user_pages,
)
from web.api_audit import ApiAudit
from web.auth import Principal, require
from web.context import build_context
from web.pages import STATIC_DIR
from web.roles import Permission
from web.signin_routes import router as signin_router

MENUS_READ = Depends(require(Permission.MENUS_READ))


async def menu_author(
    principal: Principal = Depends(require(Permission.MENUS_EDIT)),  # noqa: B008
) -> menus.api.Admin:
    """The menu API's acting admin: the signed-in editor or admin, never a header."""
    return menus.api.Admin(principal.username)


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add sign-in, roles, security and the pages to ``app``."""
    app.state.web = build_context(settings)
    if getattr(app.state, "session_factory", None) is None:
        app.state.session_factory = session_factory(create_engine_from_url(settings.database_url))
    app.add_middleware(ApiAudit)
    security.install(app, allowed_hosts=settings.web.allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(signin_router)
    app.include_router(audit_pages.router)
    app.include_router(user_pages.router)
    app.include_router(menu_pages.router)
    app.include_router(menu_editor.router)
    app.include_router(prompt_pages.router)
    app.include_router(call_pages.router)
    app.include_router(assistant_pages.router)
    app.include_router(catalogue_pages.router)
    app.include_router(directory_pages.router)
    app.include_router(officer_pages.router)
    app.include_router(holiday_pages.router)
    app.include_router(console_pages.router)
    app.include_router(menus.api.router, dependencies=[MENUS_READ])
    app.dependency_overrides[menus.api.current_admin] = menu_author
    app.router.on_shutdown.append(lambda: close_web(app))


def close_web(app: FastAPI) -> None:
    """Write what the assistant's call log still holds and forget the assistant (at shutdown;
    a later start of the same app builds them again)."""
    app.state.web.extras.pop("assistant", None)
    calllog = app.state.web.extras.pop("assistant_calllog", None)
    if calllog is not None:
        calllog.close()
