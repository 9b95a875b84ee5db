"""Whether the database answers: checked before a node opens its SIP port, then watched.

A node that cannot reach its database says so in one line, reports not-ready and waits (it
does not open SIP, so a proxy's probes send calls to other nodes), instead of answering calls
it cannot serve. A reachable database without tongdai's tables is an operator mistake told
in one line (run ``tongdai db init``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import NullPool

from config.operator_errors import OperatorError
from db import (
    create_engine_from_url,
    current_revision,
    in_memory_database,
    migration_state,
    normalize_url,
)
from telemetry.readiness import Readiness

log = logging.getLogger(__name__)

EXIT_DATABASE_UNREACHABLE = 3


class DatabaseNotReady(Exception):
    """The database did not answer in time; the message is one line for the operator."""


def shown_url(url: str | URL) -> str:
    """The URL without its password, for messages."""
    return normalize_url(url).render_as_string(hide_password=True)


def checking_engine(url: str | URL, timeout_s: float) -> Engine:
    """An engine for checks: PostgreSQL connections give up after ``timeout_s``."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "postgresql":
        return create_engine_from_url(parsed)
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(max(1, round(timeout_s)))})
    # a fresh connection per check: a pooled one could hang on a server that went away
    return create_engine(parsed, poolclass=NullPool)


def one_line(exc: BaseException) -> str:
    """A driver error folded into one short line (psycopg's messages span several)."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]  # psycopg adds hints on more lines
    words = " ".join(first.split())
    return (words[:200] + "…") if len(words) > 200 else words or type(cause).__name__


def database_problem(engine: Engine) -> str | None:
    """None when the database answers a query, else why not (one line)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        return one_line(exc)
    return None


def require_tables(engine: Engine, url: str | URL) -> None:
    """Raise an :class:`OperatorError` when the database was never initialised, or holds the
    tables of an older tongdai (an in-memory database is each process's own, so there is
    nothing to check). Tables of a newer tongdai are accepted: nodes are upgraded one by one."""
    if in_memory_database(url):
        return
    revision = current_revision(engine)
    state = migration_state(revision)
    if state == "none":
        raise OperatorError(
            f"database {shown_url(url)} has no tongdai tables: run `tongdai db init` first"
        )
    if state == "older":
        raise OperatorError(
            f"database {shown_url(url)} holds the tables of an older tongdai (revision "
            f"{revision}): run `tongdai db init` to upgrade them"
        )


def wait_for_database(
    url: str | URL,
    readiness: Readiness,
    *,
    retry_s: float,
    wait_max_s: float,
    timeout_s: float,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Block until the database answers, telling the operator once per attempt that fails.

    Raises :class:`DatabaseNotReady` after ``wait_max_s`` (0: never) and
    :class:`OperatorError` when the database answers but holds no tongdai tables."""
    engine = checking_engine(url, timeout_s)
    started = clock()
    try:
        while True:
            problem = database_problem(engine)
            if problem is None:
                break
            readiness.failed("database", problem)
            waited = clock() - started
            if wait_max_s and waited + retry_s > wait_max_s:
                raise DatabaseNotReady(
                    f"database {shown_url(url)} still unreachable after {waited:.0f} s "
                    f"({problem}): giving up"
                )
            say(
                f"database {shown_url(url)} unreachable ({problem}): not ready, no calls "
                f"taken; retrying in {retry_s:g} s"
            )
            sleep(retry_s)
        require_tables(engine, url)
        readiness.passed("database")
        if clock() - started > 0.5:
            say(f"database {shown_url(url)} reachable")
    finally:
        engine.dispose()


class DatabaseWatcher:
    """A daemon thread re-checking the database every ``period_s`` for readiness; an outage
    and a recovery are each logged once."""

    def __init__(self, url: str | URL, readiness: Readiness, *, period_s: float,
                 timeout_s: float) -> None:  # fmt: skip
        self._url = url
        self._readiness = readiness
        self._period_s = period_s
        self._timeout_s = timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="database-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self._timeout_s + 1)

    def _run(self) -> None:
        engine = checking_engine(self._url, self._timeout_s)
        down = False
        try:
            while not self._stop.wait(self._period_s):
                problem = database_problem(engine)
                if problem is None:
                    self._readiness.passed("database")
                    if down:
                        log.warning("database %s reachable again", shown_url(self._url))
                    down = False
                else:
                    self._readiness.failed("database", problem)
                    if not down:
                        log.error("database %s unreachable: %s", shown_url(self._url), problem)
                    down = True
        finally:
            engine.dispose()
