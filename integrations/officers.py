"""Departments, officers, their credentials and working hours; the database OfficerDirectory.

Credentials are stored only in derived form: the SIP digest HA1 (``MD5(user:realm:password)``,
all a registrar needs to check a digest response) and an scrypt hash for web logins.
Opening hours are per department and weekday, with a lunch break expressed as two ranges;
public holidays come from :mod:`integrations.calendar_vn` plus the announcements stored in
``holiday_overrides``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from integrations.base import Department, OpenState
from integrations.calendar_vn import HolidayCalendar, HolidayConfig, solar_to_lunar
from integrations.catalogue_tables import DepartmentRow, HolidayOverrideRow, OfficerRow

_log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NEXT_OPENING_HORIZON_DAYS = 31
"""How far ahead :meth:`DbOfficerDirectory.next_open` looks (Tết breaks last about 9 days)."""
CALENDAR_TTL_S = 300.0
"""How long the directory reuses the holiday calendar before re-reading the overrides."""
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_RANGE_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_EXTENSION_RE = re.compile(r"^[0-9A-Za-z_.+-]{1,32}$")


class DirectoryError(ValueError):
    """Bad directory input: malformed hours, a naive datetime, an unknown department."""


# --- credentials --------------------------------------------------------------------------------


def sip_ha1(username: str, realm: str, password: str) -> str:
    """The digest-authentication HA1 of RFC 2617/3261: hex MD5 of ``user:realm:password``."""
    # MD5 is what SIP digest (RFC 2617/3261) defines; it is not used as a password hash here.
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def sip_ha1_sha256(username: str, realm: str, password: str) -> str:
    """The SHA-256 digest HA1 of RFC 7616/8760: hex SHA-256 of ``user:realm:password``."""
    return hashlib.sha256(f"{username}:{realm}:{password}".encode()).hexdigest()


def hash_web_password(password: str) -> str:
    """An scrypt hash with a random salt: ``scrypt$n$r$p$salt$hash`` (base64 parts)."""
    if not password:
        raise DirectoryError("an empty password cannot be set")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_web_password(password: str, stored: str) -> bool:
    """True when `password` matches a hash from :func:`hash_web_password`; False on any garbage."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


# --- working hours ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingHours:
    """Opening ranges per weekday (0 = Monday); a day without ranges is closed."""

    ranges: tuple[tuple[tuple[dtime, dtime], ...], ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> WorkingHours:
        """From ``{"mon": ["07:30-11:30", "13:30-17:00"], ...}``; DirectoryError when malformed."""
        if not isinstance(data, Mapping):
            raise DirectoryError("working hours must map weekday names to lists of ranges")
        unknown = set(data) - set(WEEKDAYS)
        if unknown:
            raise DirectoryError(f"unknown weekday names: {', '.join(sorted(map(str, unknown)))}")
        days: list[tuple[tuple[dtime, dtime], ...]] = []
        for name in WEEKDAYS:
            raw = data.get(name, [])
            if not isinstance(raw, list):
                raise DirectoryError(f"{name}: expected a list of 'HH:MM-HH:MM' ranges")
            parsed = sorted(_parse_range(name, item) for item in raw)
            for (_, end), (start, _) in itertools.pairwise(parsed):
                if start < end:
                    raise DirectoryError(f"{name}: ranges overlap")
            days.append(tuple(parsed))
        return cls(tuple(days))

    def to_dict(self) -> dict[str, list[str]]:
        """The form :meth:`parse` reads."""
        return {
            WEEKDAYS[i]: [f"{a:%H:%M}-{b:%H:%M}" for a, b in day]
            for i, day in enumerate(self.ranges)
            if day
        }

    def is_open(self, weekday: int, at: dtime) -> bool:
        """True when `at` falls in one of the weekday's ranges (start included, end excluded)."""
        return any(start <= at < end for start, end in self.ranges[weekday])


def _parse_range(day: str, item: object) -> tuple[dtime, dtime]:
    match = _RANGE_RE.match(item.strip()) if isinstance(item, str) else None
    if match is None:
        raise DirectoryError(f"{day}: {item!r} is not a 'HH:MM-HH:MM' range")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = dtime(h1, m1), dtime(h2, m2)
    except ValueError as exc:
        raise DirectoryError(f"{day}: {item!r}: {exc}") from exc
    if not start < end:
        raise DirectoryError(f"{day}: {item!r} ends before it starts")
    return start, end


# --- holidays from the database -----------------------------------------------------------------


def holiday_config(session: Session, base: HolidayConfig | None = None) -> HolidayConfig:
    """`base` plus the announcements stored in ``holiday_overrides``."""
    base = base or HolidayConfig()
    tet: dict[int, list[date]] = {year: list(days) for year, days in base.tet_announced.items()}
    extra = dict(base.extra_holidays)
    work = set(base.working_days)
    stored_tet: dict[int, list[date]] = {}
    for row in session.scalars(select(HolidayOverrideRow).order_by(HolidayOverrideRow.day)):
        if row.kind == "tet":
            lunar = solar_to_lunar(row.day)
            # Days before the 1st belong to the coming lunar year's Tết.
            year = lunar.year + 1 if lunar.month == 12 else lunar.year
            stored_tet.setdefault(year, []).append(row.day)
        elif row.kind == "off":
            extra[row.day] = row.name or "Nghỉ theo thông báo"
        elif row.kind == "work":
            work.add(row.day)
    tet.update(stored_tet)
    return HolidayConfig(
        tet_announced={y: tuple(sorted(d)) for y, d in tet.items()},
        extra_holidays=extra,
        working_days=frozenset(work),
        tet_days_before=base.tet_days_before,
        tet_days_after=base.tet_days_after,
    )


def set_holiday_override(session: Session, *, day: date, kind: str, name: str = "") -> None:
    """Record one announced day: ``tet``, ``off`` (extra day off) or ``work`` (make-up day)."""
    if kind not in ("tet", "off", "work"):
        raise DirectoryError(f"holiday override kind must be tet, off or work, not {kind!r}")
    row = session.get(HolidayOverrideRow, day)
    if row is None:
        session.add(HolidayOverrideRow(day=day, kind=kind, name=name))
    else:
        row.kind, row.name = kind, name


def remove_holiday_override(session: Session, *, day: date) -> bool:
    """Forget an announced day; False when none was stored."""
    row = session.get(HolidayOverrideRow, day)
    if row is None:
        return False
    session.delete(row)
    session.flush()  # later lookups in this session must not see the row
    return True


# --- departments and officers -------------------------------------------------------------------


def save_department(
    session: Session,
    *,
    dept_id: str,
    name: str,
    short_name: str = "",
    phone: str = "",
    transfer_uri: str = "",
    hours: Mapping[str, Any] | None = None,
    position: int = 0,
) -> DepartmentRow:
    """Create or update a department; hours are validated before anything is written."""
    if not dept_id.strip() or len(dept_id) > 64 or not name.strip():
        raise DirectoryError("a department needs an id (at most 64 characters) and a name")
    if transfer_uri and not transfer_uri.startswith(("sip:", "sips:")):
        raise DirectoryError(f"transfer URI must be a sip: or sips: URI, not {transfer_uri!r}")
    checked = WorkingHours.parse(hours or {}).to_dict()
    row = session.get(DepartmentRow, dept_id)
    if row is None:
        row = DepartmentRow(id=dept_id)
        session.add(row)
    row.name, row.short_name, row.phone = name, short_name, phone
    row.transfer_uri, row.hours, row.position = transfer_uri, checked, position
    return row


def save_officer(
    session: Session,
    *,
    department_id: str,
    name: str,
    extension: str,
    sip_uri: str = "",
    realm: str = "tongdai",
    sip_password: str | None = None,
    web_login: str | None = None,
    web_password: str | None = None,
    active: bool = True,
    position: int = 0,
) -> OfficerRow:
    """Create or update the officer with this extension; passwords are stored only hashed.

    A password left as None keeps the stored credential.
    """
    if not _EXTENSION_RE.match(extension):
        raise DirectoryError(f"extension {extension!r} must be 1-32 letters, digits or _.+-")
    if session.get(DepartmentRow, department_id) is None:
        raise DirectoryError(f"unknown department {department_id!r}")
    if sip_uri and not sip_uri.startswith(("sip:", "sips:")):
        raise DirectoryError(f"officer URI must be a sip: or sips: URI, not {sip_uri!r}")
    row = session.scalars(select(OfficerRow).where(OfficerRow.extension == extension)).first()
    if row is None:
        row = OfficerRow(extension=extension)
        session.add(row)
    row.department_id, row.name, row.sip_uri = department_id, name, sip_uri
    row.sip_realm, row.web_login, row.active, row.position = realm, web_login, active, position
    if sip_password is not None:
        if not sip_password:
            raise DirectoryError("an empty SIP password cannot be set")
        row.sip_ha1 = sip_ha1(extension, realm, sip_password)
        row.sip_ha1_sha256 = sip_ha1_sha256(extension, realm, sip_password)
    if web_password is not None:
        row.web_password_hash = hash_web_password(web_password)
    return row


@dataclass(frozen=True)
class OfficerInfo:
    """An officer as the admin and console pages show them (no credentials)."""

    extension: str
    name: str
    department_id: str
    sip_uri: str
    web_login: str | None
    active: bool
    has_sip_password: bool
    has_web_password: bool


def officers_of(session: Session, *, department_id: str | None = None) -> list[OfficerInfo]:
    """Officers of one department (or all), in department then listing order."""
    stmt = select(OfficerRow).order_by(
        OfficerRow.department_id, OfficerRow.position, OfficerRow.extension
    )
    if department_id is not None:
        stmt = stmt.where(OfficerRow.department_id == department_id)
    return [
        OfficerInfo(
            extension=row.extension,
            name=row.name,
            department_id=row.department_id,
            sip_uri=row.sip_uri,
            web_login=row.web_login,
            active=row.active,
            has_sip_password=bool(row.sip_ha1),
            has_web_password=bool(row.web_password_hash),
        )
        for row in session.scalars(stmt)
    ]


def check_web_login(session: Session, *, login: str, password: str) -> OfficerRow | None:
    """The active officer with this login and password, or None (same answer for any failure)."""
    row = session.scalars(select(OfficerRow).where(OfficerRow.web_login == login)).first()
    if row is None or not row.active or not row.web_password_hash:
        # Spend the same time as a real check, so logins cannot be probed by timing.
        verify_web_password(password, _DUMMY_HASH)
        return None
    return row if verify_web_password(password, row.web_password_hash) else None


def sip_credentials(session: Session, *, extension: str) -> tuple[str, str] | None:
    """(realm, HA1) of an active officer's extension, for a SIP registrar; None when unknown."""
    row = session.scalars(select(OfficerRow).where(OfficerRow.extension == extension)).first()
    if row is None or not row.active or not row.sip_ha1:
        return None
    return row.sip_realm, row.sip_ha1


@dataclass(frozen=True)
class SipSecrets:
    """What a registrar checks a digest against: the realm and the HA1 per algorithm."""

    extension: str
    department_id: str
    realm: str
    ha1_md5: str
    ha1_sha256: str


def sip_secrets(session: Session, *, extension: str) -> SipSecrets | None:
    """The digest secrets of an active officer's extension; None when unknown or without one."""
    row = session.scalars(select(OfficerRow).where(OfficerRow.extension == extension)).first()
    if row is None or not row.active or not (row.sip_ha1 or row.sip_ha1_sha256):
        return None
    return SipSecrets(
        extension=row.extension,
        department_id=row.department_id,
        realm=row.sip_realm,
        ha1_md5=row.sip_ha1,
        ha1_sha256=row.sip_ha1_sha256,
    )


def remove_officer(session: Session, *, extension: str) -> bool:
    """Delete the officer with this extension (their registrations go with them); False if none."""
    row = session.scalars(select(OfficerRow).where(OfficerRow.extension == extension)).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# A well-formed hash no password matches, checked when the login is unknown.
_DUMMY_HASH = "$".join(
    [
        "scrypt",
        str(SCRYPT_N),
        str(SCRYPT_R),
        str(SCRYPT_P),
        base64.b64encode(bytes(16)).decode(),
        base64.b64encode(bytes(64)).decode(),
    ]
)


def _to_department(row: DepartmentRow) -> Department:
    return Department(id=row.id, name=row.name, short_name=row.short_name, phone=row.phone)


class DbOfficerDirectory:
    """:class:`integrations.base.OfficerDirectory` over the database tables.

    `calendar`: a fixed holiday calendar; by default one is built from the stored overrides
    (on top of `holiday_base`) and re-read every :data:`CALENDAR_TTL_S` seconds.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        timezone: str = "Asia/Ho_Chi_Minh",
        calendar: HolidayCalendar | None = None,
        holiday_base: HolidayConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self._tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise DirectoryError(f"unknown time zone {timezone!r}") from exc
        self._factory = factory
        self._fixed_calendar = calendar
        self._holiday_base = holiday_base
        self._clock = clock
        self._cached: tuple[float, HolidayCalendar] | None = None

    def calendar(self) -> HolidayCalendar:
        """The holiday calendar in force (blocking: reads the overrides when stale)."""
        if self._fixed_calendar is not None:
            return self._fixed_calendar
        now = self._clock()
        if self._cached is None or now - self._cached[0] > CALENDAR_TTL_S:
            with self._factory() as session:
                config = holiday_config(session, self._holiday_base)
            self._cached = (now, HolidayCalendar(config))
        return self._cached[1]

    def _department(self, dept_id: str) -> Department | None:
        with self._factory() as session:
            row = session.get(DepartmentRow, dept_id)
            return _to_department(row) if row is not None else None

    def _departments(self) -> list[Department]:
        with self._factory() as session:
            stmt = select(DepartmentRow).order_by(DepartmentRow.position, DepartmentRow.id)
            return [_to_department(row) for row in session.scalars(stmt)]

    def _transfer_target(self, dept_id: str) -> str | None:
        with self._factory() as session:
            stmt = (
                select(DepartmentRow)
                .options(selectinload(DepartmentRow.officers))
                .where(DepartmentRow.id == dept_id)
            )
            row = session.scalars(stmt).first()
            if row is None:
                return None
            if row.transfer_uri:
                return row.transfer_uri
            for officer in row.officers:
                if officer.active and officer.sip_uri:
                    return officer.sip_uri
            return None

    def _hours(self, dept_id: str) -> WorkingHours | None:
        with self._factory() as session:
            row = session.get(DepartmentRow, dept_id)
            if row is None:
                _log.warning("opening hours asked for unknown department %r", dept_id)
                return None
            return WorkingHours.parse(row.hours)

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise DirectoryError("opening hours need a timezone-aware datetime")
        return at.astimezone(self._tz)

    @staticmethod
    def _ranges_on(
        calendar: HolidayCalendar, hours: WorkingHours, day: date
    ) -> tuple[tuple[dtime, dtime], ...] | None:
        """The day's opening ranges; None on a public holiday."""
        make_up_day = day in calendar.config.working_days
        if calendar.holiday_name(day) is not None and not make_up_day:
            return None
        # Weekends follow the department's own hours: a commune office may open Saturday morning.
        ranges = hours.ranges[day.weekday()]
        if not ranges and make_up_day:
            ranges = hours.ranges[0]  # a make-up working day keeps ordinary (Monday) hours
        return ranges

    def open_state(self, dept_id: str, at: datetime) -> OpenState:
        """Blocking form of :meth:`is_open`."""
        local = self._local(at)
        hours = self._hours(dept_id)
        if hours is None:
            # A menu naming a department that is not configured: callers hear "closed" and are
            # offered a callback rather than a failed transfer.
            return OpenState.CLOSED
        ranges = self._ranges_on(self.calendar(), hours, local.date())
        if ranges is None:
            return OpenState.HOLIDAY
        now = local.time()
        return OpenState.OPEN if any(a <= now < b for a, b in ranges) else OpenState.CLOSED

    def next_opening(self, dept_id: str, at: datetime) -> datetime | None:
        """Blocking form of :meth:`next_open`."""
        local = self._local(at)
        hours = self._hours(dept_id)
        if hours is None:
            return None
        calendar = self.calendar()
        for offset in range(NEXT_OPENING_HORIZON_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            for start, end in self._ranges_on(calendar, hours, day) or ():
                opening = datetime.combine(day, start, self._tz)
                if opening > local:
                    return opening
                if offset == 0 and local.time() < end:
                    return local  # open right now
        return None

    async def department(self, dept_id: str) -> Department | None:
        """One department, or None."""
        return await asyncio.to_thread(self._department, dept_id)

    async def departments(self) -> list[Department]:
        """Every department, in menu order."""
        return await asyncio.to_thread(self._departments)

    async def transfer_target(self, dept_id: str) -> str | None:
        """The department's queue URI, else its first active officer's URI, else None."""
        return await asyncio.to_thread(self._transfer_target, dept_id)

    async def next_open(self, dept_id: str, at: datetime) -> datetime | None:
        """When the department next answers, in local time: `at` itself while it is open.

        None for an unknown department or one without hours in the next
        :data:`NEXT_OPENING_HORIZON_DAYS` days. Callers hear it as "giờ làm việc tiếp theo".
        """
        return await asyncio.to_thread(self.next_opening, dept_id, at)

    async def is_open(self, dept_id: str, at: datetime) -> OpenState:
        """OPEN within working hours, HOLIDAY on a public holiday, CLOSED otherwise.

        An unknown department is CLOSED; a naive datetime raises DirectoryError.
        """
        return await asyncio.to_thread(self.open_state, dept_id, at)
