"""Demo data for ``make run``: a procedure catalogue, departments with officers, holiday notices.

The files live in ``config/sample/``:

- ``procedures.json``: 17 procedures of Sở Công thương, Sở TN-MT and a commune office (UBND xã),
  in the format of :mod:`integrations.procedure_import`. Codes follow the national database's
  shape but are illustrative; fees and time limits are typical, not authoritative.
- ``departments.json``: the hotline's own operators (``tong-dai``) and the three departments,
  with working hours and officers (extension, SIP URI, web login); ids match the default menu
  tree (``config/menus/hotline.yaml``). The file holds no secrets: pass ``demo_password`` to
  give every officer that SIP and web password (stored hashed), or leave it None to create
  officers without credentials.
- ``holidays.json``: announcements as read by :meth:`HolidayConfig.from_dict`, stored as
  ``holiday_overrides`` rows.

Loading is idempotent: running it twice leaves the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from integrations.calendar_vn import HolidayConfig
from integrations.officers import (
    DirectoryError,
    save_department,
    save_officer,
    set_holiday_override,
)
from integrations.procedure_import import ImportReport, read_file, save_procedures

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "config" / "sample"


class SampleDataError(ValueError):
    """A sample file is missing or malformed."""


@dataclass(frozen=True)
class SampleReport:
    """What loading the sample data did."""

    procedures: ImportReport
    departments: int
    officers: int
    holiday_overrides: int


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SampleDataError(f"cannot read {path}: {exc}") from exc


def load_departments(session: Session, data: Any, *, demo_password: str | None) -> tuple[int, int]:
    """Upsert departments and their officers from the ``departments.json`` structure."""
    if not isinstance(data, list):
        raise SampleDataError("departments.json must be a list of departments")
    departments = officers = 0
    try:
        for position, dept in enumerate(data):
            save_department(
                session,
                dept_id=dept["id"],
                name=dept["name"],
                short_name=dept.get("short_name", ""),
                phone=dept.get("phone", ""),
                transfer_uri=dept.get("transfer_uri", ""),
                hours=dept.get("hours", {}),
                position=position,
            )
            session.flush()
            departments += 1
            for officer_position, officer in enumerate(dept.get("officers", [])):
                save_officer(
                    session,
                    department_id=dept["id"],
                    name=officer["name"],
                    extension=officer["extension"],
                    sip_uri=officer.get("sip_uri", ""),
                    sip_password=demo_password,
                    web_login=officer.get("web_login"),
                    web_password=demo_password,
                    position=officer_position,
                )
                officers += 1
    except (KeyError, TypeError, AttributeError) as exc:
        raise SampleDataError(f"departments.json: missing or malformed field {exc}") from exc
    except DirectoryError as exc:
        raise SampleDataError(f"departments.json: {exc}") from exc
    return departments, officers


def load_holidays(session: Session, data: Any) -> int:
    """Store the announcements of ``holidays.json`` as holiday overrides; returns rows written."""
    if not isinstance(data, dict):
        raise SampleDataError("holidays.json must be an object")
    config = HolidayConfig.from_dict(data)
    count = 0
    for days in config.tet_announced.values():
        for day in days:
            set_holiday_override(session, day=day, kind="tet", name="Tết Nguyên đán")
            count += 1
    for day, name in config.extra_holidays.items():
        set_holiday_override(session, day=day, kind="off", name=name)
        count += 1
    for day in config.working_days:
        set_holiday_override(session, day=day, kind="work", name="Làm bù")
        count += 1
    return count


def load_sample(
    factory: sessionmaker[Session],
    *,
    sample_dir: Path = SAMPLE_DIR,
    demo_password: str | None = None,
) -> SampleReport:
    """Load every sample file (catalogue, departments and officers, holiday notices).

    One transaction: a malformed file leaves the database as it was.
    """
    parsed = read_file(sample_dir / "procedures.json")
    departments_data = _read_json(sample_dir / "departments.json")
    holidays_data = _read_json(sample_dir / "holidays.json")
    with factory() as session, session.begin():
        procedures = save_procedures(session, parsed)
        departments, officers = load_departments(
            session, departments_data, demo_password=demo_password
        )
        overrides = load_holidays(session, holidays_data)
    return SampleReport(procedures, departments, officers, overrides)
