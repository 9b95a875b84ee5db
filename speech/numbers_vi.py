"""Vietnamese number words, both directions.

Speaking: ``number_to_words(14198)`` gives "mười bốn nghìn một trăm chín mươi tám", following the
usual reading rules: "mốt" for a final 1 after a tens word from twenty on, "tư" for a final 4 after
twenty, "lăm" for a final 5 after any tens word, "linh" for a units digit after an empty tens place,
and "không trăm" for an empty hundreds place inside a larger number.

Understanding: ``words_to_digits("tám bảy lăm ba")`` gives "8753" and ``"hai mươi mốt"`` gives
"21". Transcripts of callers mix digit-by-digit readings and composed numbers, so a run of number
words is split into numbers wherever the grammar of a composed number cannot continue, and the
numbers' digits are joined.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DIGITS: tuple[str, ...] = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

_SCALES: tuple[tuple[int, str], ...] = ((10**9, "tỷ"), (10**6, "triệu"), (10**3, "nghìn"))

MAX_SPOKEN = 10**18 - 1
"""Largest number :func:`number_to_words` reads as a quantity."""


class NumberWordsError(ValueError):
    """A number cannot be read as Vietnamese words."""


def digit_word(d: int) -> str:
    """The plain word of one digit (0-9), as read digit by digit."""
    if not 0 <= d <= 9:
        raise NumberWordsError(f"not a digit: {d}")
    return DIGITS[d]


def digits_to_words(digits: str) -> str:
    """Read a digit string one digit at a time: "0118" -> "không một một tám"."""
    if not digits.isdigit() or not digits.isascii():
        raise NumberWordsError(f"not a digit string: {digits!r}")
    return " ".join(DIGITS[int(c)] for c in digits)


def _below_thousand(n: int, full: bool) -> list[str]:
    """Words for 0 < n < 1000; ``full`` reads an empty hundreds place ("không trăm", "linh")."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    words: list[str] = []
    if hundreds or full:
        words += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if words:
                words.append("linh")
            words.append(DIGITS[units])
        return words
    if tens == 1:
        words.append("mười")
    else:
        words += [DIGITS[tens], "mươi"]
    if units == 1:
        words.append("mốt" if tens >= 2 else "một")
    elif units == 4:
        words.append("tư" if tens >= 2 else "bốn")
    elif units == 5:
        words.append("lăm")
    elif units:
        words.append(DIGITS[units])
    return words


def _words(n: int, full: bool) -> list[str]:
    """Words for 0 < n, splitting off the largest scale first (tỷ repeats for larger numbers)."""
    for scale, name in _SCALES:
        if n >= scale:
            high, low = divmod(n, scale)
            words = [*_words(high, full), name]
            if low:
                words += _words(low, True)
            return words
    return _below_thousand(n, full)


def number_to_words(n: int) -> str:
    """Read a whole number as a quantity: 14198 -> "mười bốn nghìn một trăm chín mươi tám"."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise NumberWordsError(f"not an integer: {n!r}")
    if n < 0:
        return "âm " + number_to_words(-n)
    if n > MAX_SPOKEN:
        raise NumberWordsError(f"number too large to read as a quantity: {n}")
    if n == 0:
        return DIGITS[0]
    return " ".join(_words(n, False))


# ---------------------------------------------------------------------------------------------
# Words -> digits

_DIGIT_WORDS: dict[str, int] = {
    "không": 0,
    "một": 1,
    "mốt": 1,
    "hai": 2,
    "ba": 3,
    "bốn": 4,
    "tư": 4,
    "năm": 5,
    "lăm": 5,
    "nhăm": 5,
    "răm": 5,
    "sáu": 6,
    "bảy": 7,
    "bẩy": 7,
    "tám": 8,
    "chín": 9,
}
_TEN = {"mười"}
_TENS = {"mươi", "chục", "mơi"}
_HUNDRED = {"trăm"}
_ZERO_TENS = {"linh", "lẻ"}
_HALF = {"rưỡi"}
_SCALE_WORDS: dict[str, int] = {
    "nghìn": 10**3,
    "ngàn": 10**3,
    "triệu": 10**6,
    "tỷ": 10**9,
    "tỉ": 10**9,
}
# Southern contractions: "hăm mốt" = hai mươi mốt, "băm hai" = ba mươi hai.
_CONTRACTIONS: dict[str, tuple[str, ...]] = {"hăm": ("hai", "mươi"), "băm": ("ba", "mươi")}

NUMBER_WORDS: frozenset[str] = frozenset(
    set(_DIGIT_WORDS)
    | _TEN
    | _TENS
    | _HUNDRED
    | _ZERO_TENS
    | _HALF
    | set(_SCALE_WORDS)
    | set(_CONTRACTIONS)
)
"""Every word that can be part of a spoken number."""

# Words that, standing alone, are far more often something else: "không" (no), "năm" (year),
# "tư" (private), "mốt" (the day after tomorrow), "lẻ" (odd) ...
_AMBIGUOUS_ALONE = frozenset(
    {"không", "năm", "tư", "mốt", "linh", "lẻ", "răm", "chục", "mơi", "mươi", "rưỡi", "trăm"}
    | set(_SCALE_WORDS)
)


@dataclass
class _Number:
    """One composed number being read; ``pending`` is a digit whose place is not yet known."""

    total: int = 0
    group: int = 0
    pending: int | None = None
    last: str = "start"  # start | digit | ten | tens | hundred | linh | scale | unit
    pending_after: str = "start"  # what came just before the pending digit
    last_scale: int = 1
    hundreds_set: bool = False
    tens_set: bool = False
    started: bool = False

    def value(self) -> int:
        group = self.group
        total = self.total
        if self.pending is not None:
            if self.pending_after == "hundred":
                # "một trăm hai" is a hundred and twenty.
                group += self.pending * 10
            elif self.pending_after == "scale" and self.last_scale >= 1000 and self.group == 0:
                # "ba nghìn hai" is three thousand two hundred.
                total += self.pending * (self.last_scale // 10)
            else:
                group += self.pending
        return total + group


def _feed(num: _Number, word: str) -> bool:
    """Add ``word`` to ``num``; False when the word must start a new number instead."""
    last = num.last
    if word in _DIGIT_WORDS:
        d = _DIGIT_WORDS[word]
        if num.pending is not None or last in ("unit", "digit"):
            return False
        if last in ("ten", "tens", "linh"):
            num.group += d
            num.last = "unit"
        else:
            num.pending = d
            num.pending_after = last
            num.last = "digit"
    elif word in _TEN:
        if num.pending is not None or num.tens_set or last in ("unit", "digit"):
            return False
        num.group += 10
        num.tens_set = True
        num.last = "ten"
    elif word in _TENS:
        if num.pending is None or num.tens_set:
            return False
        num.group += num.pending * 10
        num.pending = None
        num.tens_set = True
        num.last = "tens"
    elif word in _HUNDRED:
        if num.hundreds_set or num.tens_set or last == "unit":
            return False
        num.group += 100 * (1 if num.pending is None else num.pending)
        num.pending = None
        num.hundreds_set = True
        num.last = "hundred"
    elif word in _ZERO_TENS:
        if last not in ("hundred", "scale") or num.tens_set:
            return False
        num.tens_set = True
        num.last = "linh"
    elif word in _HALF:
        if last == "scale":
            num.total += num.last_scale // 2
        elif last == "hundred":
            num.group += 50
        else:
            return False
        num.last = "unit"
    elif word in _SCALE_WORDS:
        scale = _SCALE_WORDS[word]
        if last == "scale" and scale <= num.last_scale and scale != 10**9:
            return False
        if num.total and scale == num.last_scale and scale != 10**9:
            return False  # "hai nghìn ba nghìn" is two numbers
        group = num.group + (num.pending or 0)
        if group == 0 and num.pending is None and not num.hundreds_set and num.total == 0:
            group = 1  # "nghìn" alone, as in "trăm nghìn" handled above, or "nghìn tỷ"
        if num.total and scale > num.last_scale:
            num.total = (num.total + group) * scale  # "một nghìn tỷ"
        else:
            num.total += group * scale
        num.group = 0
        num.pending = None
        num.hundreds_set = num.tens_set = False
        num.last_scale = scale
        num.last = "scale"
    else:
        return False
    num.started = True
    return True


def parse_numbers(words: Sequence[str]) -> list[int]:
    """Split a run of number words into the numbers it speaks.

    ``["tám", "bảy", "lăm", "ba"]`` -> ``[8, 7, 5, 3]``; ``["hai", "mươi", "mốt"]`` -> ``[21]``.
    Raises :class:`NumberWordsError` for a word that is not a number word.
    """
    expanded: list[str] = []
    for word in words:
        w = word.lower()
        if w not in NUMBER_WORDS:
            raise NumberWordsError(f"not a number word: {word!r}")
        expanded.extend(_CONTRACTIONS.get(w, (w,)))
    numbers: list[int] = []
    current = _Number()
    for w in expanded:
        if _feed(current, w):
            continue
        if current.started:
            numbers.append(current.value())
        current = _Number()
        if not _feed(current, w):
            # A word that cannot start a number ("mươi", "linh" alone): read what it can mean.
            if w in _DIGIT_WORDS:
                numbers.append(_DIGIT_WORDS[w])
            current = _Number()
    if current.started:
        numbers.append(current.value())
    return numbers


def run_to_digits(words: Sequence[str]) -> str:
    """The digit string of a run of number words: the spoken numbers' digits, joined."""
    return "".join(str(n) for n in parse_numbers(words))


_WORD_RE = re.compile(r"\S+")


def words_to_digits(text: str) -> str:
    """Replace every run of number words in ``text`` by its digits; other words stay.

    ``"mã số tám bảy lăm ba"`` -> ``"mã số 8753"``. Expects lower-case, NFC text with words
    separated by spaces. A lone word that usually means something else ("không" as "no", "năm" as
    "year") stays a word, and "năm" before a year ("năm hai nghìn ...") stays "năm".
    """
    tokens = _WORD_RE.findall(text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] not in NUMBER_WORDS:
            out.append(tokens[i])
            i += 1
            continue
        j = i
        while j < len(tokens) and tokens[j] in NUMBER_WORDS:
            j += 1
        for part in _split_years(tokens[i:j]):
            if len(part) == 1 and part[0] in _AMBIGUOUS_ALONE:
                out.append(part[0])
            else:
                out.append(run_to_digits(part))
        i = j
    return " ".join(out)


def _split_years(run: list[str]) -> list[list[str]]:
    """Keep "năm" as the word "year" where a year follows ("tháng mười hai năm hai nghìn ...")."""
    for k, word in enumerate(run):
        if (
            word == "năm"
            and k + 2 < len(run)
            and run[k + 1] in _DIGIT_WORDS
            and any(w in _SCALE_WORDS for w in run[k + 2 : k + 4])
        ):
            head = [run[:k]] if k else []
            return [*head, ["năm"], *_split_years(run[k + 1 :])]
    return [run]
