"""Dossier code parsing, keypad entry forms and lookup by tail (pure, plus an in-memory source)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from integrations.base import Dossier
from integrations.dossier_codes import (
    CodeKind,
    CodeQuery,
    DossierCodeError,
    lookup,
    normalize_code,
    parse_code,
    parse_entry,
    tail_of,
)
from integrations.sample_dossiers import demo_dossiers


@pytest.mark.parametrize(
    ("text", "agency", "received", "tail"),
    [
        ("000.00.14.H56-200203-0118", "000.00.14.H56", date(2020, 2, 3), "2002030118"),
        ("000.17.22.H56-210531-0001", "000.17.22.H56", date(2021, 5, 31), "2105310001"),
        (" 000.17.22.h56 – 210531 – 0001 ", "000.17.22.H56", date(2021, 5, 31), "2105310001"),
        ("000.00.01.G01-240229-9999", "000.00.01.G01", date(2024, 2, 29), "2402299999"),
    ],
)
def test_national_codes(text: str, agency: str, received: date, tail: str) -> None:
    code = parse_code(text)
    assert code.kind is CodeKind.NATIONAL
    assert code.agency == agency
    assert code.received_on == received
    assert code.tail == tail
    assert code.code == normalize_code(text)


@pytest.mark.parametrize(
    ("text", "tail"),
    [
        ("H56.22-211115-0003", "2111150003"),  # a district's own numbering, dated
        ("BN-2021-000123", None),  # undated receipt number
        ("123/BN-UBND", None),
        ("4567890", None),
        ("SBN.123456.7890", None),  # six digits that are not a date: an undated receipt
    ],
)
def test_receipt_numbers(text: str, tail: str | None) -> None:
    code = parse_code(text)
    assert code.kind is CodeKind.RECEIPT
    assert code.tail == tail


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("000.00.14.H56-201303-0118", "date-invalid"),  # month 13
        ("000.00.14.H56-230229-0118", "date-invalid"),  # 2023 is not a leap year
        ("hồ sơ của tôi", "format"),
        ("ABC-DEF", "format"),  # no digit at all
        ("1" * 65, "too-long"),
        ("000.00.14.H56-200203-0118; DROP TABLE dossiers", "format"),
    ],
)
def test_bad_codes_raise_typed_errors(text: str, reason: str) -> None:
    with pytest.raises(DossierCodeError) as info:
        parse_code(text)
    assert info.value.reason == reason


def test_future_dates_are_rejected_when_today_is_given() -> None:
    with pytest.raises(DossierCodeError) as info:
        parse_code("000.00.14.H56-300101-0001", today=date(2026, 1, 1))
    assert info.value.reason == "date-future"
    assert parse_code("000.00.14.H56-300101-0001").received_on == date(2030, 1, 1)


@pytest.mark.parametrize(
    ("entry", "tail", "agency_digits"),
    [
        ("2002030118", "2002030118", ""),
        ("2002030118#", "2002030118", ""),
        ("0000014562002030118", "2002030118", "000001456"),
        ("000*00*14*56*200203*0118", "2002030118", "000001456"),
        ("000*00*14*56*200203*0118#", "2002030118", "000001456"),
        ("200203*0118", "2002030118", ""),
        ("*2002030118#", "2002030118", ""),
    ],
)
def test_keypad_entries(entry: str, tail: str, agency_digits: str) -> None:
    assert parse_entry(entry) == CodeQuery(tail=tail, agency_digits=agency_digits)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("", "empty"),
        ("#", "empty"),
        ("200203011", "too-short"),
        ("2013030118", "date-invalid"),
        ("20020A0118", "keypad-characters"),
        ("9" * 41, "too-long"),
    ],
)
def test_bad_keypad_entries(entry: str, reason: str) -> None:
    with pytest.raises(DossierCodeError) as info:
        parse_entry(entry)
    assert info.value.reason == reason


def test_query_matches_by_tail_and_agency_digits() -> None:
    assert CodeQuery("2002030118").matches("000.00.14.H56-200203-0118")
    assert CodeQuery("2002030118", "000001456").matches("000.00.14.H56-200203-0118")
    assert not CodeQuery("2002030118", "000001556").matches("000.00.14.H56-200203-0118")
    assert not CodeQuery("2002030119").matches("000.00.14.H56-200203-0118")
    assert not CodeQuery("2002030118").matches("not a code at all!")
    assert tail_of("000.00.14.H56-200203-0118") == "2002030118"
    assert tail_of("garbage!") is None


class ListSource:
    """A DossierSource over a list, to test lookup's choices without a database."""

    def __init__(self, dossiers: list[Dossier]) -> None:
        self.dossiers = dossiers

    async def get(self, code: str) -> Dossier | None:
        return next((d for d in self.dossiers if d.code == code), None)

    async def find_by_tail(self, tail: str) -> list[Dossier]:
        return [d for d in self.dossiers if tail_of(d.code) == tail]


async def test_lookup_by_code_tail_and_agency() -> None:
    demo = demo_dossiers(date(2026, 1, 5))
    twin = replace(demo[0], code="000.00.15.H56-250303-9001")  # another agency, same tail
    receipt = replace(demo[0], code="4567890")
    source = ListSource([*demo, twin, receipt])

    found = await lookup(source, "000.00.14.H56-250303-9004")
    assert [d.code for d in found] == ["000.00.14.H56-250303-9004"]
    assert await lookup(source, "000.00.14.H56-250303-8888") == []

    both = await lookup(source, "2503039001")
    assert {d.code for d in both} == {"000.00.14.H56-250303-9001", "000.00.15.H56-250303-9001"}
    narrowed = await lookup(source, "000*00*15*56*250303*9001#")
    assert [d.code for d in narrowed] == ["000.00.15.H56-250303-9001"]

    assert [d.code for d in await lookup(source, "4567890")] == ["4567890"]
    with pytest.raises(DossierCodeError) as info:
        await lookup(source, "1234567")  # too short, and no such receipt number
    assert info.value.reason == "too-short"
    with pytest.raises(DossierCodeError):
        await lookup(source, "xin chào")
