"""``tongdai officers ...``: provision the officers whose softphones register to tongdai.

``add`` reads the password from standard input (``--password-stdin``) so it never shows in a
process list or a shell history; only its digest HA1s (MD5 and SHA-256, in the registrar's
realm) and, with ``--web-login``, an scrypt hash are stored.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db import DatabaseUrlError, create_engine_from_url, migrate, session_factory, unit_of_work
from integrations.officers import DirectoryError, officers_of, remove_officer, save_officer
from integrations.registrar_tables import SipBindingRow

MAX_PASSWORD_CHARS = 256


def register(sub: Any) -> None:
    """Add ``officers`` and its subcommands to the top-level parser."""
    officers: argparse.ArgumentParser = sub.add_parser(
        "officers", help="officers who take transferred calls: add, list, remove"
    )
    officers_sub = officers.add_subparsers(dest="officers_command", required=True)

    add = officers_sub.add_parser("add", help="create or update an officer and their SIP login")
    add.add_argument("department", help="department id (see the catalogue's departments)")
    add.add_argument("username", help="SIP user name and extension, e.g. 1001")
    add.add_argument("--name", required=True, help="the officer's full name")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the SIP password from standard input"
    )
    add.add_argument("--web-login", help="also sign in to the web console with this login")
    add.add_argument("--inactive", action="store_true", help="keep the record but refuse logins")
    _add_url(add)
    add.set_defaults(func=_guarded(_add))

    listing = officers_sub.add_parser("list", help="officers, their department and registration")
    listing.add_argument("department", nargs="?", help="only this department")
    _add_url(listing)
    listing.set_defaults(func=_guarded(_list))

    remove = officers_sub.add_parser("remove", help="delete an officer and their registrations")
    remove.add_argument("username")
    _add_url(remove)
    remove.set_defaults(func=_guarded(_remove))


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="database URL (default: settings, TONGDAI_DATABASE_URL)")


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except DirectoryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except DatabaseUrlError as exc:
            print(f"error: {exc}", file=sys.stderr)
        except SQLAlchemyError as exc:
            first = str(exc).splitlines()[0]
            print(f"database error: {type(exc).__name__}: {first}", file=sys.stderr)
        return 3

    return wrapper


def read_password(stream: TextIO) -> str:
    """The first line of `stream` without its line end; DirectoryError when empty or too long."""
    line = stream.readline(MAX_PASSWORD_CHARS + 2)
    password = line.rstrip("\r\n")
    if not password:
        raise DirectoryError("no password on standard input")
    if len(password) > MAX_PASSWORD_CHARS or ("\n" not in line and stream.read(1)):
        raise DirectoryError(f"password longer than {MAX_PASSWORD_CHARS} characters")
    return password


def _settings() -> Any:
    from config.settings import load_settings

    return load_settings()


def _add(args: argparse.Namespace) -> int:
    if not args.password_stdin:
        raise DirectoryError("give the password on standard input with --password-stdin")
    password = read_password(sys.stdin)
    settings = _settings()
    engine = create_engine_from_url(args.url or settings.database_url)
    try:
        migrate(engine)
        with unit_of_work(session_factory(engine)) as session:
            save_officer(
                session,
                department_id=args.department,
                name=args.name,
                extension=args.username,
                realm=settings.registrar.realm,
                sip_password=password,
                web_login=args.web_login,
                web_password=password if args.web_login else None,
                active=not args.inactive,
            )
    finally:
        engine.dispose()
    print(f"officer {args.username} saved in {args.department} (realm {settings.registrar.realm})")
    return 0


def _list(args: argparse.Namespace) -> int:
    engine = create_engine_from_url(args.url or _settings().database_url)
    try:
        migrate(engine)
        factory = session_factory(engine)
        with factory() as session:
            rows = officers_of(session, department_id=args.department)
            devices = registered_counts(session, now=time.time())
    finally:
        engine.dispose()
    print(f"{'username':<12} {'department':<16} {'devices':>7}  {'sip':<4} name")
    for officer in rows:
        status = "yes" if officer.has_sip_password else "no"
        if not officer.active:
            status = "off"
        count = devices.get(officer.extension, 0)
        print(
            f"{officer.extension:<12} {officer.department_id:<16} {count:>7}  "
            f"{status:<4} {officer.name}"
        )
    return 0


def _remove(args: argparse.Namespace) -> int:
    engine = create_engine_from_url(args.url or _settings().database_url)
    try:
        migrate(engine)
        with unit_of_work(session_factory(engine)) as session:
            removed = remove_officer(session, extension=args.username)
    finally:
        engine.dispose()
    if not removed:
        print(f"error: no officer {args.username!r}", file=sys.stderr)
        return 1
    print(f"officer {args.username} removed")
    return 0


def registered_counts(session: Session, *, now: float) -> dict[str, int]:
    """Unexpired registered devices per officer extension."""
    stmt = (
        select(SipBindingRow.username, func.count())
        .where(SipBindingRow.expires_at > now)
        .group_by(SipBindingRow.username)
    )
    return {username: int(count) for username, count in session.execute(stmt)}
