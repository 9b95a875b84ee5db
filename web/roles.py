"""Roles and what each may do: the one table every route's check reads.

``admin`` does everything; ``editor`` edits and publishes menus and prompts and the procedure
catalogue; ``officer`` works calls (the call log, dossiers with personal fields); ``viewer``
reads dashboards. A route names a :class:`Permission`, never a role, so the table below is the
whole policy and the role-matrix test checks it route by route.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A user's (or an API token's) role."""

    ADMIN = "admin"
    EDITOR = "editor"
    OFFICER = "officer"
    VIEWER = "viewer"


class Permission(StrEnum):
    """Something a route does."""

    SIGNED_IN = "signed_in"  # any role: home, own session, API docs
    DASHBOARD = "dashboard"  # aggregate statistics
    PROCEDURES_READ = "procedures_read"
    PROCEDURES_EDIT = "procedures_edit"
    MENUS_READ = "menus_read"
    MENUS_EDIT = "menus_edit"  # drafts, publish, rollback, prompts, recordings
    CALLS_READ = "calls_read"  # the call log and per-call timelines
    DOSSIERS_READ = "dossiers_read"
    PERSONAL_DATA = "personal_data"  # unmasked applicant fields
    USERS_MANAGE = "users_manage"
    AUDIT_READ = "audit_read"
    DIRECTORY_READ = "directory_read"  # departments, officers, working hours, holidays
    DIRECTORY_EDIT = "directory_edit"


_ALL = frozenset(Role)

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.SIGNED_IN: _ALL,
    Permission.DASHBOARD: _ALL,
    Permission.PROCEDURES_READ: _ALL,
    Permission.PROCEDURES_EDIT: frozenset({Role.ADMIN, Role.EDITOR}),
    Permission.MENUS_READ: frozenset({Role.ADMIN, Role.EDITOR}),
    Permission.MENUS_EDIT: frozenset({Role.ADMIN, Role.EDITOR}),
    Permission.CALLS_READ: frozenset({Role.ADMIN, Role.OFFICER}),
    Permission.DOSSIERS_READ: frozenset({Role.ADMIN, Role.OFFICER}),
    Permission.PERSONAL_DATA: frozenset({Role.OFFICER}),  # admins run the system, not cases
    Permission.USERS_MANAGE: frozenset({Role.ADMIN}),
    Permission.AUDIT_READ: frozenset({Role.ADMIN}),
    Permission.DIRECTORY_READ: _ALL,
    Permission.DIRECTORY_EDIT: frozenset({Role.ADMIN}),
}

RANK: dict[Role, int] = {Role.VIEWER: 0, Role.OFFICER: 1, Role.EDITOR: 2, Role.ADMIN: 3}
"""Order used only to refuse a token a role above its user's."""

ROLE_LABELS_VI: dict[Role, str] = {
    Role.ADMIN: "Quản trị",
    Role.EDITOR: "Biên tập",
    Role.OFFICER: "Cán bộ",
    Role.VIEWER: "Xem báo cáo",
}


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` may do ``permission``."""
    return role in GRANTS[permission]


def parse_role(text: str) -> Role:
    """The role named ``text``; ValueError naming the valid roles otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {text!r} (one of: {', '.join(Role)})") from None
