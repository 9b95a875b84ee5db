"""Vietnamese number words in both directions."""

from __future__ import annotations

import random

import pytest

from speech.numbers_vi import (
    NumberWordsError,
    digits_to_words,
    number_to_words,
    parse_numbers,
    run_to_digits,
    words_to_digits,
)

SPOKEN = [
    (0, "không"),
    (5, "năm"),
    (10, "mười"),
    (11, "mười một"),
    (14, "mười bốn"),
    (15, "mười lăm"),
    (20, "hai mươi"),
    (21, "hai mươi mốt"),
    (24, "hai mươi tư"),
    (25, "hai mươi lăm"),
    (55, "năm mươi lăm"),
    (97, "chín mươi bảy"),
    (101, "một trăm linh một"),
    (104, "một trăm linh bốn"),
    (105, "một trăm linh năm"),
    (110, "một trăm mười"),
    (119, "một trăm mười chín"),
    (352, "ba trăm năm mươi hai"),
    (1000, "một nghìn"),
    (1005, "một nghìn không trăm linh năm"),
    (1050, "một nghìn không trăm năm mươi"),
    (1497, "một nghìn bốn trăm chín mươi bảy"),
    (2021, "hai nghìn không trăm hai mươi mốt"),
    (13781, "mười ba nghìn bảy trăm tám mươi mốt"),
    (14198, "mười bốn nghìn một trăm chín mươi tám"),
    (105000, "một trăm linh năm nghìn"),
    (1500000, "một triệu năm trăm nghìn"),
    (2000001, "hai triệu không trăm linh một"),
    (1000000000, "một tỷ"),
    (-3, "âm ba"),
]


@pytest.mark.parametrize(("number", "words"), SPOKEN)
def test_number_to_words(number: int, words: str) -> None:
    assert number_to_words(number) == words


@pytest.mark.parametrize(("number", "words"), SPOKEN[:-1])
def test_spoken_form_reads_back(number: int, words: str) -> None:
    assert run_to_digits(words.split()) == str(number)


def test_lone_ambiguous_words_stay_words() -> None:
    # Alone, "không" is "no" and "năm" is "year" far more often than a digit.
    assert words_to_digits("không") == "không"
    assert words_to_digits("năm") == "năm"
    assert words_to_digits("ba") == "3"


def test_round_trip_random_numbers() -> None:
    rng = random.Random(14198)
    numbers = [rng.randrange(0, 10 ** rng.randrange(1, 13)) for _ in range(400)]
    for n in numbers:
        assert run_to_digits(number_to_words(n).split()) == str(n), number_to_words(n)


HEARD = [
    ("tám bảy lăm ba", "8753"),
    ("không chín không một hai ba bốn năm sáu bảy", "0901234567"),
    ("hai mươi mốt", "21"),
    ("hăm mốt", "21"),
    ("băm hai", "32"),
    ("hai lăm", "25"),
    ("một trăm lẻ năm", "105"),
    ("một trăm hai", "120"),
    ("ba nghìn hai", "3200"),
    ("hai nghìn rưỡi", "2500"),
    ("năm ngàn", "5000"),
    ("mười nhăm", "15"),
    ("hai mươi tư", "24"),
    ("bốn tư", "44"),
    ("hai chục", "20"),
    ("hai mươi mốt hai mươi hai", "2122"),
    ("một nghìn tỷ", "1000000000000"),
    ("ba tỉ", "3000000000"),
    ("mã số tám bảy lăm ba", "mã số 8753"),
    ("không phải", "không phải"),
    ("năm nay", "năm nay"),
    ("năm hai nghìn", "năm 2000"),
    (
        "ngày hai mươi chín tháng mười hai năm hai nghìn không trăm hai mươi mốt",
        "ngày 29 tháng 12 năm 2021",
    ),
]


@pytest.mark.parametrize(("heard", "digits"), HEARD)
def test_words_to_digits(heard: str, digits: str) -> None:
    assert words_to_digits(heard) == digits


def test_parse_numbers_splits_runs() -> None:
    assert parse_numbers(["tám", "bảy", "mươi", "lăm"]) == [8, 75]
    assert parse_numbers(["không", "không", "một", "tám"]) == [0, 0, 1, 8]


def test_digits_to_words() -> None:
    assert digits_to_words("0118") == "không một một tám"


@pytest.mark.parametrize("bad", ["12a", "", "١٢"])
def test_digits_to_words_rejects(bad: str) -> None:
    with pytest.raises(NumberWordsError):
        digits_to_words(bad)


@pytest.mark.parametrize("bad", [1.5, "12", True, 10**18])
def test_number_to_words_rejects(bad: object) -> None:
    with pytest.raises(NumberWordsError):
        number_to_words(bad)  # type: ignore[arg-type]


def test_parse_numbers_rejects_other_words() -> None:
    with pytest.raises(NumberWordsError):
        parse_numbers(["hai", "con"])
