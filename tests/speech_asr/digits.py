"""Digit extraction for the recognition tests: the project's own when present."""

from __future__ import annotations

_DIGIT_WORDS = {
    "không": "0", "một": "1", "mốt": "1", "hai": "2", "ba": "3", "bốn": "4", "tư": "4",
    "năm": "5", "lăm": "5", "nhăm": "5", "sáu": "6", "bảy": "7", "bẩy": "7", "tám": "8",
    "chín": "9",
}  # fmt: skip


def digits_of(transcript: str) -> str:
    """The digits spoken one by one in ``transcript``."""
    try:
        from speech.understand import extract_digits
    except ImportError:
        return "".join(_DIGIT_WORDS.get(w, "") for w in transcript.lower().split())
    return extract_digits(transcript)
