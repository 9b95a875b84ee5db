"""Lunar calendar, holidays and working-day arithmetic (table-driven)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from integrations.calendar_vn import (
    CalendarError,
    HolidayCalendar,
    HolidayConfig,
    LunarDate,
    lunar_new_year,
    lunar_to_solar,
    solar_to_lunar,
)

# Tết Nguyên đán in Vietnam (UTC+7). 2030: the new moon falls at 16:07 UTC on 2 February, which is
# 23:07 in Vietnam but 00:07 on 3 February in China, so Vietnamese Tết comes a day earlier there.
TET = [
    (2020, date(2020, 1, 25)),
    (2021, date(2021, 2, 12)),
    (2022, date(2022, 2, 1)),
    (2023, date(2023, 1, 22)),
    (2024, date(2024, 2, 10)),
    (2025, date(2025, 1, 29)),
    (2026, date(2026, 2, 17)),
    (2027, date(2027, 2, 6)),
    (2028, date(2028, 1, 26)),
    (2029, date(2029, 2, 13)),
    (2030, date(2030, 2, 2)),
]


@pytest.mark.parametrize(("year", "expected"), TET)
def test_lunar_new_year(year: int, expected: date) -> None:
    assert lunar_new_year(year) == expected
    assert solar_to_lunar(expected) == LunarDate(1, 1, year)


@pytest.mark.parametrize(
    ("year", "vietnam", "china"),
    [
        (1985, date(1985, 1, 21), date(1985, 2, 20)),
        (2007, date(2007, 2, 17), date(2007, 2, 18)),
        (2030, date(2030, 2, 2), date(2030, 2, 3)),
    ],
)
def test_time_zone_decides_the_new_year(year: int, vietnam: date, china: date) -> None:
    assert lunar_new_year(year) == vietnam
    assert lunar_to_solar(LunarDate(1, 1, year), tz=8.0) == china


@pytest.mark.parametrize(
    ("solar", "lunar"),
    [
        (date(2020, 5, 23), LunarDate(1, 4, 2020, leap=True)),  # nhuận tháng 4 Canh Tý
        (date(2023, 3, 22), LunarDate(1, 2, 2023, leap=True)),  # nhuận tháng 2 Quý Mão
        (date(2025, 7, 25), LunarDate(1, 6, 2025, leap=True)),  # nhuận tháng 6 Ất Tỵ
        (date(2025, 6, 25), LunarDate(1, 6, 2025)),
        (date(2025, 1, 28), LunarDate(29, 12, 2024)),  # last day of Giáp Thìn
        (date(2024, 9, 17), LunarDate(15, 8, 2024)),  # Tết Trung thu
    ],
)
def test_solar_to_lunar(solar: date, lunar: LunarDate) -> None:
    assert solar_to_lunar(solar) == lunar
    assert lunar_to_solar(lunar) == solar


def test_round_trip_every_day_of_a_decade() -> None:
    day = date(2020, 1, 1)
    while day < date(2031, 1, 1):
        assert lunar_to_solar(solar_to_lunar(day)) == day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    "bad",
    [LunarDate(1, 5, 2025, leap=True), LunarDate(1, 13, 2025), LunarDate(30, 12, 2024)],
)
def test_nonexistent_lunar_dates_raise(bad: LunarDate) -> None:
    with pytest.raises(CalendarError):
        lunar_to_solar(bad)


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2022, date(2022, 4, 10)), (2024, date(2024, 4, 18)), (2026, date(2026, 4, 26))],
)
def test_hung_kings_day_is_10_3_lunar(year: int, expected: date) -> None:
    assert HolidayCalendar().holiday_name(expected) == "Giỗ Tổ Hùng Vương"


def test_2026_tet_matches_the_announced_nine_day_break() -> None:
    cal = HolidayCalendar()
    off = [d for d in cal.holidays(2026) if d.month == 2]
    assert off == [date(2026, 2, d) for d in range(16, 21)]
    # Saturday 14/2 through Sunday 22/2: nine days without a working day.
    assert not any(cal.is_working_day(date(2026, 2, d)) for d in range(14, 23))
    assert cal.is_working_day(date(2026, 2, 23))


@pytest.mark.parametrize(
    ("year", "compensated"),
    [
        # 30/4 on Saturday and 1/5 on Sunday: off on Monday 2/5 and Tuesday 3/5.
        (2022, [date(2022, 5, 2), date(2022, 5, 3), date(2022, 4, 11), date(2022, 1, 3)]),
        # Giỗ Tổ on Saturday 29/4, 30/4 Sunday, 1/5 Monday: off until Wednesday 3/5.
        (2023, [date(2023, 5, 2), date(2023, 5, 3), date(2023, 9, 4), date(2023, 1, 2)]),
    ],
)
def test_weekend_holidays_are_compensated(year: int, compensated: list[date]) -> None:
    cal = HolidayCalendar()
    for day in compensated:
        name = cal.holiday_name(day)
        assert name is not None and name.startswith("Nghỉ bù"), day
        assert not cal.is_working_day(day)


def test_national_day_takes_an_adjacent_day() -> None:
    cal = HolidayCalendar()
    assert cal.holiday_name(date(2025, 9, 1)) == "Quốc khánh"  # 2/9 on Tuesday
    assert cal.holiday_name(date(2024, 9, 3)) == "Quốc khánh"  # 2/9 on Monday


def test_tet_at_the_turn_of_the_year_is_found_in_both_years() -> None:
    # Tết 2028 is on 26 January; the days off all belong to 2028, none leak into 2027's list.
    cal = HolidayCalendar()
    assert all(d.year == 2028 for d in cal.holidays(2028))
    assert date(2028, 1, 25) in cal.holidays(2028)
    assert all(d.year == 2027 for d in cal.holidays(2027))


def test_announced_tet_replaces_the_computed_span() -> None:
    announced = tuple(date(2025, 1, d) for d in range(27, 32))
    cal = HolidayCalendar(HolidayConfig(tet_announced={2025: announced}))
    tet = [d for d, name in cal.holidays(2025).items() if "Tết Nguyên đán" in name]
    assert tet == list(announced)
    assert cal.is_working_day(date(2025, 2, 3))
    # The computed calendar would have compensated Saturday 1/2 on Monday 3/2.
    assert not HolidayCalendar().is_working_day(date(2025, 2, 3))


def test_extra_days_and_make_up_saturdays() -> None:
    cfg = HolidayConfig(
        extra_holidays={date(2025, 5, 2): "Nghỉ hoán đổi"},
        working_days=frozenset({date(2025, 4, 26)}),
    )
    cal = HolidayCalendar(cfg)
    assert not cal.is_working_day(date(2025, 5, 2))
    assert cal.is_working_day(date(2025, 4, 26))  # a Saturday worked in exchange
    assert cal.add_working_days(date(2025, 4, 25), 1) == date(2025, 4, 26)


WORKING_DAYS = [
    # (start, n, expected due date)
    (date(2025, 3, 7), 1, date(2025, 3, 10)),  # Friday + 1 -> Monday
    (date(2025, 3, 10), 5, date(2025, 3, 17)),  # a full week
    (date(2025, 3, 10), 0, date(2025, 3, 10)),
    (date(2026, 2, 13), 3, date(2026, 2, 25)),  # across Tết 2026 (16–20/2 off)
    (date(2026, 2, 12), 1, date(2026, 2, 13)),
    (date(2024, 2, 7), 2, date(2024, 2, 16)),  # Tết 2024 computed: 9–15/2 off
    (date(2025, 4, 29), 1, date(2025, 5, 2)),  # across 30/4 and 1/5
    (date(2025, 12, 31), 1, date(2026, 1, 2)),  # across 1/1
    (date(2026, 2, 25), -3, date(2026, 2, 13)),  # backwards
]


@pytest.mark.parametrize(("start", "n", "expected"), WORKING_DAYS)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    cal = HolidayCalendar()
    assert cal.add_working_days(start, n) == expected
    assert cal.working_days_between(start, expected) == n


@pytest.mark.parametrize(
    ("due", "today", "late"),
    [
        (date(2026, 2, 13), date(2026, 2, 20), 0),  # every day since is Tết or weekend
        (date(2026, 2, 13), date(2026, 2, 23), 1),
        (date(2026, 2, 13), date(2026, 2, 10), 0),  # not due yet
        (date(2025, 3, 7), date(2025, 3, 9), 0),  # only the weekend passed
        (date(2025, 3, 7), date(2025, 3, 14), 5),
        (date(2025, 3, 7), date(2025, 3, 7), 0),
    ],
)
def test_overdue_by(due: date, today: date, late: int) -> None:
    assert HolidayCalendar().overdue_by(due, today) == late


def test_config_from_dict() -> None:
    cfg = HolidayConfig.from_dict(
        {
            "tet_announced": {"2025": ["2025-01-27", "2025-01-28"]},
            "extra_holidays": {"2025-05-02": "Nghỉ hoán đổi"},
            "working_days": ["2025-04-26"],
        }
    )
    assert cfg.tet_announced[2025] == (date(2025, 1, 27), date(2025, 1, 28))
    assert cfg.working_days == frozenset({date(2025, 4, 26)})


@pytest.mark.parametrize(
    "data",
    [
        {"working_days": ["2025-02-30"]},
        {"working_days": "2025-01-01"},
        {"extra_holidays": ["2025-01-01"]},
        {"tet_announced": {"x": ["2025-01-27"]}},
        {"tet_announced": {"2025": []}},
        {"tet_days_after": "4"},
        {"tet_days_before": 40},
    ],
)
def test_bad_config_raises_a_typed_error(data: dict[str, object]) -> None:
    with pytest.raises(CalendarError):
        HolidayConfig.from_dict(data)


def test_year_out_of_range() -> None:
    with pytest.raises(CalendarError):
        HolidayCalendar().holidays(1800)
