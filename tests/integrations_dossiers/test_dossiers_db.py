"""The database dossier source and bulk upsert, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from db import session_factory, unit_of_work
from integrations.base import DossierStatus, Fee, ProgressEntry, SourceUnavailable, Supplement
from integrations.dossier_codes import lookup
from integrations.dossiers_db import (
    DatabaseDossierSource,
    count_dossiers,
    delete_dossiers,
    upsert_dossiers,
)
from integrations.sample_dossiers import DEMO_CODES, demo_dossiers, generate

TODAY = date(2026, 1, 5)


async def test_round_trip_of_every_field(factory: sessionmaker[Session]) -> None:
    demo = demo_dossiers(TODAY)
    rich = replace(
        demo[4],
        progress=(
            ProgressEntry(datetime(2025, 3, 3, 1, 30, tzinfo=UTC), "Một cửa", "Tiếp nhận"),
            ProgressEntry(datetime(2025, 3, 4, 2, 0, tzinfo=UTC), "Phòng QLTM", "Thẩm định"),
        ),
        fees=(Fee("Phí thẩm định", 1_000_000, paid=True), Fee("Lệ phí", 50_000)),
        result_documents=("Giấy chứng nhận", "Biên bản thẩm định"),
    )
    with unit_of_work(factory) as s:
        assert upsert_dossiers(s, [rich]) == (1, 0)
    got = await DatabaseDossierSource(factory).get(rich.code)
    assert got == rich


async def test_get_and_find_by_tail(factory: sessionmaker[Session]) -> None:
    with unit_of_work(factory) as s:
        upsert_dossiers(s, [*demo_dossiers(TODAY), *generate(300, today=TODAY)])
    source = DatabaseDossierSource(factory)
    overdue = await source.get("000.00.14.h56-250303-9011")  # normalised before the query
    assert overdue is not None and overdue.is_overdue(TODAY)
    assert await source.get("000.00.14.H56-250303-0000") is None
    assert [d.code for d in await source.find_by_tail("2503039005")] == [
        "000.00.14.H56-250303-9005"
    ]
    assert await source.find_by_tail("25030") == []
    assert await source.find_by_tail("abcdefghij") == []
    found = await lookup(source, "000*00*14*56*250303*9005#")
    assert len(found) == 1 and found[0].status is DossierStatus.SUPPLEMENT_REQUIRED
    assert len(found[0].supplements) == 2


def test_upsert_is_idempotent_and_replaces_children(factory: sessionmaker[Session]) -> None:
    sample = list(generate(1200, today=TODAY))  # more than one upsert batch
    with unit_of_work(factory) as s:
        assert upsert_dossiers(s, sample) == (1200, 0)
    with unit_of_work(factory) as s:
        assert upsert_dossiers(s, sample) == (0, 1200)
        assert count_dossiers(s) == 1200
    changed = replace(
        sample[7],
        status=DossierStatus.SUPPLEMENT_REQUIRED,
        supplements=(Supplement("Bổ sung bản vẽ", TODAY),),
    )
    with unit_of_work(factory) as s:
        assert upsert_dossiers(s, [changed]) == (0, 1)
    source = DatabaseDossierSource(factory)
    assert source.get_sync(changed.code) == changed
    with unit_of_work(factory) as s:
        assert delete_dossiers(s, [changed.code]) == 1
        assert count_dossiers(s) == 1199
    assert source.get_sync(changed.code) is None


def test_sample_data_covers_every_status_and_is_deterministic() -> None:
    first = list(generate(500, today=TODAY, seed=3))
    assert first == list(generate(500, today=TODAY, seed=3))
    assert {d.status for d in first} == set(DossierStatus)
    assert len({d.code for d in first}) == 500
    assert not set(DEMO_CODES) & {d.code for d in first}
    assert any(d.is_overdue(TODAY) for d in first)
    demo = demo_dossiers(TODAY)
    assert [d.code for d in demo] == list(DEMO_CODES)
    assert {d.status for d in demo} == set(DossierStatus)
    assert [d.code for d in demo if d.is_overdue(TODAY)] == ["000.00.14.H56-250303-9011"]


async def test_database_errors_become_source_unavailable(engine: Engine) -> None:
    factory = session_factory(engine)
    with unit_of_work(factory) as s:
        upsert_dossiers(s, demo_dossiers(TODAY)[:1])
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE dossier_progress"))
    with pytest.raises(SourceUnavailable) as info:
        await DatabaseDossierSource(factory).get(next(iter(DEMO_CODES)))
    assert info.value.reason == "database-error"
