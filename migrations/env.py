"""Alembic environment: runs migrations on a connection handed over by ``db.migrate`` or on the
URL from alembic.ini / the ``-x url=...`` argument / settings (``TONGDAI_DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

# Every module that declares tables is imported here, so autogenerate sees the whole schema.
import integrations.catalogue_tables
import integrations.registrar_tables
import integrations.tables
import integrations.verification_tables  # noqa: F401
import ivr.calllog.tables
import ivr.outbound.tables
import ivr.queue.tables  # noqa: F401
import menus.tables  # noqa: F401
import web.tables  # noqa: F401
from db import Base, create_engine_from_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if url:
        return url
    from config.settings import load_settings

    return load_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine_from_url(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
