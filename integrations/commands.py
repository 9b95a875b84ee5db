"""``tongdai db ...``: create or upgrade the database, load sample data, import dossiers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from db import DatabaseUrlError, create_engine_from_url, migrate, session_factory, unit_of_work
from integrations.dossier_import import ImportFileError, import_file
from integrations.dossiers_db import count_dossiers, upsert_dossiers
from integrations.sample_dossiers import DEMO_CODES, demo_dossiers, generate

DEFAULT_SAMPLE_COUNT = 5000


AfterSample = Callable[[Any], None]
"""Run after `db init --sample` loaded the data, given the session factory (the composition
passes the menus' "publish the default tree" here, so this package never imports menus)."""


def register(sub: Any, *, after_sample: AfterSample | None = None) -> None:
    """Add ``db`` and its subcommands to the top-level parser."""
    db: argparse.ArgumentParser = sub.add_parser("db", help="database: migrate, sample, import")
    db_sub = db.add_subparsers(dest="db_command", required=True)

    init = db_sub.add_parser("init", help="create or upgrade the tables (optionally sample data)")
    _add_url(init)
    init.add_argument("--sample", action="store_true", help="load demo and sample dossiers")
    init.add_argument(
        "--sample-count",
        type=int,
        default=DEFAULT_SAMPLE_COUNT,
        help=f"generated sample dossiers (default {DEFAULT_SAMPLE_COUNT})",
    )
    init.set_defaults(func=_guarded(_init), after_sample=after_sample)

    imp = db_sub.add_parser("import", help="import dossiers from a CSV, JSON or JSON Lines file")
    _add_url(imp)
    imp.add_argument("file", type=Path, help="the .csv, .json or .jsonl file")
    imp.set_defaults(func=_guarded(_import))

    procs = db_sub.add_parser("procedures", help="import the procedure catalogue (CSV or JSON)")
    _add_url(procs)
    procs.add_argument("file", type=Path, help="the .csv or .json catalogue file")
    procs.set_defaults(func=_import_procedures)


def _guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report a bad URL or an unreachable database in one line instead of a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except DatabaseUrlError as exc:
            print(f"error: {exc}")
        except SQLAlchemyError as exc:
            print(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return 3

    return wrapper


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="database URL (default: settings, TONGDAI_DATABASE_URL)")


def _settings_url_and_today(args: argparse.Namespace) -> tuple[str, date]:
    from config.settings import load_settings

    settings = load_settings()
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    return args.url or settings.database_url, today


def _init(args: argparse.Namespace) -> int:
    url, today = _settings_url_and_today(args)
    engine = create_engine_from_url(url)
    try:
        migrate(engine)
        print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
        if args.sample:
            factory = session_factory(engine)
            with unit_of_work(factory) as session:
                # The demo dossiers are refreshed every time: their due dates follow today.
                upsert_dossiers(session, demo_dossiers(today))
                if count_dossiers(session) <= len(DEMO_CODES):
                    inserted, _ = upsert_dossiers(session, generate(args.sample_count, today=today))
                    print(f"sample dossiers loaded: {inserted}")
                else:
                    print("sample dossiers already present: left as they are")
            from integrations.sample_catalogue import load_sample

            catalogue = load_sample(factory)
            print(
                f"sample catalogue: {catalogue.procedures.inserted} new procedures, "
                f"{catalogue.departments} departments, {catalogue.officers} officers"
            )
            print("demo dossier codes:")
            for code, what in DEMO_CODES.items():
                print(f"  {code}  {what}")
            if args.after_sample is not None:
                args.after_sample(factory)
    finally:
        engine.dispose()
    return 0


def _import(args: argparse.Namespace) -> int:
    url, _ = _settings_url_and_today(args)
    engine = create_engine_from_url(url)
    try:
        migrate(engine)
        report = import_file(args.file, session_factory(engine))
    except ImportFileError as exc:
        print(f"import failed: {exc}")
        return 2
    finally:
        engine.dispose()
    for line in report.lines():
        print(line)
    return 1 if report.errors else 0


def _import_procedures(args: argparse.Namespace) -> int:
    from integrations.procedure_import import CatalogueImportError
    from integrations.procedure_import import import_file as import_catalogue

    url, _ = _settings_url_and_today(args)
    engine = create_engine_from_url(url)
    try:
        migrate(engine)
        report = import_catalogue(session_factory(engine), args.file)
    except CatalogueImportError as exc:
        print(f"import failed: {exc}")
        return 2
    finally:
        engine.dispose()
    print(f"inserted {report.inserted}, updated {report.updated}, unchanged {report.unchanged}")
    for error in report.errors:
        print(f"  {error}")
    return 1 if report.errors else 0
