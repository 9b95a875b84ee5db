"""``tongdai users ...`` (accounts and API tokens) and ``tongdai web check`` (start-up checks
that ``make run`` prints: the secret key and how to create the first admin)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db import DatabaseUrlError, create_engine_from_url, migrate, session_factory
from web.api_tokens import create_token, list_tokens, revoke_token
from web.audit import record_now
from web.browser_sessions import revoke_user_sessions
from web.roles import Role
from web.secret_key import SecretKeyError, resolve_key
from web.users import UserError, add_user, list_users, remove_user, update_user

CLI_ACTOR = "cli"


def register(sub: Any) -> None:
    """Add ``users`` and ``web`` to the top-level parser."""
    users: argparse.ArgumentParser = sub.add_parser("users", help="web app users and API tokens")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a user (password read from standard input)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", default="", help="display name")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of standard input",
    )
    add.set_defaults(func=_guard(_add))
    users_sub.add_parser("list", help="list users").set_defaults(func=_guard(_list))
    rm = users_sub.add_parser("remove", help="remove a user (and their sessions and tokens)")
    rm.add_argument("username")
    rm.set_defaults(func=_guard(_remove))
    pw = users_sub.add_parser("password", help="set a new password (unlocks, signs out)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true", required=True)
    pw.set_defaults(func=_guard(_password))
    token = users_sub.add_parser("token", help="make an API token (printed once)")
    token.add_argument("username")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--name", default="script")
    token.add_argument("--days", type=int, default=365, help="valid for this many days")
    token.set_defaults(func=_guard(_token))
    users_sub.add_parser("tokens", help="list API tokens").set_defaults(func=_guard(_tokens))
    revoke = users_sub.add_parser("revoke-token", help="revoke an API token by id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(func=_guard(_revoke))

    web: argparse.ArgumentParser = sub.add_parser("web", help="web app checks")
    web_sub = web.add_subparsers(dest="web_command", required=True)
    web_sub.add_parser(
        "check", help="check the secret key (generate one if none) and users"
    ).set_defaults(func=_guard(_check))


def _guard(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except (UserError, SecretKeyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except DatabaseUrlError as exc:
            print(f"error: {exc}", file=sys.stderr)
        except SQLAlchemyError as exc:
            print(f"database error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 3

    return wrapper


def _sessions() -> sessionmaker[Session]:
    from config.settings import load_settings

    engine = create_engine_from_url(load_settings().database_url)
    migrate(engine)
    return session_factory(engine)


def _read_password() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _now() -> datetime:
    return datetime.now(UTC)


def _add(args: argparse.Namespace) -> int:
    sessions = _sessions()
    user = add_user(
        sessions,
        username=args.username,
        role=args.role,
        password=_read_password(),
        display_name=args.name,
        now=_now(),
    )
    record_now(
        sessions,
        at=_now(),
        actor=CLI_ACTOR,
        action="user_add",
        target=user.username,
        after={"username": user.username, "role": user.role.value},
    )
    print(f"added {user.username} ({user.role.value})")
    return 0


def _list(_args: argparse.Namespace) -> int:
    for user in list_users(_sessions()):
        state = "active" if user.active else "disabled"
        print(f"{user.username}\t{user.role.value}\t{state}\t{user.display_name}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    sessions = _sessions()
    user = remove_user(sessions, args.username)
    record_now(
        sessions,
        at=_now(),
        actor=CLI_ACTOR,
        action="user_remove",
        target=user.username,
        before={"username": user.username, "role": user.role.value},
    )
    print(f"removed {user.username}")
    return 0


def _password(args: argparse.Namespace) -> int:
    sessions = _sessions()
    _before, user = update_user(sessions, args.username, password=_read_password())
    revoke_user_sessions(sessions, user.id, now=_now())
    record_now(sessions, at=_now(), actor=CLI_ACTOR, action="user_password", target=user.username)
    print(f"new password for {user.username}; their sessions are signed out")
    return 0


def _key() -> bytes:
    from config.settings import load_settings

    settings = load_settings()
    return resolve_key(settings.web.secret_key, settings.data_dir)


def _token(args: argparse.Namespace) -> int:
    sessions = _sessions()
    raw = create_token(
        sessions,
        _key(),
        username=args.username,
        name=args.name,
        role=Role(args.role),
        now=_now(),
        expires_at=_now() + timedelta(days=args.days),
    )
    record_now(
        sessions,
        at=_now(),
        actor=CLI_ACTOR,
        action="token_add",
        target=args.username,
        after={"name": args.name, "role": args.role},
    )
    print(raw)
    return 0


def _tokens(_args: argparse.Namespace) -> int:
    for t in list_tokens(_sessions()):
        state = "revoked" if t.revoked else f"until {t.expires_at:%Y-%m-%d}" if t.expires_at else ""
        print(f"{t.id}\t{t.username}\t{t.name}\t{t.role.value}\t{state}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    sessions = _sessions()
    if not revoke_token(sessions, args.token_id, now=_now()):
        print(f"error: no live token {args.token_id}", file=sys.stderr)
        return 2
    record_now(
        sessions, at=_now(), actor=CLI_ACTOR, action="token_revoke", target=str(args.token_id)
    )
    print(f"revoked token {args.token_id}")
    return 0


def _check(_args: argparse.Namespace) -> int:
    _key()  # refuses a placeholder; creates the key file on first start
    if not list_users(_sessions()):
        print(
            "tongdai: no web user yet. Create the first admin with:\n"
            "  printf '%s\\n' 'a long password' | .venv/bin/tongdai users add admin "
            "--role admin --password-stdin"
        )
    return 0
