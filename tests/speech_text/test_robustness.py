"""Arbitrary input never crashes the text functions (a caller's transcript is untrusted)."""

from __future__ import annotations

import random

from speech.normalize import match_key, normalize_transcript, speakable
from speech.understand import extract_digits, match_choice, yes_no

ALPHABET = (
    "0123456789 .,-/:%&h+đĐăâêôơưáàảãạếềểễệốồổỗộớờởỡợúùủũụABCHNTVXabcmnot\t\n\u0301\u0300١٢０"
)
WORDS = [
    "không",
    "một",
    "mốt",
    "năm",
    "lăm",
    "mươi",
    "trăm",
    "nghìn",
    "tỷ",
    "linh",
    "chấm",
    "gạch",
    "hát",
    "rưỡi",
    "có",
    "phải",
    "dạ",
    "ngày",
    "tháng",
    "mã",
    "tổng đài",
    "thứ",
]


def _samples(n: int) -> list[str]:
    rng = random.Random(4)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40))))
        else:
            out.append(
                " ".join(
                    rng.choice([*WORDS, str(rng.randint(0, 10**12))])
                    for _ in range(rng.randint(0, 12))
                )
            )
    return out


def test_text_functions_accept_anything() -> None:
    menu = {"a": ["tra cứu hồ sơ"], "b": ["số một"], "c": [""]}
    for text in _samples(300):
        assert isinstance(speakable(text), str)
        assert isinstance(normalize_transcript(text), str)
        assert isinstance(match_key(text), str)
        digits = extract_digits(text)
        assert all(c.isalnum() or c in ".-" for c in digits)
        assert yes_no(text) in (True, False, None)
        match = match_choice(text, menu)
        assert match is None or 0.0 < match.score <= 1.0
