"""The catalogue's database fixtures (SQLite and PostgreSQL), shared with the call-log tests."""

from tests.integrations_catalogue.conftest import (
    bare_engine,
    db,
    sessions,
    shared_sessions,
)

__all__ = ["bare_engine", "db", "sessions", "shared_sessions"]
