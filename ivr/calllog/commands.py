"""``tongdai calls ...``: call records (retention purge, hourly figures)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from db import create_engine_from_url, migrate, session_factory


def register(sub: Any) -> None:
    """Add ``calls`` and its subcommands to the top-level parser."""
    _register_calls(sub)


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="database URL (default: settings, TONGDAI_DATABASE_URL)")


def _register_calls(sub: Any) -> None:
    calls: argparse.ArgumentParser = sub.add_parser("calls", help="call records")
    calls_sub = calls.add_subparsers(dest="calls_command", required=True)
    purge = calls_sub.add_parser("purge", help="delete call records older than the retention")
    _add_url(purge)
    purge.add_argument(
        "--days", type=int, help="keep this many days (default: integrations.retention_days)"
    )
    purge.set_defaults(func=_purge_calls)
    rollup = calls_sub.add_parser(
        "rollup", help="count ended calls not yet in the hourly figures (after a bulk load)"
    )
    _add_url(rollup)
    rollup.set_defaults(func=_rollup_calls)


def _rollup_calls(args: argparse.Namespace) -> int:
    from config.settings import load_settings
    from ivr.calllog.rollup import roll_up_pending

    engine = create_engine_from_url(args.url or load_settings().database_url)
    counted = 0
    try:
        migrate(engine)
        factory = session_factory(engine)
        while True:
            with factory() as session, session.begin():
                done = roll_up_pending(session)
            counted += done
            if not done:
                break
    finally:
        engine.dispose()
    print(f"counted {counted} calls into the hourly figures")
    return 0


def _purge_calls(args: argparse.Namespace) -> int:
    from config.settings import load_settings
    from ivr.bridge.recording import purge_recordings
    from ivr.calllog.retention import purge_expired
    from ivr.queue.messages import purge_messages

    settings = load_settings()
    days = args.days if args.days is not None else settings.integrations.retention_days
    if days < 1:
        print("retention must be at least 1 day")
        return 2
    engine = create_engine_from_url(args.url or settings.database_url)
    try:
        migrate(engine)
        now = datetime.now(ZoneInfo("UTC"))
        sessions = session_factory(engine)
        removed = purge_expired(sessions, retention_days=days, now=now)
        cutoff = (now - timedelta(days=days)).timestamp()
        messages = purge_messages(sessions, settings.speech.messages_dir, before=cutoff)
        recordings = purge_recordings(settings.queues.recordings_dir, before=cutoff)
    finally:
        engine.dispose()
    print(
        f"removed {removed} calls, {messages} voice messages and {recordings} call recordings "
        f"older than {days} days"
    )
    return 0
