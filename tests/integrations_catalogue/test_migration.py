"""Migration 0002_catalogue_calls matches the table modules and goes up and down cleanly."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

import integrations.catalogue_tables
import ivr.calllog.tables
from db import Base, current_revision, downgrade, migrate

MINE = {
    "procedures",
    "procedure_documents",
    "departments",
    "officers",
    "holiday_overrides",
    "calls",
    "call_events",
    "call_inputs",
    "call_transfers",
    "callbacks",
    "survey_answers",
}


def _mine(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare only this migration's tables (others' tables have their own test)."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in MINE


def test_migration_matches_the_models(db: Engine) -> None:
    assert integrations.catalogue_tables.ProcedureRow.__tablename__ in MINE
    assert ivr.calllog.tables.CallRow.__tablename__ in MINE
    with db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _mine})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert set(inspect(db).get_table_names()) >= MINE


def test_downgrade_to_core_removes_only_these_tables(db: Engine) -> None:
    downgrade(db, "0001_core")
    tables = set(inspect(db).get_table_names())
    assert not (MINE & tables)
    assert "dossiers" in tables
    assert current_revision(db) == "0001_core"
    migrate(db)
    assert set(inspect(db).get_table_names()) >= MINE
