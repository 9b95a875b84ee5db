"""Text normalisation: the speaking table (text -> what the synthesiser reads) and matching."""

from __future__ import annotations

import re

import pytest

from speech.normalize import (
    clean_transcript,
    fold_diacritics,
    match_key,
    normalize_transcript,
    speakable,
    spell_code,
)

Y2021 = "hai nghìn không trăm hai mươi mốt"
Y2022 = "hai nghìn không trăm hai mươi hai"
CODE_0118 = (
    "không không không chấm, không không chấm, một bốn chấm, hát năm sáu gạch, "
    "hai không không hai không ba gạch, không một một tám"
)

SPEAK = [
    # Numbers with Vietnamese thousands separators and decimal commas.
    ("14.198", "mười bốn nghìn một trăm chín mươi tám"),
    ("13.781", "mười ba nghìn bảy trăm tám mươi mốt"),
    ("1.497", "một nghìn bốn trăm chín mươi bảy"),
    ("119 thủ tục", "một trăm mười chín thủ tục"),
    ("111", "một trăm mười một"),
    ("352", "ba trăm năm mươi hai"),
    ("18 sở", "mười tám sở"),
    ("82 xã", "tám mươi hai xã"),
    ("105", "một trăm linh năm"),
    ("2.000.001", "hai triệu không trăm linh một"),
    ("1.000.000.000", "một tỷ"),
    ("0", "không"),
    ("21", "hai mươi mốt"),
    ("24", "hai mươi tư"),
    ("25", "hai mươi lăm"),
    ("15", "mười lăm"),
    ("2,5", "hai phẩy năm"),
    ("0,05", "không phẩy không năm"),
    ("3,14", "ba phẩy mười bốn"),
    ("phiên bản 1.5", "phiên bản một chấm năm"),
    (
        "13.781/14.198 hồ sơ",
        "mười ba nghìn bảy trăm tám mươi mốt trên mười bốn nghìn một trăm chín mươi tám hồ sơ",
    ),
    ("số 0118", "số không một một tám"),
    # Dates.
    ("29/12/2021", f"ngày hai mươi chín tháng mười hai năm {Y2021}"),
    ("ngày 29/12/2021", f"ngày hai mươi chín tháng mười hai năm {Y2021}"),
    ("29-12-2021", f"ngày hai mươi chín tháng mười hai năm {Y2021}"),
    ("29.12.2021", f"ngày hai mươi chín tháng mười hai năm {Y2021}"),
    ("2021-12-29", f"ngày hai mươi chín tháng mười hai năm {Y2021}"),
    ("1/1/2022", f"ngày mùng một tháng một năm {Y2022}"),
    ("05/04/2022", f"ngày mùng năm tháng tư năm {Y2022}"),
    ("ngày 14/2", "ngày mười bốn tháng hai"),
    ("tháng 4/2022", f"tháng tư năm {Y2022}"),
    ("năm 2021", f"năm {Y2021}"),
    ("hẹn trả ngày 31/12/2021.", f"hẹn trả ngày ba mươi mốt tháng mười hai năm {Y2021}."),
    # Times.
    ("8h30", "tám giờ ba mươi phút"),
    ("8h", "tám giờ"),
    ("08:30", "tám giờ ba mươi phút"),
    ("17:00", "mười bảy giờ"),
    ("từ 7h30 đến 11h30", "từ bảy giờ ba mươi phút đến mười một giờ ba mươi phút"),
    ("13h45", "mười ba giờ bốn mươi lăm phút"),
    ("7h30-11h30", "bảy giờ ba mươi phút đến mười một giờ ba mươi phút"),
    ("13:30 – 17:00", "mười ba giờ ba mươi phút đến mười bảy giờ"),
    # Money and percentages.
    ("1.500.000 đồng", "một triệu năm trăm nghìn đồng"),
    ("200.000đ", "hai trăm nghìn đồng"),
    ("50.000 VNĐ", "năm mươi nghìn đồng"),
    ("phí 150.000 đ", "phí một trăm năm mươi nghìn đồng"),
    ("97%", "chín mươi bảy phần trăm"),
    ("97,5 %", "chín mươi bảy phẩy năm phần trăm"),
    ("100%", "một trăm phần trăm"),
    # Ranges and ordinals.
    ("3-5 ngày", "ba đến năm ngày"),
    ("thứ 2", "thứ hai"),
    ("thứ 4", "thứ tư"),
    ("thứ 1", "thứ nhất"),
    # Phone numbers and hotlines, digit by digit.
    ("0901234567", "không chín không một, hai ba bốn, năm sáu bảy"),
    ("0254.3852.123", "không hai năm bốn, ba tám năm hai, một hai ba"),
    ("0901 234 567", "không chín không một, hai ba bốn, năm sáu bảy"),
    ("+84901234567", "không chín không một, hai ba bốn, năm sáu bảy"),
    ("tổng đài 1022", "tổng đài một không hai hai"),
    ("Mã số của ông bà", "Mã số của ông bà"),
    ("mã số là 8753 5647", "mã số là tám bảy năm ba, năm sáu bốn bảy"),
    ("số biên nhận 2021 0118.", "số biên nhận hai không hai một, không một một tám."),
    # Abbreviations.
    ("TTHC", "thủ tục hành chính"),
    ("CCHC", "cải cách hành chính"),
    ("DN", "doanh nghiệp"),
    ("UBND tỉnh", "Ủy ban nhân dân tỉnh"),
    ("tỉnh BR-VT", "tỉnh Bà Rịa, Vũng Tàu"),
    ("Sở TN-MT", "Sở Tài nguyên và Môi trường"),
    ("Sở TT-TT", "Sở Thông tin và Truyền thông"),
    ("CNTT", "công nghệ thông tin"),
    ("DVC trực tuyến", "dịch vụ công trực tuyến"),
    ("CBCCVC", "cán bộ, công chức, viên chức"),
    ("Sở TN&MT", "Sở Tài nguyên và Môi trường"),
    ("DNTN", "DNTN"),  # not an abbreviation we know: left alone, not half-expanded
    # Dossier codes, read in groups.
    ("000.00.14.H56-200203-0118", CODE_0118),
    ("Mã 000.00.14.H56-200203-0118.", f"Mã {CODE_0118}."),
    (
        "Hồ sơ 000.00.14.H56-200203-0118 đang xử lý",
        f"Hồ sơ {CODE_0118}, đang xử lý",
    ),
    (
        "000.17.22.H56-210531-0001",
        "không không không chấm, một bảy chấm, hai hai chấm, hát năm sáu gạch, "
        "hai một không năm ba một gạch, không không không một",
    ),
    ("BN-2021-000123", "bê en nờ gạch, hai không hai một gạch, không không không một hai ba"),
    ("mã H56-200203", "mã hát năm sáu gạch, hai không không hai không ba"),
    ("số 200203-0118.", "số hai không không hai không ba gạch, không một một tám."),
    # Whole sentences.
    (
        "Năm 2021, Sở Công thương giải quyết 13.781/14.198 hồ sơ trực tuyến (97%).",
        f"Năm {Y2021}, Sở Công thương giải quyết mười ba nghìn bảy trăm tám mươi mốt trên "
        "mười bốn nghìn một trăm chín mươi tám hồ sơ trực tuyến (chín mươi bảy phần trăm).",
    ),
    ("Tôi & bạn", "Tôi và bạn"),
    ("  nhiều   khoảng  trắng ", "nhiều khoảng trắng"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "spoken"), SPEAK)
def test_speakable(text: str, spoken: str) -> None:
    assert speakable(text) == spoken


def test_speaking_table_is_large_enough() -> None:
    assert len(SPEAK) >= 60


@pytest.mark.parametrize(("text", "_"), SPEAK)
def test_speakable_leaves_no_digits(text: str, _: str) -> None:
    assert not re.search(r"\d", speakable(text))


@pytest.mark.parametrize(
    "text",
    ["99/99/2021", "25:99", "%%%", "--..--", "ABC.DEF.GHI", "١٢٣", "٠١", "9" * 40, "\x00"],
)
def test_speakable_never_raises(text: str) -> None:
    assert isinstance(speakable(text), str)


def test_other_scripts_digits() -> None:
    assert speakable("０９０１２３４５６７") == "không chín không một, hai ba bốn, năm sáu bảy"


def test_spell_code_letters() -> None:
    assert spell_code("H56") == "hát năm sáu"


MATCH = [
    ("Tra cứu HỒ SƠ!", "tra cứu hồ sơ", "tra cuu ho so"),
    ("Đăng ký kinh doanh.", "đăng ký kinh doanh", "dang ky kinh doanh"),
    ("số một", "số 1", "so 1"),
    ("không phải", "không phải", "khong phai"),
    ("tám bảy lăm ba", "8753", "8753"),
    (
        "một bốn chấm hát năm sáu gạch hai không",
        "14 . hát 56 - 20",
        "14 . hat 56 - 20",
    ),
    ("tôi muốn chấm điểm", "tôi muốn chấm điểm", "toi muon cham diem"),
    ("gạch ngang không một", "- 01", "- 01"),
    ("hồ sơ H56-200203", "hồ sơ h56-200203", "ho so h56-200203"),
    ("Ngày hai mươi chín", "ngày 29", "ngay 29"),
]


@pytest.mark.parametrize(("heard", "normal", "key"), MATCH)
def test_matching_forms(heard: str, normal: str, key: str) -> None:
    assert normalize_transcript(heard) == normal
    assert match_key(heard) == key


def test_fold_diacritics() -> None:
    assert fold_diacritics("Đường dây nóng Bà Rịa – Vũng Tàu") == "Duong day nong Ba Ria – Vung Tau"


def test_clean_transcript_nfc() -> None:
    decomposed = "ho\u0302\u0300 so\u031b"  # "hồ sơ" in NFD, as some recognisers emit it
    assert clean_transcript(decomposed) == "hồ sơ"
