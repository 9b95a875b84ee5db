"""Vietnamese text normalisation, in two directions.

For matching what a caller said (:func:`normalize_transcript`, :func:`match_key`): NFC, lower case,
punctuation stripped, number words turned into digits, "chấm" and "gạch" between digits turned into
"." and "-", and a diacritic-insensitive key (đ -> d) so that a recogniser's missing tones still
match.

For speaking (:func:`speakable`): everything a synthesiser would misread is written out as words:
numbers with Vietnamese thousands separators and decimal commas, dates, times, money, percentages,
phone numbers, the administrative abbreviations, and dossier codes read in groups with their
letters spelled.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from speech.numbers_vi import digits_to_words, number_to_words, words_to_digits

# ---------------------------------------------------------------------------------------------
# Matching


def fold_diacritics(text: str) -> str:
    """Drop tone marks and vowel diacritics, đ -> d: "Đăng ký" -> "Dang ky"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped)


_KEEP_INSIDE = re.compile(r"(?<=\w)[.\-](?=\w)")
_NOT_WORD = re.compile(r"[^\w\s.\-]|_")
_LOOSE_SEP = re.compile(r"(?:(?<!\w)[.\-]|[.\-](?!\w))")
_SPACES = re.compile(r"\s+")


def clean_transcript(text: str) -> str:
    """NFC, lower case, punctuation replaced by spaces ("." and "-" kept inside codes)."""
    text = unicodedata.normalize("NFC", text).lower()
    text = _NOT_WORD.sub(" ", text)
    text = _LOOSE_SEP.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


_SEPARATOR_WORDS: dict[tuple[str, ...], str] = {
    ("gạch", "ngang"): "-",
    ("gạch", "nối"): "-",
    ("gạch", "giữa"): "-",
    ("gạch",): "-",
    ("chấm",): ".",
}
_DIGITISH = re.compile(r"^[0-9]+$")


def _separators(tokens: list[str]) -> list[str]:
    """Turn "chấm"/"gạch" into "." / "-" where a digit string stands on at least one side."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for words, sep in _SEPARATOR_WORDS.items():
            n = len(words)
            if tuple(tokens[i : i + n]) != words:
                continue
            before = bool(out) and _DIGITISH.match(out[-1]) is not None
            after = i + n < len(tokens) and _DIGITISH.match(tokens[i + n]) is not None
            if before or after:
                out.append(sep)
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def normalize_transcript(text: str) -> str:
    """A transcript ready for matching: cleaned, number words as digits, "chấm" -> "."."""
    cleaned = words_to_digits(clean_transcript(text))
    return " ".join(_separators(cleaned.split()))


def match_key(text: str, *, numbers: bool = True) -> str:
    """The diacritic-insensitive matching form: ``fold_diacritics(normalize_transcript(text))``.

    With ``numbers=False`` number words stay words, for transcripts whose recogniser dropped the
    tone marks ("so mot") and so lost the number words.
    """
    return fold_diacritics(normalize_transcript(text) if numbers else clean_transcript(text))


# ---------------------------------------------------------------------------------------------
# Speaking

ABBREVIATIONS: dict[str, str] = {
    "TTHC": "thủ tục hành chính",
    "CCHC": "cải cách hành chính",
    "DN": "doanh nghiệp",
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "BR-VT": "Bà Rịa, Vũng Tàu",
    "BRVT": "Bà Rịa, Vũng Tàu",
    "TN-MT": "Tài nguyên và Môi trường",
    "TN&MT": "Tài nguyên và Môi trường",
    "TNMT": "Tài nguyên và Môi trường",
    "TT-TT": "Thông tin và Truyền thông",
    "TT&TT": "Thông tin và Truyền thông",
    "TTTT": "Thông tin và Truyền thông",
    "CNTT": "công nghệ thông tin",
    "DVC": "dịch vụ công",
    "CBCCVC": "cán bộ, công chức, viên chức",
    "CCCD": "căn cước công dân",
    "CMND": "chứng minh nhân dân",
    "SĐT": "số điện thoại",
    "TP": "thành phố",
}
"""Abbreviations read out in full; CONTEXT's list plus a few common on the same line of work."""

LETTER_NAMES: dict[str, str] = {
    "A": "a",
    "B": "bê",
    "C": "xê",
    "D": "dê",
    "Đ": "đê",
    "E": "e",
    "F": "ép",
    "G": "gờ",
    "H": "hát",
    "I": "i",
    "J": "gi",
    "K": "ca",
    "L": "e lờ",
    "M": "em mờ",
    "N": "en nờ",
    "O": "o",
    "P": "pê",
    "Q": "quy",
    "R": "e rờ",
    "S": "ét",
    "T": "tê",
    "U": "u",
    "V": "vê",
    "W": "vê kép",
    "X": "ích",
    "Y": "i dài",
    "Z": "dét",
}
"""How a letter of a code is spelled out on the phone."""

_SEP_NAMES = {".": "chấm", "-": "gạch", "/": "xuyệt"}
_MONTHS = {1: "một", 4: "tư"}


def spell_code(code: str) -> str:
    """Read a code in groups: digits one by one, letters spelled, a pause after each separator.

    "000.00.14.H56-200203-0118" -> "không không không chấm, không không chấm, một bốn chấm,
    hát năm sáu gạch, hai không không hai không ba gạch, không một một tám".
    """
    groups: list[str] = []
    current: list[str] = []
    for ch in code.upper():
        if ch.isdigit() and ch.isascii():
            current.append(digits_to_words(ch))
        elif ch in LETTER_NAMES:
            current.append(LETTER_NAMES[ch])
        elif ch in _SEP_NAMES:
            current.append(_SEP_NAMES[ch])
            groups.append(" ".join(current))
            current = []
    if current:
        groups.append(" ".join(current))
    return ", ".join(g for g in groups if g)


def _day_words(day: int) -> str:
    return ("mùng " if day <= 10 else "") + number_to_words(day)


def _month_words(month: int) -> str:
    return _MONTHS.get(month, number_to_words(month))


def _valid_date(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def _date(m: re.Match[str]) -> str:
    day, month, year = int(m["d"]), int(m["m"]), int(m["y"])
    if not _valid_date(day, month):
        return m[0]
    return f"ngày {_day_words(day)} tháng {_month_words(month)} năm {number_to_words(year)}"


def _day_month(m: re.Match[str]) -> str:
    day, month = int(m["d"]), int(m["m"])
    if not _valid_date(day, month):
        return m[0]
    return f"ngày {_day_words(day)} tháng {_month_words(month)}"


def _month_year(m: re.Match[str]) -> str:
    month, year = int(m["m"]), int(m["y"])
    if not 1 <= month <= 12:
        return m[0]
    return f"tháng {_month_words(month)} năm {number_to_words(year)}"


def _time(m: re.Match[str]) -> str:
    hour = int(m["h"])
    minute = int(m["min"] or m["m2"] or 0)
    if hour > 24 or minute > 59:
        return m[0]
    words = f"{number_to_words(hour)} giờ"
    if minute:
        words += f" {number_to_words(minute)} phút"
    return words


def _integer_words(digits: str) -> str:
    """A whole number as a quantity, or digit by digit when it starts with 0 or is very long."""
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > 15:
        return digits_to_words(digits)
    return number_to_words(int(digits))


def _decimal_words(whole: str, fraction: str | None) -> str:
    words = _integer_words(whole.replace(".", ""))
    if fraction:
        words += " phẩy " + _integer_words(fraction)
    return words


def _amount(m: re.Match[str]) -> str:
    return _decimal_words(m["n"], m["f"])


def _money(m: re.Match[str]) -> str:
    return _decimal_words(m["n"], m["f"]) + " đồng"


def _percent(m: re.Match[str]) -> str:
    return _decimal_words(m["n"], m["f"]) + " phần trăm"


def _phone(m: re.Match[str]) -> str:
    number = m["p"].replace("+84", "0", 1)
    digits = re.sub(r"\D", "", number)
    if not 10 <= len(digits) <= 11:
        return m[0]
    groups = re.split(r"[ .]", number)
    if len(groups) == 1:
        # Read in the 4-3-3 (or 4-3-4) groups people use when they say a mobile number.
        groups = [digits[:4], digits[4:7], digits[7:]]
    return ", ".join(digits_to_words(g) for g in groups)


def _digits_after(m: re.Match[str]) -> str:
    """Numbers that name something (hotline, code, receipt) are read digit by digit."""
    return f"{m['w']} " + ", ".join(digits_to_words(g) for g in m["n"].split())


def _code(m: re.Match[str]) -> str:
    text = m[0]
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", text):
        return text  # a number with thousands separators, read later as a quantity
    return spell_code(text) + ","  # a pause before the sentence goes on


def _ordinal(m: re.Match[str]) -> str:
    n = int(m["n"])
    word = {1: "nhất", 4: "tư"}.get(n) or _integer_words(m["n"])
    return f"{m['w']} {word}"


def _dotted(m: re.Match[str]) -> str:
    return f"{_integer_words(m['a'])} chấm {_integer_words(m['b'])}"


def _range(m: re.Match[str]) -> str:
    return f"{_integer_words(m['a'])} đến {_integer_words(m['b'])}{m['u']}"


def _abbreviation_rule() -> tuple[re.Pattern[str], Callable[[re.Match[str]], str]]:
    names = sorted(ABBREVIATIONS, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w&\-])(" + "|".join(map(re.escape, names)) + r")(?![\w&\-])")
    return pattern, lambda m: ABBREVIATIONS[m[1]]


_END = r"(?![\w\-]|\.\w)"  # end of a code: a full stop may follow, another group may not
_N = r"(?P<n>\d{1,3}(?:\.\d{3})+|\d+)(?:,(?P<f>\d+))?"
_UNITS = r"(?P<u>\s*(?:ngày|tuần|tháng|năm|giờ|phút|người|%))"

_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    _abbreviation_rule(),
    # National dossier code: 000.00.14.H56-200203-0118.
    (re.compile(r"(?<![\w.])\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}" + _END), _code),
    # Phone numbers, hotlines and other numbers that are read digit by digit.
    (
        re.compile(r"(?<![\w.+])(?P<p>(?:\+84|0)\d{1,3}(?:[ .]?\d{2,4}){2,3})(?![\w.])"),
        _phone,
    ),
    (
        re.compile(
            r"(?P<w>(?i:tổng đài|đường dây nóng|hotline|số điện thoại|số máy lẻ|máy lẻ|số hiệu"
            r"|mã số|mã hồ sơ|mã|số biên nhận|biên nhận|số hồ sơ)(?:\s+(?i:là))?)"
            r"\s+(?P<n>\d+(?: \d+)*)(?!\w|[.,/\-]\w)"
        ),
        _digits_after,
    ),
    # Dates: 29/12/2021, 29-12-2021, 29.12.2021, 2021-12-29; "ngày 29/12"; "tháng 12/2021".
    (
        re.compile(
            r"(?:(?i:ngày)\s+)?(?<!\d)(?P<d>\d{1,2})([/.\-])(?P<m>\d{1,2})\2(?P<y>\d{4})(?!\d)"
        ),
        _date,
    ),
    (
        re.compile(r"(?:(?i:ngày)\s+)?(?<!\d)(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?!\d)"),
        _date,
    ),
    (re.compile(r"(?i:ngày)\s+(?P<d>\d{1,2})/(?P<m>\d{1,2})(?![\d/])"), _day_month),
    (re.compile(r"(?i:tháng)\s+(?P<m>\d{1,2})/(?P<y>\d{4})(?!\d)"), _month_year),
    # The tail of a dossier code (reception date and sequence, 200203-0118), and letter-digit
    # groups joined by a separator (H56-200203).
    (re.compile(r"(?<![\w.\-])\d{6}-\d{4}" + _END), _code),
    (re.compile(r"(?<![\w.\-])[A-Z]+\d+(?:[.\-][A-Z0-9]+)+(?![\w\-])"), _code),
    # Other codes: receipt numbers and the like, letters and digits in 3+ groups.
    (
        re.compile(r"(?<![\w.])(?=[A-Z0-9.\-]*\d)[A-Z0-9]+(?:[.\-][A-Z0-9]+){2,}(?![\w])"),
        _code,
    ),
    # Times: 7h30-11h30 is "from ... to ...", then 8h30, 8h, 08:30.
    (
        re.compile(r"(?<![\d:])(\d{1,2}(?:h\d{2}|h|:\d{2}))\s*[-–]\s*(?=\d{1,2}(?:h|:\d{2}))"),
        lambda m: f"{m[1]} đến ",
    ),
    (re.compile(r"(?<![\d:])(?P<h>\d{1,2})(?::(?P<min>\d{2})(?![\d:])|h(?P<m2>\d{2})?\b)"), _time),
    (re.compile(r"(?P<w>(?i:thứ))\s+(?P<n>\d{1,2})\b"), _ordinal),
    (re.compile(r"(?<![\d.,])(?P<a>\d+)\s*[-–]\s*(?P<b>\d+)" + _UNITS), _range),
    (re.compile(_N + r"\s*(?:đồng|đ|VNĐ|VND|vnđ|vnd)(?!\w)"), _money),
    (re.compile(_N + r"\s*%"), _percent),
    (re.compile(r"(?<![\d.])(?P<a>\d+)\.(?P<b>\d{1,2}|\d{4,})(?![\d.])"), _dotted),
    (re.compile(r"(?<=\d)\s*/\s*(?=\d)"), lambda m: " trên "),
    (re.compile(r"(?<![\d,])" + _N + r"(?!\d)"), _amount),
    (re.compile(r"\s*&\s*"), lambda m: " và "),
    (re.compile(r"(?<=\w)\s*%"), lambda m: " phần trăm"),
]


def _ascii_digits(text: str) -> str:
    """Other scripts' digits (full-width, Arabic-Indic ...) as 0-9, so every rule sees them."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text
    )


_DOUBLE_PAUSE = re.compile(r",\s*([,.;:!?)])")


def speakable(text: str) -> str:
    """Text as a Vietnamese synthesiser should read it: no digits or abbreviations left.

    "Hồ sơ hẹn trả ngày 29/12/2021, phí 1.500.000 đồng" -> "Hồ sơ hẹn trả ngày hai mươi chín
    tháng mười hai năm hai nghìn không trăm hai mươi mốt, phí một triệu năm trăm nghìn đồng".
    """
    text = _ascii_digits(unicodedata.normalize("NFC", text))
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    text = _DOUBLE_PAUSE.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip().rstrip(",")
