"""Server-side sign-in sessions: opened at sign-in, found by the cookie's id, revocable.

The cookie holds a random id; the table holds only its keyed hash, the user, a CSRF token and
the times. A session ends when it has been idle for ``idle_s``, when it reaches its maximum age,
when it is revoked (sign-out, an admin, a new password) or when its user is removed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from web.keyed_hash import keyed_hash
from web.tables import UserRow, WebSessionRow
from web.users import User, _user

COOKIE_NAME = "tongdai_session"
KEEP_DAYS = 7
"""Expired or revoked sessions stay this long (who signed in from where), then go."""
TOUCH_EVERY_S = 30
"""last_seen_at is written at most this often per session (a page load is not a write)."""


@dataclass(frozen=True)
class OpenedSession:
    """What the browser gets: the raw id (cookie) and the CSRF token (pages)."""

    raw_id: str
    csrf_token: str


@dataclass(frozen=True)
class FoundSession:
    """A live session and its user."""

    id_hash: str
    user: User
    csrf_token: str


def open_session(
    sessions: sessionmaker[Session],
    key: bytes,
    *,
    user_id: int,
    now: datetime,
    max_s: int,
    address: str,
) -> OpenedSession:
    """Start a session for ``user_id``."""
    raw = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with unit_of_work(sessions) as session:
        # Sign-ins are rare: the moment to forget sessions that ended a while ago.
        session.execute(
            delete(WebSessionRow).where(WebSessionRow.expires_at < now - timedelta(days=KEEP_DAYS))
        )
        session.add(
            WebSessionRow(
                id_hash=keyed_hash(key, raw),
                user_id=user_id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=max_s),
                address=address[:64],
            )
        )
    return OpenedSession(raw, csrf)


def find_session(
    sessions: sessionmaker[Session], key: bytes, raw_id: str, *, now: datetime, idle_s: int
) -> FoundSession | None:
    """The live session with id ``raw_id`` (touched), or None."""
    if not raw_id or len(raw_id) > 128:
        return None
    id_hash = keyed_hash(key, raw_id)
    with unit_of_work(sessions) as session:
        found = session.execute(
            select(WebSessionRow, UserRow)
            .join(UserRow, UserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.id_hash == id_hash)
        ).first()
        if found is None:
            return None
        row, user_row = found
        last_seen = _aware(row.last_seen_at)
        if (
            row.revoked_at is not None
            or _aware(row.expires_at) <= now
            or last_seen + timedelta(seconds=idle_s) <= now
            or not user_row.active
        ):
            return None
        if (now - last_seen).total_seconds() >= TOUCH_EVERY_S:
            row.last_seen_at = now
        return FoundSession(id_hash, _user(user_row), row.csrf_token)


def revoke_session(sessions: sessionmaker[Session], id_hash: str, *, now: datetime) -> None:
    """End one session (sign-out)."""
    with unit_of_work(sessions) as session:
        session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.id_hash == id_hash, WebSessionRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def revoke_user_sessions(sessions: sessionmaker[Session], user_id: int, *, now: datetime) -> int:
    """End every session of a user (new password, lost role, disabled); how many."""
    with unit_of_work(sessions) as session:
        result = session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.user_id == user_id, WebSessionRow.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
