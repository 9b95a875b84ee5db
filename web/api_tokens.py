"""API tokens for scripts: each acts for its user with a role no higher than the user's.

The raw token (``td_`` + 43 random characters) is shown once when it is made; the table keeps
only its keyed hash. A token stops working when revoked, when it expires, when its user is
disabled or removed, or when its user's role falls below the token's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from web.keyed_hash import keyed_hash
from web.roles import RANK, Role
from web.tables import ApiTokenRow, UserRow
from web.users import User, UserError, _user

TOKEN_PREFIX = "td_"


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never its value)."""

    id: int
    name: str
    username: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked: bool


def create_token(
    sessions: sessionmaker[Session],
    key: bytes,
    *,
    username: str,
    name: str,
    role: Role,
    now: datetime,
    expires_at: datetime | None = None,
) -> str:
    """Make a token for ``username``; its raw value (shown once)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(sessions) as session:
        user = session.scalar(select(UserRow).where(UserRow.username == username.lower()))
        if user is None:
            raise UserError(f"no user {username!r}")
        if RANK[role] > RANK[Role(user.role)]:
            raise UserError(f"a token cannot have role {role} above its user's ({user.role})")
        session.add(
            ApiTokenRow(
                token_hash=keyed_hash(key, raw),
                user_id=user.id,
                name=name.strip()[:64] or "token",
                role=role.value,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return raw


def find_token(
    sessions: sessionmaker[Session], key: bytes, raw: str, *, now: datetime
) -> tuple[User, str] | None:
    """The user a live token acts for, with the token's role, and the token's name; or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 128:
        return None
    with unit_of_work(sessions) as session:
        found = session.execute(
            select(ApiTokenRow, UserRow)
            .join(UserRow, UserRow.id == ApiTokenRow.user_id)
            .where(ApiTokenRow.token_hash == keyed_hash(key, raw))
        ).first()
        if found is None:
            return None
        token, user_row = found
        expires = token.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        role = Role(token.role)
        if (
            token.revoked_at is not None
            or (expires is not None and expires <= now)
            or not user_row.active
            or RANK[role] > RANK[Role(user_row.role)]
        ):
            return None
        return replace(_user(user_row), role=role), token.name


def list_tokens(sessions: sessionmaker[Session]) -> list[TokenInfo]:
    """Every token, newest first."""
    with unit_of_work(sessions) as session:
        rows = session.execute(
            select(ApiTokenRow, UserRow.username)
            .join(UserRow, UserRow.id == ApiTokenRow.user_id)
            .order_by(ApiTokenRow.id.desc())
        ).all()
        return [
            TokenInfo(
                t.id,
                t.name,
                username,
                Role(t.role),
                t.created_at,
                t.expires_at,
                t.revoked_at is not None,
            )
            for t, username in rows
        ]


def revoke_token(sessions: sessionmaker[Session], token_id: int, *, now: datetime) -> bool:
    """Revoke one token; False when there is no such live token."""
    with unit_of_work(sessions) as session:
        result = session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return bool(getattr(result, "rowcount", 0))
