"""Vietnamese public holidays and working-day arithmetic for public offices.

Holidays follow the Labour Code 2019 (art. 112) and Decree 145/2020/NĐ-CP:

- Tết Dương lịch: 1 January.
- Tết Nguyên đán: 5 days around the lunar new year. The government announces the exact span each
  year; without an announcement the last day of the lunar year plus the 1st–4th of the new year
  are taken. An announced span (:attr:`HolidayConfig.tet_announced`) replaces the computed one.
- Giỗ Tổ Hùng Vương: 10th day of the 3rd lunar month.
- Ngày Chiến thắng (30/4) and Quốc tế Lao động (1/5).
- Quốc khánh: 2/9 plus one adjacent day (1/9 or 3/9, chosen to join a weekend).

A holiday falling on a weekend is compensated on the next working day (Labour Code art. 111(3)).
Extra days off and make-up working days (often Saturdays) are configured per year.

Lunar dates use Hồ Ngọc Đức's astronomical algorithm (new moons and solar terms from Jean Meeus'
"Astronomical Algorithms") evaluated in the Vietnamese time zone, UTC+7, which is what makes
Vietnamese Tết differ from the Chinese new year in some years (e.g. 1985, 2007).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

VN_TIMEZONE_HOURS = 7.0
"""Hours east of UTC used for lunar computations (Vietnam, UTC+7)."""

_JD_1900 = 2415021.076998695  # Julian day of the new moon of 1900-01-01 (k = 0)
_SYNODIC_MONTH_DAYS = 29.530588853
_WEEKEND = (5, 6)  # Saturday, Sunday


class CalendarError(ValueError):
    """A date or lunar date that cannot be converted, or a bad calendar configuration."""


# --- lunar calendar -------------------------------------------------------------------------


@dataclass(frozen=True)
class LunarDate:
    """A date of the Vietnamese lunar calendar (âm lịch)."""

    day: int
    month: int
    year: int
    leap: bool = False


def _jd_from_date(d: date) -> int:
    """Julian day number of a Gregorian date."""
    a = (14 - d.month) // 12
    y = d.year + 4800 - a
    m = d.month + 12 * a - 3
    return d.day + (153 * m + 2) // 5 + 365 * y + y // 4 - y // 100 + y // 400 - 32045


def _date_from_jd(jd: int) -> date:
    """Gregorian date of a Julian day number."""
    return date.fromordinal(jd - 1721425)


def _new_moon(k: int) -> float:
    """Julian day (UTC, fractional) of the k-th new moon after 1900-01-01 (Meeus, ch. 47)."""
    t = k / 1236.85
    t2 = t * t
    t3 = t2 * t
    dr = math.pi / 180
    jd1 = 2415020.75933 + 29.53058868 * k + 0.0001178 * t2 - 0.000000155 * t3
    jd1 += 0.00033 * math.sin((166.56 + 132.87 * t - 0.009173 * t2) * dr)
    m = 359.2242 + 29.10535608 * k - 0.0000333 * t2 - 0.00000347 * t3  # sun's mean anomaly
    mpr = 306.0253 + 385.81691806 * k + 0.0107306 * t2 + 0.00001236 * t3  # moon's mean anomaly
    f = 21.2964 + 390.67050646 * k - 0.0016528 * t2 - 0.00000239 * t3  # moon's argument of lat.
    c1 = (0.1734 - 0.000393 * t) * math.sin(m * dr) + 0.0021 * math.sin(2 * dr * m)
    c1 -= 0.4068 * math.sin(mpr * dr) - 0.0161 * math.sin(dr * 2 * mpr)
    c1 -= 0.0004 * math.sin(dr * 3 * mpr)
    c1 += 0.0104 * math.sin(dr * 2 * f) - 0.0051 * math.sin(dr * (m + mpr))
    c1 -= 0.0074 * math.sin(dr * (m - mpr)) - 0.0004 * math.sin(dr * (2 * f + m))
    c1 -= 0.0004 * math.sin(dr * (2 * f - m)) + 0.0006 * math.sin(dr * (2 * f + mpr))
    c1 += 0.0010 * math.sin(dr * (2 * f - mpr)) + 0.0005 * math.sin(dr * (2 * mpr + m))
    if t < -11:
        deltat = 0.001 + 0.000839 * t + 0.0002261 * t2 - 0.00000845 * t3 - 0.000000081 * t * t3
    else:
        deltat = -0.000278 + 0.000265 * t + 0.000262 * t2
    return jd1 + c1 - deltat


def _sun_longitude(jdn: float) -> float:
    """Sun's apparent longitude in radians, 0..2π, at a Julian day (UTC)."""
    t = (jdn - 2451545.0) / 36525
    t2 = t * t
    dr = math.pi / 180
    m = 357.52910 + 35999.05030 * t - 0.0001559 * t2 - 0.00000048 * t * t2
    l0 = 280.46645 + 36000.76983 * t + 0.0003032 * t2
    dl = (1.914600 - 0.004817 * t - 0.000014 * t2) * math.sin(dr * m)
    dl += (0.019993 - 0.000101 * t) * math.sin(dr * 2 * m) + 0.000290 * math.sin(dr * 3 * m)
    lon = (l0 + dl) * dr
    return lon - 2 * math.pi * math.floor(lon / (2 * math.pi))


def _sun_sector(day_number: int, tz: float) -> int:
    """Which of the 12 solar-term sectors (0..11) the sun is in at local midnight starting a day."""
    return math.floor(_sun_longitude(day_number - 0.5 - tz / 24) / math.pi * 6)


def _new_moon_day(k: int, tz: float) -> int:
    """Julian day number (local) on which the k-th new moon falls."""
    return math.floor(_new_moon(k) + 0.5 + tz / 24)


def _lunar_month_11(year: int, tz: float) -> int:
    """Julian day on which lunar month 11 (holding the winter solstice) of `year` starts."""
    off = _jd_from_date(date(year, 12, 31)) - 2415021
    k = math.floor(off / _SYNODIC_MONTH_DAYS)
    nm = _new_moon_day(k, tz)
    if _sun_sector(nm, tz) >= 9:  # the solstice has not come yet by this new moon's day
        nm = _new_moon_day(k - 1, tz)
    return nm


def _leap_month_offset(a11: int, tz: float) -> int:
    """Months after month 11 until the first month without a principal solar term (the leap)."""
    k = math.floor((a11 - _JD_1900) / _SYNODIC_MONTH_DAYS + 0.5)
    i = 1
    arc = _sun_sector(_new_moon_day(k + i, tz), tz)
    while True:
        last = arc
        i += 1
        arc = _sun_sector(_new_moon_day(k + i, tz), tz)
        if arc == last or i >= 14:
            break
    return i - 1


def solar_to_lunar(d: date, tz: float = VN_TIMEZONE_HOURS) -> LunarDate:
    """The lunar date of a Gregorian date."""
    day_number = _jd_from_date(d)
    k = math.floor((day_number - _JD_1900) / _SYNODIC_MONTH_DAYS)
    month_start = _new_moon_day(k + 1, tz)
    if month_start > day_number:
        month_start = _new_moon_day(k, tz)
    a11 = _lunar_month_11(d.year, tz)
    b11 = a11
    if a11 >= month_start:
        lunar_year = d.year
        a11 = _lunar_month_11(d.year - 1, tz)
    else:
        lunar_year = d.year + 1
        b11 = _lunar_month_11(d.year + 1, tz)
    lunar_day = day_number - month_start + 1
    diff = math.floor((month_start - a11) / 29)
    leap = False
    lunar_month = diff + 11
    if b11 - a11 > 365:  # a leap year of 13 months
        leap_diff = _leap_month_offset(a11, tz)
        if diff >= leap_diff:
            lunar_month = diff + 10
            leap = diff == leap_diff
    if lunar_month > 12:
        lunar_month -= 12
    if lunar_month >= 11 and diff < 4:
        lunar_year -= 1
    return LunarDate(lunar_day, lunar_month, lunar_year, leap)


def lunar_to_solar(lunar: LunarDate, tz: float = VN_TIMEZONE_HOURS) -> date:
    """The Gregorian date of a lunar date; CalendarError if it does not exist."""
    if not (1 <= lunar.month <= 12 and 1 <= lunar.day <= 30):
        raise CalendarError(f"no such lunar date: {lunar}")
    if lunar.month < 11:
        a11 = _lunar_month_11(lunar.year - 1, tz)
        b11 = _lunar_month_11(lunar.year, tz)
    else:
        a11 = _lunar_month_11(lunar.year, tz)
        b11 = _lunar_month_11(lunar.year + 1, tz)
    off = (lunar.month - 11) % 12
    if b11 - a11 > 365:
        leap_off = _leap_month_offset(a11, tz)
        leap_month = (leap_off - 2) % 12
        if lunar.leap and lunar.month != leap_month:
            raise CalendarError(f"lunar year {lunar.year} has no leap month {lunar.month}")
        if lunar.leap or off >= leap_off:
            off += 1
    elif lunar.leap:
        raise CalendarError(f"lunar year {lunar.year} has no leap month")
    k = math.floor(0.5 + (a11 - _JD_1900) / _SYNODIC_MONTH_DAYS)
    month_start = _new_moon_day(k + off, tz)
    if lunar.day == 30 and _new_moon_day(k + off + 1, tz) - month_start < 30:
        raise CalendarError(f"lunar month {lunar.month}/{lunar.year} has only 29 days")
    return _date_from_jd(month_start + lunar.day - 1)


def lunar_new_year(year: int) -> date:
    """Gregorian date of Tết Nguyên đán (1st day of the 1st lunar month) in `year`."""
    return lunar_to_solar(LunarDate(1, 1, year))


# --- holidays -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HolidayConfig:
    """What the government announces each year, on top of the statutory rules.

    tet_announced: year -> every day off for Tết that year (replaces the computed span; the days
    are taken as announced, weekend compensation already included).
    extra_holidays: additional days off (e.g. a bridge day swapped with a working Saturday).
    working_days: days that are worked although they would be off (make-up Saturdays).
    tet_days_before / tet_days_after: the default Tết span, in days before the 1st and days from
    the 1st on (1 and 4: the last day of the lunar year plus the 1st–4th, five days).
    """

    tet_announced: Mapping[int, tuple[date, ...]] = field(default_factory=dict)
    extra_holidays: Mapping[date, str] = field(default_factory=dict)
    working_days: frozenset[date] = frozenset()
    tet_days_before: int = 1
    tet_days_after: int = 4

    def __post_init__(self) -> None:
        if not (0 <= self.tet_days_before <= 10 and 1 <= self.tet_days_after <= 10):
            raise CalendarError("Tết span must be 0–10 days before and 1–10 days from the 1st")
        for year, days in self.tet_announced.items():
            if not days:
                raise CalendarError(f"announced Tết {year} has no days")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> HolidayConfig:
        """Build from JSON-like data (ISO dates as strings); CalendarError on bad input."""
        try:
            tet_raw = data.get("tet_announced", {})
            extra_raw = data.get("extra_holidays", {})
            work_raw = data.get("working_days", [])
            if not isinstance(tet_raw, Mapping) or not isinstance(extra_raw, Mapping):
                raise CalendarError("tet_announced and extra_holidays must be objects")
            if not isinstance(work_raw, list):
                raise CalendarError("working_days must be a list of dates")
            tet = {
                int(year): tuple(_iso(d) for d in _as_list(days)) for year, days in tet_raw.items()
            }
            extra = {_iso(d): str(name) for d, name in extra_raw.items()}
            work = frozenset(_iso(d) for d in work_raw)
            before = data.get("tet_days_before", 1)
            after = data.get("tet_days_after", 4)
            if not isinstance(before, int) or not isinstance(after, int):
                raise CalendarError("tet_days_before/after must be integers")
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CalendarError):
                raise
            raise CalendarError(f"bad holiday configuration: {exc}") from exc
        return cls(tet, extra, work, before, after)


def _as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise CalendarError(f"expected a list of dates, got {value!r}")
    return value


def _iso(value: object) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise CalendarError(f"expected an ISO date, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CalendarError(f"not an ISO date: {value!r}") from exc


def _national_day_adjacent(year: int) -> date:
    """The day joined to 2/9: the one that makes the longer break with a weekend."""
    sep2 = date(year, 9, 2)
    # Tuesday, Saturday, Sunday: 1/9 joins the weekend before (or is itself compensated).
    return date(year, 9, 1) if sep2.weekday() in (1, 5, 6) else date(year, 9, 3)


class HolidayCalendar:
    """Public holidays and working days of Vietnamese public offices (Monday–Friday)."""

    def __init__(self, config: HolidayConfig | None = None) -> None:
        self._config = config or HolidayConfig()
        self._cache: dict[int, dict[date, str]] = {}

    @property
    def config(self) -> HolidayConfig:
        """The announcements this calendar applies."""
        return self._config

    def holidays(self, year: int) -> dict[date, str]:
        """Every day off (other than ordinary weekends) in `year`, with its name, in date order."""
        return dict(self._year(year))

    def _year(self, year: int) -> dict[date, str]:
        if not 1900 <= year <= 2199:
            raise CalendarError(f"year out of range: {year}")
        if year not in self._cache:
            self._cache[year] = self._compute(year)
        return self._cache[year]

    def _compute(self, year: int) -> dict[date, str]:
        statutory: dict[date, str] = {date(year, 1, 1): "Tết Dương lịch"}
        hung_kings = lunar_to_solar(LunarDate(10, 3, year))
        statutory[hung_kings] = "Giỗ Tổ Hùng Vương"
        statutory[date(year, 4, 30)] = "Ngày Chiến thắng"
        statutory[date(year, 5, 1)] = "Ngày Quốc tế Lao động"
        statutory[date(year, 9, 2)] = "Quốc khánh"
        statutory[_national_day_adjacent(year)] = "Quốc khánh"
        announced: dict[date, str] = {}
        # Tết of this lunar year, and of next year when its last days fall in December.
        for lunar_year in (year, year + 1):
            for day in self._tet_days(lunar_year, announced_only=True):
                announced[day] = "Tết Nguyên đán"
            for day in self._tet_days(lunar_year, announced_only=False):
                statutory.setdefault(day, "Tết Nguyên đán")
        days = self._with_compensation(statutory, announced)
        days.update(announced)
        for day, name in self._config.extra_holidays.items():
            days[day] = name
        for day in self._config.working_days:
            days.pop(day, None)
        return {d: days[d] for d in sorted(days) if d.year == year}

    def _tet_days(self, lunar_year: int, *, announced_only: bool) -> list[date]:
        announced = self._config.tet_announced.get(lunar_year)
        if announced_only:
            return list(announced or ())
        if announced is not None:
            return []
        first = lunar_new_year(lunar_year)
        cfg = self._config
        return [first + timedelta(days=i) for i in range(-cfg.tet_days_before, cfg.tet_days_after)]

    def _with_compensation(
        self, statutory: Mapping[date, str], announced: Mapping[date, str]
    ) -> dict[date, str]:
        """Add a compensatory day on the next working day for each holiday on a weekend."""
        days = dict(statutory)
        taken = set(days) | set(announced)
        for day in sorted(statutory):
            if day.weekday() not in _WEEKEND:
                continue
            nxt = day + timedelta(days=1)
            while nxt.weekday() in _WEEKEND or nxt in taken:
                nxt += timedelta(days=1)
            days[nxt] = f"Nghỉ bù {statutory[day]}"
            taken.add(nxt)
        return days

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name if `day` is a public holiday or compensatory day, else None."""
        return self._year(day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        """True on Monday–Friday that are not holidays, and on configured make-up days."""
        if day in self._config.working_days:
            return True
        return day.weekday() not in _WEEKEND and self.holiday_name(day) is None

    def add_working_days(self, start: date, n: int) -> date:
        """The date `n` working days after `start` (before it when n < 0); `start` for n == 0.

        `start` itself is not counted: a dossier received on Friday with a 1-working-day limit is
        due on the following working day.
        """
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        day = start
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b] — negative, counting (b, a], when b is before a."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(1 for i in range(1, (b - a).days + 1) if self.is_working_day(a + timedelta(i)))

    def overdue_by(self, due: date, today: date) -> int:
        """Working days a dossier due on `due` is late on `today`; 0 when not late."""
        return max(0, self.working_days_between(due, today))

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the next one."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def working_days_in(self, days: Iterable[date]) -> list[date]:
        """The working days among `days`, in the given order."""
        return [d for d in days if self.is_working_day(d)]
