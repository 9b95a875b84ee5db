"""db.py: engines, unit of work and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

import integrations.tables  # noqa: F401  (registers the tables on Base.metadata)
from db import (
    Base,
    DatabaseUrlError,
    create_engine_from_url,
    current_revision,
    downgrade,
    migrate,
    normalize_url,
    unit_of_work,
)
from integrations.tables import DossierRow, DossierSupplementRow


def _row(code: str) -> DossierRow:
    return DossierRow(
        code=code,
        tail=code[-11:].replace("-", ""),
        received_on=date(2020, 2, 3),
        due_on=date(2020, 2, 20),
        status=4,
        result_documents=[],
        updated_at=datetime(2020, 2, 3, tzinfo=UTC),
    )


def test_postgres_urls_get_the_psycopg3_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", ""])
def test_bad_urls_raise_a_typed_error(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        normalize_url(url)


def test_sqlite_file_gets_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'sub' / 'a.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    engine.dispose()
    assert (tmp_path / "sub" / "a.db").is_file()


def test_migrate_creates_tables_and_records_the_revision(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    migrate(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert {"dossiers", "dossier_fees", "dossier_supplements", "dossier_progress"} <= tables
    assert current_revision(empty_engine) is not None
    migrate(empty_engine)  # idempotent at head


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_removes_the_dossier_tables(engine: Engine) -> None:
    downgrade(engine, "base")
    assert "dossiers" not in inspect(engine).get_table_names()
    assert current_revision(engine) is None


def test_unit_of_work_commits_and_rolls_back(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as s:
        s.add(_row("000.00.14.H56-200203-0118"))
    with pytest.raises(RuntimeError), unit_of_work(factory) as s:
        s.add(_row("000.00.14.H56-200203-0119"))
        s.flush()
        raise RuntimeError("abort")
    with unit_of_work(factory) as s:
        codes = s.scalars(select(DossierRow.code)).all()
    assert codes == ["000.00.14.H56-200203-0118"]


def test_foreign_keys_cascade_on_delete(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as s:
        row = _row("000.00.14.H56-200203-0120")
        row.supplements.append(
            DossierSupplementRow(content="Bản sao CCCD", requested_on=date(2020, 2, 5))
        )
        s.add(row)
    with unit_of_work(factory) as s:
        s.execute(text("DELETE FROM dossiers"))
    with unit_of_work(factory) as s:
        assert s.scalars(select(DossierSupplementRow)).all() == []
