"""``tongdai queue ...``: an officer's availability and a department's line, from a shell.

What the officer console will do with a toggle, for scripts and for the time before it: an
officer signs in (``available``), takes a break, signs out; ``show`` prints the line.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from sqlalchemy import select

from db import create_engine_from_url, migrate, session_factory
from integrations.catalogue_tables import OfficerRow
from integrations.privacy import mask_numbers_in
from ivr.queue.model import OfficerState
from ivr.queue.store_db import DbQueueStore

STATES = {
    "available": OfficerState.AVAILABLE,
    "break": OfficerState.ON_BREAK,
    "out": OfficerState.SIGNED_OUT,
}


def register(sub: Any) -> None:
    """Add ``queue`` and its subcommands to the top-level parser."""
    queue: argparse.ArgumentParser = sub.add_parser("queue", help="department queues")
    queue_sub = queue.add_subparsers(dest="queue_command", required=True)
    state = queue_sub.add_parser("state", help="set an officer available, on a break or out")
    state.add_argument("username")
    state.add_argument("state", choices=sorted(STATES))
    state.add_argument("--url", help="database URL (default: settings)")
    state.set_defaults(func=_state)
    show = queue_sub.add_parser("show", help="a department's officers and waiting callers")
    show.add_argument("department")
    show.add_argument("--url", help="database URL (default: settings)")
    show.set_defaults(func=_show)


def _url(args: argparse.Namespace) -> str:
    from config.settings import load_settings

    return str(args.url or load_settings().database_url)


def _state(args: argparse.Namespace) -> int:
    engine = create_engine_from_url(_url(args))
    try:
        migrate(engine)
        factory = session_factory(engine)
        with factory() as session:
            officer = session.scalars(
                select(OfficerRow).where(OfficerRow.extension == args.username)
            ).first()
            department = officer.department_id if officer is not None else None
        if department is None:
            print(f"error: no officer {args.username!r}", file=sys.stderr)
            return 1
        store = DbQueueStore(factory)
        asyncio.run(store.set_state(args.username, department, STATES[args.state], now=time.time()))
    finally:
        engine.dispose()
    print(f"{args.username} ({department}): {STATES[args.state].value}")
    return 0


def _show(args: argparse.Namespace) -> int:
    engine = create_engine_from_url(_url(args))
    try:
        migrate(engine)
        now = time.time()
        snap = asyncio.run(
            DbQueueStore(session_factory(engine)).snapshot(args.department, now=now, history=20)
        )
    finally:
        engine.dispose()
    for p in snap.officers:
        print(f"officer {p.extension:<10} {p.current(now).value:<10} since {now - p.since:6.0f} s")
    for place, entry in enumerate(snap.entries, start=1):
        caller = mask_numbers_in(entry.caller)
        waited = now - entry.enqueued_at
        print(f"{place:>3}. {entry.kind.value:<8} {caller:<14} waiting {waited:6.0f} s")
    return 0
