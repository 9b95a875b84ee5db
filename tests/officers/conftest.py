"""Fixtures for the officers' side: a migrated database with two departments, per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import migrate, session_factory, unit_of_work
from integrations.officers import save_department, save_officer
from tests.support import fresh_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
REALM = "tongdai"
PASSWORD = "mật-khẩu-1001"


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """(URL another process can open, sessions) on a migrated database with departments
    ``so-cong-thuong`` and ``so-tnmt`` and officer 1001 of the first."""
    for url, engine in fresh_database(request.param, tmp_path, pg_available):
        migrate(engine)
        factory = session_factory(engine)
        with unit_of_work(factory) as session:
            save_department(session, dept_id="so-cong-thuong", name="Sở Công thương")
            save_department(session, dept_id="so-tnmt", name="Sở Tài nguyên và Môi trường")
            session.flush()
            save_officer(
                session,
                department_id="so-cong-thuong",
                name="Nguyễn Văn An",
                extension="1001",
                realm=REALM,
                sip_password=PASSWORD,
            )
        yield url, factory
