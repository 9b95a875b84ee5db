"""Input validation rules: dossier codes in every accepted shape, phone numbers, digits, regex."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.runtime.nodes import check_value
from menus.model import InputRule, RuleKind

TODAY = date(2025, 6, 10)
CODE = InputRule(RuleKind.DOSSIER_CODE)
PHONE = InputRule(RuleKind.PHONE)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("2503039004", "2503039004"),  # the ten-digit tail
        ("2503039004#", "2503039004"),
        ("000*00*14*56*250303*9004", "000*00*14*56*250303*9004"),  # groups with *
        ("000.00.14.H56-250303-9004", "000.00.14.H56-250303-9004"),  # spoken in full
        ("123", None),  # too short
        ("2513319004", None),  # 31/13/25 is no date
        ("2712319004", None),  # a date in the future
        ("", None),
    ],
)
def test_dossier_code_shapes(raw: str, value: str | None) -> None:
    assert check_value(CODE, raw, TODAY) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0909123456", "0909123456"),
        ("+84909123456", "0909123456"),
        ("02543852477", "02543852477"),  # a landline with its area code
        ("909123456", None),
        ("12", None),
    ],
)
def test_phone_numbers(raw: str, value: str | None) -> None:
    assert check_value(PHONE, raw, TODAY) == value


def test_digits_and_regex_rules() -> None:
    digits = InputRule(RuleKind.DIGITS, min_digits=4, max_digits=6)
    assert check_value(digits, "1234", TODAY) == "1234"
    assert check_value(digits, "123", TODAY) is None
    assert check_value(digits, "12a4", TODAY) is None
    regex = InputRule(RuleKind.REGEX, pattern="[0-9]{3}")
    assert check_value(regex, "123", TODAY) == "123"
    assert check_value(regex, "1234", TODAY) is None
    broken = InputRule(RuleKind.REGEX, pattern="[0-9")  # a bad pattern refuses, never crashes
    assert check_value(broken, "1", TODAY) is None
