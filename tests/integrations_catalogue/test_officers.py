"""Departments, officers, credentials, working hours and the database OfficerDirectory."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import OpenState
from integrations.catalogue_tables import HolidayOverrideRow, OfficerRow, ProcedureRow
from integrations.officers import (
    DbOfficerDirectory,
    DirectoryError,
    WorkingHours,
    check_web_login,
    hash_web_password,
    officers_of,
    remove_holiday_override,
    save_officer,
    set_holiday_override,
    sip_credentials,
    sip_ha1,
    verify_web_password,
)
from integrations.sample_catalogue import SampleDataError, load_sample

ICT = timezone(timedelta(hours=7))


def test_sip_ha1_matches_rfc_2617() -> None:
    assert sip_ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == (
        "939e7578ed9e3c518a452acee763bce9"
    )


def test_web_password_hash() -> None:
    stored = hash_web_password("mật khẩu")
    assert stored.startswith("scrypt$") and "mật khẩu" not in stored
    assert verify_web_password("mật khẩu", stored)
    assert not verify_web_password("mat khau", stored)
    assert hash_web_password("mật khẩu") != stored  # salted
    for garbage in ["", "scrypt$1$2", "bcrypt$x$y$z$a$b", "scrypt$x$8$1$AA==$AA==", stored + "!"]:
        assert not verify_web_password("mật khẩu", garbage)
    with pytest.raises(DirectoryError):
        hash_web_password("")


def test_working_hours_round_trip() -> None:
    data = {"mon": ["07:30-11:30", "13:30-17:00"], "sat": ["7:30 - 11:30"]}
    hours = WorkingHours.parse(data)
    assert hours.to_dict() == {"mon": ["07:30-11:30", "13:30-17:00"], "sat": ["07:30-11:30"]}
    assert hours.is_open(0, datetime(2025, 1, 1, 7, 30).time())
    assert not hours.is_open(0, datetime(2025, 1, 1, 12, 0).time())
    assert not hours.is_open(0, datetime(2025, 1, 1, 17, 0).time())
    assert not hours.is_open(1, datetime(2025, 1, 1, 9, 0).time())


@pytest.mark.parametrize(
    "data",
    [
        {"monday": ["07:30-11:30"]},
        {"mon": "07:30-11:30"},
        {"mon": ["7h30-11h30"]},
        {"mon": ["11:30-07:30"]},
        {"mon": ["25:00-26:00"]},
        {"mon": ["07:00-12:00", "11:00-17:00"]},
        {"mon": [730]},
    ],
)
def test_bad_working_hours_raise(data: dict[str, object]) -> None:
    with pytest.raises(DirectoryError):
        WorkingHours.parse(data)


@pytest.fixture
def directory(sessions: sessionmaker[Session]) -> DbOfficerDirectory:
    report = load_sample(sessions, demo_password="demo-123")
    assert (report.departments, report.officers) == (4, 7)
    assert report.procedures.inserted == 17
    assert report.holiday_overrides == 5
    return DbOfficerDirectory(sessions)


async def test_departments_and_transfer_targets(directory: DbOfficerDirectory) -> None:
    assert [d.id for d in await directory.departments()] == [
        "tong-dai",
        "so-cong-thuong",
        "so-tn-mt",
        "ubnd-xa",
    ]
    tnmt = await directory.department("so-tn-mt")
    assert tnmt is not None and tnmt.short_name == "Sở TN-MT"
    assert await directory.department("nowhere") is None
    assert await directory.transfer_target("so-tn-mt") == "sip:tnmt-queue@127.0.0.1:5080"
    assert await directory.transfer_target("so-cong-thuong") == "sip:2101@127.0.0.1:5080"
    assert await directory.transfer_target("nowhere") is None


async def test_inactive_officer_is_skipped(
    directory: DbOfficerDirectory, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():
        save_officer(
            session,
            department_id="so-cong-thuong",
            name="Nguyễn Thị Thu Hà",
            extension="2101",
            sip_uri="sip:2101@127.0.0.1:5080",
            active=False,
        )
    assert await directory.transfer_target("so-cong-thuong") == "sip:2102@127.0.0.1:5080"


OPEN_STATES = [
    ("so-cong-thuong", datetime(2025, 3, 10, 9, 0, tzinfo=ICT), OpenState.OPEN),
    ("so-cong-thuong", datetime(2025, 3, 10, 2, 0, tzinfo=UTC), OpenState.OPEN),  # 09:00 ICT
    ("so-cong-thuong", datetime(2025, 3, 10, 12, 0, tzinfo=ICT), OpenState.CLOSED),  # lunch
    ("so-cong-thuong", datetime(2025, 3, 10, 17, 0, tzinfo=ICT), OpenState.CLOSED),
    ("so-cong-thuong", datetime(2025, 3, 10, 7, 29, tzinfo=ICT), OpenState.CLOSED),
    ("so-cong-thuong", datetime(2025, 3, 15, 9, 0, tzinfo=ICT), OpenState.CLOSED),  # Sat
    ("ubnd-xa", datetime(2025, 3, 15, 9, 0, tzinfo=ICT), OpenState.OPEN),  # commune Sat
    ("ubnd-xa", datetime(2025, 3, 15, 14, 0, tzinfo=ICT), OpenState.CLOSED),
    ("so-tn-mt", datetime(2026, 2, 17, 9, 0, tzinfo=ICT), OpenState.HOLIDAY),  # Tết 2026
    ("ubnd-xa", datetime(2025, 9, 2, 9, 0, tzinfo=ICT), OpenState.HOLIDAY),  # Quốc khánh
    # 27/1/2025 is a Tết day only because holidays.json announces it.
    ("so-tn-mt", datetime(2025, 1, 27, 9, 0, tzinfo=ICT), OpenState.HOLIDAY),
    ("nowhere", datetime(2025, 3, 10, 9, 0, tzinfo=ICT), OpenState.CLOSED),
]


async def test_is_open(directory: DbOfficerDirectory) -> None:
    # One database for the whole table: loading the sample per row would dominate the run.
    for dept, at, state in OPEN_STATES:
        assert await directory.is_open(dept, at) == state, (dept, at)


NEXT_OPEN = [
    # (department, asked at, next opening)
    ("so-cong-thuong", datetime(2025, 3, 10, 9, 0, tzinfo=ICT), datetime(2025, 3, 10, 9, 0)),
    ("so-cong-thuong", datetime(2025, 3, 10, 12, 0, tzinfo=ICT), datetime(2025, 3, 10, 13, 30)),
    ("so-cong-thuong", datetime(2025, 3, 14, 17, 30, tzinfo=ICT), datetime(2025, 3, 17, 7, 30)),
    ("so-cong-thuong", datetime(2025, 3, 10, 10, 0, tzinfo=UTC), datetime(2025, 3, 11, 7, 30)),
    ("ubnd-xa", datetime(2025, 3, 14, 17, 30, tzinfo=ICT), datetime(2025, 3, 15, 7, 30)),
    # Friday before Tết 2026: closed until Monday 23/2.
    ("so-tn-mt", datetime(2026, 2, 13, 17, 30, tzinfo=ICT), datetime(2026, 2, 23, 7, 30)),
    ("so-tn-mt", datetime(2026, 2, 17, 9, 0, tzinfo=ICT), datetime(2026, 2, 23, 7, 30)),
]


async def test_next_open(directory: DbOfficerDirectory) -> None:
    for dept, at, expected in NEXT_OPEN:
        opening = await directory.next_open(dept, at)
        assert opening is not None and opening.tzinfo is not None, (dept, at)
        assert opening.replace(tzinfo=None) == expected, (dept, at)
        assert opening.utcoffset() == timedelta(hours=7)
    assert await directory.next_open("nowhere", NEXT_OPEN[0][1]) is None
    with pytest.raises(DirectoryError):
        await directory.next_open("so-tn-mt", datetime(2025, 3, 10, 9, 0))


async def test_naive_datetime_is_refused(directory: DbOfficerDirectory) -> None:
    with pytest.raises(DirectoryError):
        await directory.is_open("so-tn-mt", datetime(2025, 3, 10, 9, 0))


async def test_stored_make_up_day_is_seen_after_the_cache_expires(
    sessions: sessionmaker[Session],
) -> None:
    load_sample(sessions)
    now = [0.0]
    directory = DbOfficerDirectory(sessions, clock=lambda: now[0])
    saturday = datetime(2025, 4, 26, 9, 0, tzinfo=ICT)
    assert await directory.is_open("so-cong-thuong", saturday) == OpenState.CLOSED
    with sessions() as session, session.begin():
        set_holiday_override(session, day=date(2025, 4, 26), kind="work", name="Làm bù")
    assert await directory.is_open("so-cong-thuong", saturday) == OpenState.CLOSED  # cached
    now[0] = 301.0
    assert await directory.is_open("so-cong-thuong", saturday) == OpenState.OPEN
    with sessions() as session, pytest.raises(DirectoryError):
        set_holiday_override(session, day=date(2025, 4, 26), kind="maybe")


def test_credentials_are_stored_hashed(
    directory: DbOfficerDirectory, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        officer = session.scalars(select(OfficerRow).where(OfficerRow.extension == "2201")).one()
        assert "demo-123" not in (officer.sip_ha1 + officer.web_password_hash)
        assert sip_credentials(session, extension="2201") == (
            "tongdai",
            sip_ha1("2201", "tongdai", "demo-123"),
        )
        assert sip_credentials(session, extension="9999") is None
        found = check_web_login(session, login="phuc.le", password="demo-123")
        assert found is not None and found.extension == "2201"
        assert check_web_login(session, login="phuc.le", password="wrong") is None
        assert check_web_login(session, login="nobody", password="demo-123") is None


def test_bad_officer_input(directory: DbOfficerDirectory, sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(DirectoryError, match="unknown department"):
            save_officer(session, department_id="nowhere", name="X", extension="1")
        with pytest.raises(DirectoryError, match="extension"):
            save_officer(session, department_id="so-tn-mt", name="X", extension="12 34")
        with pytest.raises(DirectoryError, match="sip"):
            save_officer(
                session, department_id="so-tn-mt", name="X", extension="1", sip_uri="tel:1"
            )


def test_sample_load_is_idempotent(sessions: sessionmaker[Session]) -> None:
    load_sample(sessions, demo_password="a")
    again = load_sample(sessions, demo_password="a")
    assert again.procedures.unchanged == 17 and again.procedures.inserted == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OfficerRow)) == 7
        assert session.scalar(select(func.count()).select_from(HolidayOverrideRow)) == 5


@pytest.mark.parametrize(
    ("departments", "message"),
    [
        ("[{]", "cannot read"),
        ('{"id": "x"}', "must be a list"),
        ('[{"name": "Sở"}]', "missing or malformed"),
        ('[{"id": "x", "name": "Sở", "hours": {"mon": ["8-17"]}}]', "HH:MM"),
        (
            '[{"id": "x", "name": "Sở", "officers": [{"name": "A", "extension": "1 2"}]}]',
            "extension",
        ),
    ],
)
def test_bad_sample_files_raise_a_typed_error(
    sessions: sessionmaker[Session], tmp_path: Path, departments: str, message: str
) -> None:
    (tmp_path / "procedures.json").write_text('[{"code": "P", "name": "T"}]', encoding="utf-8")
    (tmp_path / "holidays.json").write_text("{}", encoding="utf-8")
    (tmp_path / "departments.json").write_text(departments, encoding="utf-8")
    with pytest.raises(SampleDataError, match=message):
        load_sample(sessions, sample_dir=tmp_path)
    with sessions() as session:  # nothing half-written
        assert session.scalar(select(func.count()).select_from(OfficerRow)) == 0
        assert session.scalar(select(func.count()).select_from(ProcedureRow)) == 0


def test_officer_listing_and_override_removal(
    directory: DbOfficerDirectory, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():
        tnmt = officers_of(session, department_id="so-tn-mt")
        assert [o.extension for o in tnmt] == ["2201", "2202"]
        assert tnmt[0].has_sip_password and tnmt[0].has_web_password and tnmt[0].active
        assert "sip_ha1" not in tnmt[0].__dataclass_fields__
        assert len(officers_of(session)) == 7
        assert remove_holiday_override(session, day=date(2025, 1, 27))
        assert not remove_holiday_override(session, day=date(2025, 1, 27))
        assert session.get(HolidayOverrideRow, date(2025, 1, 27)) is None
