"""The database: declarative base, engine and session factories, unit of work, migrations.

SQLite (a file) is the embedded default; PostgreSQL through psycopg 3 is the production
database. Nothing is built at import time: call :func:`create_engine_from_url` with the URL from
settings, then :func:`session_factory`, and run :func:`migrate` once at start-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for another writer's lock before failing."""

# Stable constraint names, so migrations can address constraints on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table in tongdai (one metadata for Alembic)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DatabaseUrlError(ValueError):
    """The database URL is malformed or names an unsupported backend."""


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; plain ``postgresql://``/``postgres://`` URLs get the psycopg 3 driver."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception as exc:  # sqlalchemy raises ArgumentError, but keep the error typed
        raise DatabaseUrlError(f"malformed database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise DatabaseUrlError(f"unsupported database backend {backend!r} (sqlite or postgresql)")


def create_engine_from_url(
    url: str | URL, *, pg_schema: str | None = None, echo: bool = False
) -> Engine:
    """Build an engine for ``url``.

    SQLite connections get WAL journaling (file databases), foreign keys and a busy timeout; the
    parent directory of a SQLite file is created. ``pg_schema`` puts a PostgreSQL connection's
    ``search_path`` on that schema (used to isolate tests and tenants).
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    connect_args: dict[str, Any] = {}
    if pg_schema is not None:
        connect_args["options"] = f"-csearch_path={pg_schema}"
    return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def in_memory_database(url: str | URL) -> bool:
    """Whether ``url`` names a SQLite database that lives only in one process's memory (so
    another process opening the same URL would see a different, empty database)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return database in ("", ":memory:") or database.startswith("file::memory:")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = in_memory_database(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if in_memory:
        # One shared connection, or every new connection would see a fresh empty database.
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL makes NORMAL durable across application crashes and much faster.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def in_thread(factory: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """``work`` in one transaction (:func:`unit_of_work`) on a thread: the event loop never
    waits on the database."""

    def transaction() -> T:
        with unit_of_work(factory) as session:
            return work(session)

    return await asyncio.to_thread(transaction)


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` pointing at this checkout's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        # ConfigParser treats % as interpolation; escape it for passwords with percent-encoding.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: the newest)."""
    _run_alembic(engine_or_url, command.upgrade, revision)


def downgrade(engine_or_url: Engine | str | URL, revision: str) -> None:
    """Downgrade the database to ``revision`` (``base`` removes every table)."""
    _run_alembic(engine_or_url, command.downgrade, revision)


def migration_state(revision: str | None) -> str:
    """Where ``revision`` (a database's) stands against this checkout's migrations:
    ``"none"``, ``"head"``, ``"older"`` (known, behind the head) or ``"newer"`` (unknown here:
    written by a newer tongdai)."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if revision is None:
        return "none"
    script = ScriptDirectory.from_config(alembic_config())
    if revision == script.get_current_head():
        return "head"
    try:
        script.get_revision(revision)
    except CommandError:
        return "newer"
    return "older"


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _run_alembic(
    engine_or_url: Engine | str | URL, action: Callable[[Config, str], object], revision: str
) -> None:
    if isinstance(engine_or_url, Engine):
        engine = engine_or_url
        owned = False
    else:
        engine = create_engine_from_url(engine_or_url)
        owned = True
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            action(config, revision)
    finally:
        if owned:
            engine.dispose()


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be used right now (server down or restarting,
    connection lost, disk full, file locked) rather than that the statement was wrong: work
    that failed so is worth holding and retrying."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    orig = exc.orig
    if type(orig).__module__ == "sqlite3":  # SQLite says "operational" of schema errors too
        text = str(orig).lower()
        return any(word in text for word in _SQLITE_TRANSIENT)
    return True


_SQLITE_TRANSIENT = ("locked", "busy", "full", "disk i/o", "unable to open", "readonly")
