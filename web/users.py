"""Users: add, list, change and remove them; check a password with lockout.

Passwords are hashed with Argon2id (``argon2-cffi``). An unknown username costs the same hash
check as a known one, so the time taken does not tell which usernames exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from web.roles import Role, parse_role
from web.tables import UserRow

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class UserError(ValueError):
    """A user cannot be added or changed as asked (the message says why)."""


class LoginRefused(Exception):
    """Sign-in refused; ``locked`` when the account is temporarily locked."""

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


@dataclass(frozen=True)
class User:
    """A user as the app sees one (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    locked_until: datetime | None = None


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        active=row.active,
        locked_until=row.locked_until,
    )


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` after checking its length."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password shorter than {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password longer than {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def check_username(username: str) -> str:
    """``username`` normalised to lower case; UserError when it has the wrong shape."""
    name = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(name):
        raise UserError(
            f"username {username!r}: 2-64 characters, lower-case letters, digits, '.', '_', '-'"
        )
    return name


def add_user(
    sessions: sessionmaker[Session],
    *,
    username: str,
    role: Role | str,
    password: str,
    display_name: str = "",
    now: datetime,
) -> User:
    """Create a user; UserError when the name is taken or the input is bad."""
    name = check_username(username)
    chosen = role if isinstance(role, Role) else _role(role)
    password_hash = hash_password(password)
    with unit_of_work(sessions) as session:
        if session.scalar(select(UserRow.id).where(UserRow.username == name)) is not None:
            raise UserError(f"user {name!r} already exists")
        row = UserRow(
            username=name,
            display_name=display_name.strip()[:200],
            role=chosen.value,
            password_hash=password_hash,
            active=True,
            failed_logins=0,
            created_at=now,
        )
        session.add(row)
        session.flush()
        return _user(row)


def _role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def list_users(sessions: sessionmaker[Session]) -> list[User]:
    """Every user, by username."""
    with unit_of_work(sessions) as session:
        rows = session.scalars(select(UserRow).order_by(UserRow.username)).all()
        return [_user(r) for r in rows]


def get_user(sessions: sessionmaker[Session], username: str) -> User | None:
    """The user named ``username``, or None."""
    with unit_of_work(sessions) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username.lower()))
        return _user(row) if row is not None else None


def count_admins(session: Session) -> int:
    """Active admins: the last one may not be removed or demoted."""
    query = select(func.count()).where(UserRow.role == Role.ADMIN.value, UserRow.active)
    return int(session.scalar(query) or 0)


def remove_user(sessions: sessionmaker[Session], username: str) -> User:
    """Delete a user (their sessions and tokens go with them); never the last admin."""
    with unit_of_work(sessions) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username.lower()))
        if row is None:
            raise UserError(f"no user {username!r}")
        if row.role == Role.ADMIN.value and row.active and count_admins(session) <= 1:
            raise UserError("the last admin cannot be removed")
        user = _user(row)
        session.execute(delete(UserRow).where(UserRow.id == row.id))
        return user


def update_user(
    sessions: sessionmaker[Session],
    username: str,
    *,
    role: Role | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> tuple[User, User]:
    """Change a user's role, active flag or password; (before, after). A new password or a
    lost role revokes nothing here: the caller revokes sessions (see browser_sessions)."""
    with unit_of_work(sessions) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username.lower()))
        if row is None:
            raise UserError(f"no user {username!r}")
        before = _user(row)
        demoting = (role is not None and role != Role.ADMIN) or active is False
        if before.role == Role.ADMIN and demoting and count_admins(session) <= 1:
            raise UserError("the last admin must stay an active admin")
        if role is not None:
            row.role = role.value
        if active is not None:
            row.active = active
        if password is not None:
            row.password_hash = hash_password(password)
            row.failed_logins = 0
            row.locked_until = None
        session.flush()
        return before, _user(row)


def authenticate(
    sessions: sessionmaker[Session],
    *,
    username: str,
    password: str,
    now: datetime,
    max_failures: int,
    lockout_s: int,
) -> User:
    """The user whose password this is; LoginRefused otherwise. ``max_failures`` wrong
    passwords in a row lock the account for ``lockout_s`` seconds (an admin can unlock it by
    setting a new password)."""
    name = username.strip().lower()[:64]
    with unit_of_work(sessions) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == name))
        if row is None or not row.active:
            _verify(_DUMMY_HASH, password)
            raise LoginRefused("wrong username or password")
        locked_until = _aware(row.locked_until)
        if locked_until is not None and locked_until > now:
            raise LoginRefused("account locked", locked=True)
        if not _verify(row.password_hash, password):
            row.failed_logins += 1
            if row.failed_logins >= max_failures:
                row.locked_until = now + timedelta(seconds=lockout_s)
                row.failed_logins = 0
                return _refuse_after_commit(session, locked=True)
            return _refuse_after_commit(session, locked=False)
        row.failed_logins = 0
        row.locked_until = None
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = _hasher.hash(password)
        return _user(row)


def _refuse_after_commit(session: Session, *, locked: bool) -> User:
    # The failure count must be stored even though sign-in is refused.
    session.commit()
    if locked:
        raise LoginRefused("account locked", locked=True)
    raise LoginRefused("wrong username or password")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password[:MAX_PASSWORD_LENGTH])
    except (VerificationError, InvalidHashError):
        return False


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for values stored as UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    from datetime import UTC

    return moment.replace(tzinfo=UTC)
