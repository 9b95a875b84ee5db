"""Understanding transcripts: menu choices, digit strings, yes/no. The table of transcripts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from speech.understand import Match, extract_digits, keyword_score, match_choice, yes_no
from tests.support import need

MENU: dict[str, list[str]] = {
    "status": ["tra cứu hồ sơ", "tình trạng hồ sơ", "kiểm tra hồ sơ", "hồ sơ của tôi"],
    "procedure": ["thủ tục", "hướng dẫn thủ tục", "giấy tờ cần", "lệ phí"],
    "officer": ["gặp cán bộ", "nhân viên", "tổng đài viên", "người thật"],
    "repeat": ["nghe lại", "nhắc lại", "lặp lại"],
    "one": ["số một", "phím một"],
    "two": ["số hai", "phím hai"],
}

# transcript -> (choice, needs confirmation); None: no choice at all.
INTENTS: list[tuple[str, tuple[str, bool] | None]] = [
    ("tôi muốn tra cứu hồ sơ", ("status", False)),
    ("tra cứu hồ sơ", ("status", False)),
    ("Tra Cứu Hồ Sơ.", ("status", False)),
    ("tra cuu ho so", ("status", False)),
    ("trà cứu hồ sở", ("status", False)),
    ("cho tôi hỏi tình trạng hồ sơ", ("status", False)),
    ("kiểm tra giúp tôi cái hồ sơ", ("status", False)),
    ("hồ sơ của tôi đến đâu rồi", ("status", False)),
    ("tôi muốn hỏi thủ tục đăng ký khuyến mại", ("procedure", False)),
    ("hướng dẫn thủ tục", ("procedure", False)),
    ("thu tuc", ("procedure", False)),
    ("cần những giấy tờ gì", ("procedure", False)),
    ("lệ phí bao nhiêu", ("procedure", False)),
    ("cho tôi gặp cán bộ", ("officer", False)),
    ("gặp nhân viên", ("officer", False)),
    ("cho tôi nói chuyện với người thật", ("officer", False)),
    ("tổng đài viên", ("officer", False)),
    ("cán bộ", ("officer", True)),
    ("nhắc lại đi", ("repeat", False)),
    ("nghe lại", ("repeat", False)),
    ("lặp lại giúp", ("repeat", False)),
    ("số một", ("one", False)),
    ("phím hai", ("two", False)),
    ("chọn số hai", ("two", False)),
    ("so mot", ("one", False)),
    ("thời tiết hôm nay thế nào", None),
    ("", None),
    ("ừ", None),
    ("xin chào", None),
]


@pytest.mark.parametrize(("heard", "expected"), INTENTS)
def test_match_choice(heard: str, expected: tuple[str, bool] | None) -> None:
    match = match_choice(heard, MENU)
    if expected is None:
        assert match is None
    else:
        assert match is not None
        assert (match.key, match.confirm) == expected
        assert 0.0 < match.score <= 1.0


def test_two_choices_equally_heard_need_confirmation() -> None:
    match = match_choice("tra cứu hồ sơ hay gặp cán bộ", MENU)
    assert match is not None and match.confirm


def test_threshold_controls_confirmation() -> None:
    strict = match_choice("trà cứu hồ sở", {"s": ["tra cứu hồ sơ"]}, threshold=1.0)
    assert strict == Match(key="s", score=1.0, keyword="tra cứu hồ sơ", confirm=False)
    near = match_choice("tra cứu hổ", {"s": ["tra cứu hồ sơ"]}, threshold=0.95)
    assert near is not None and near.confirm and near.score < 0.95
    assert (
        match_choice("tra cứu hổ", {"s": ["tra cứu hồ sơ"]}, threshold=0.99, confirm_threshold=0.98)
        is None
    )


@pytest.mark.parametrize("bad", [0.0, 1.5, -1.0])
def test_bad_threshold(bad: float) -> None:
    with pytest.raises(ValueError):
        match_choice("hồ sơ", MENU, threshold=bad)


def test_keyword_score_bounds() -> None:
    assert keyword_score("tra cuu ho so", "tra cuu ho so") == 1.0
    assert keyword_score("", "ho so") == 0.0
    assert 0.0 < keyword_score("tra cuu ho", "tra cuu ho so") < 1.0


DIGITS = [
    ("tám bảy lăm ba", "8753"),
    ("không chín không một hai ba bốn năm sáu bảy", "0901234567"),
    ("số điện thoại của tôi là không chín không, à, một hai ba bốn năm sáu bảy", "0901234567"),
    ("không, số của tôi là tám bảy lăm ba", "8753"),
    ("hai mươi mốt", "21"),
    ("mã là hai một không năm ba một không không không một", "2105310001"),
    ("một không hai hai", "1022"),
    ("không chín tám bảy sáu năm bốn ba hai một", "0987654321"),
    ("không chín tư tư năm nhăm", "094455"),
    ("chín mốt", "91"),
    (
        "mã hồ sơ là không không không chấm không không chấm một bốn chấm hát năm sáu gạch "
        "hai không không hai không ba gạch không một một tám",
        "000.00.14.H56-200203-0118",
    ),
    (
        "không không không chấm mười bảy chấm hai hai chấm hờ năm sáu gạch "
        "hai một không năm ba một gạch không không không một",
        "000.17.22.H56-210531-0001",
    ),
    ("hai không không hai không ba gạch ngang không một một tám", "200203-0118"),
    ("000.00.14 H56", "000.00.14H56"),
    ("không biết", ""),
    ("dạ", ""),
    ("", ""),
    ("chấm chấm", ""),
    ("năm nay", ""),
    ("một hai ba chấm", "123"),
]


@pytest.mark.parametrize(("heard", "digits"), DIGITS)
def test_extract_digits(heard: str, digits: str) -> None:
    assert extract_digits(heard) == digits


def test_extract_digits_without_separators_or_letters() -> None:
    heard = "một bốn chấm hát năm sáu gạch không một"
    assert extract_digits(heard, separators=False, letters=False) == "145601"
    assert extract_digits(heard) == "14.H56-01"


YES_NO: list[tuple[str, bool | None]] = [
    ("có", True),
    ("dạ có", True),
    ("vâng", True),
    ("dạ vâng", True),
    ("đúng", True),
    ("đúng rồi", True),
    ("phải", True),
    ("dạ phải", True),
    ("dạ", True),
    ("ừ", True),
    ("đồng ý", True),
    ("chính xác", True),
    ("không sai", True),
    ("vang", True),
    ("Có ạ.", True),
    ("dạ đúng rồi em", True),
    ("không", False),
    ("không phải", False),
    ("dạ không", False),
    ("không ạ", False),
    ("sai", False),
    ("sai rồi", False),
    ("không đúng", False),
    ("chưa đúng", False),
    ("nhầm rồi", False),
    ("khong phai", False),
    ("không có", False),
    ("phải không", None),
    ("tôi không biết", None),
    ("xin chào", None),
    ("", None),
]


@pytest.mark.parametrize(("heard", "answer"), YES_NO)
def test_yes_no(heard: str, answer: bool | None) -> None:
    assert yes_no(heard) is answer


def test_transcript_table_is_large_enough() -> None:
    assert len(INTENTS) + len(DIGITS) + len(YES_NO) >= 60


def _manifest(speech_dir: Path) -> dict[str, str]:
    manifest = speech_dir / "MANIFEST.tsv"
    need(manifest.is_file(), f"{manifest} missing")
    rows = csv.reader(manifest.read_text(encoding="utf-8").splitlines()[1:], delimiter="\t")
    return {row[0]: row[-1] for row in rows if row}


def test_transcripts_of_the_real_call_clips(speech_dir: Path) -> None:
    """The recogniser transcripts shipped with the test recordings understood as a node would."""
    heard = _manifest(speech_dir)
    assert extract_digits(heard["call8k_1.wav"]) == "87535647"
    business = match_choice(heard["call8k_4.wav"], {"business": ["doanh nghiệp"], **MENU})
    assert business is not None and business.key == "business" and not business.confirm
    assert match_choice(heard["radio8k_1.wav"], MENU) is None
