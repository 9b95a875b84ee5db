"""Understanding a caller's transcript: menu choices, digit strings and yes/no answers.

Everything works on the normalised forms of :mod:`speech.normalize`, so tone marks a recogniser
dropped, number words and punctuation do not get in the way. Matching is fuzzy: a score between a
lower and the main threshold asks the dialog to confirm aloud ("Ông bà muốn tra cứu hồ sơ, đúng
không?") instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from speech.normalize import clean_transcript, fold_diacritics, match_key
from speech.numbers_vi import NUMBER_WORDS, run_to_digits

DEFAULT_THRESHOLD = 0.8
"""At or above this score a choice is taken without asking."""

DEFAULT_CONFIRM_MARGIN = 0.2
"""Scores down to ``threshold - margin`` are taken after a spoken confirmation."""

AMBIGUITY_GAP = 0.05
"""Two different choices scoring within this gap of each other need a confirmation."""


WORD_MATCH_MIN = 0.5
"""A keyword word counts as heard when a transcript word is at least this similar to it."""

MISSING_WORD_PENALTY = 0.8
"""Fuzzy scores are scaled by this when a keyword word has no counterpart in the transcript."""


@dataclass(frozen=True)
class Match:
    """The choice a transcript selects, how sure the match is, and whether to confirm it aloud."""

    key: str
    score: float
    keyword: str
    confirm: bool


def _similarity(a: str, b: str) -> float:
    """Indel similarity 0-1 (the same measure as difflib's ratio), computed in C."""
    return float(fuzz.ratio(a, b)) / 100.0


def _word_heard(word: str, window: Sequence[str]) -> bool:
    return any(_similarity(word, w) >= WORD_MATCH_MIN for w in window)


def keyword_score(transcript_key: str, keyword_key: str) -> float:
    """How well a keyword appears in a transcript (both already in :func:`match_key` form), 0-1.

    1.0 when every word of the keyword appears in order; otherwise the best fuzzy ratio of the
    keyword against a window of the transcript's words of about the keyword's length (scaled
    down when a keyword word has no similar word there), or 0.95 times the share of the
    keyword's words present in any order, whichever is higher.
    """
    t_words = transcript_key.split()
    k_words = keyword_key.split()
    if not t_words or not k_words:
        return 0.0
    n = len(k_words)
    for i in range(len(t_words) - n + 1):
        if t_words[i : i + n] == k_words:
            return 1.0
    best = 0.0
    for size in {max(1, n - 1), n, n + 1}:
        for i in range(max(1, len(t_words) - size + 1)):
            window = t_words[i : i + size]
            ratio = _similarity(" ".join(window), keyword_key)
            if ratio > best and not all(_word_heard(k, window) for k in k_words):
                # A whole keyword word missing ("nhân dân" for "nhân viên") is worse than
                # the characters alone suggest.
                ratio *= MISSING_WORD_PENALTY
            best = max(best, ratio)
    present = sum(1 for w in k_words if w in t_words) / n
    return max(best, 0.95 * present if n > 1 else 0.0)


@lru_cache(maxsize=4096)
def _keyword_key(keyword: str, numbers: bool) -> str:
    # A menu's keywords are the same on every turn of every call: normalise each once.
    return match_key(keyword, numbers=numbers)


def match_choice(
    transcript: str,
    choices: Mapping[str, Sequence[str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    confirm_threshold: float | None = None,
) -> Match | None:
    """The choice whose keywords best match ``transcript``, or None when nothing is close enough.

    ``choices`` maps a choice key to its keywords and synonyms. A best score below
    ``confirm_threshold`` (default ``threshold - 0.2``) is no match; between it and ``threshold``,
    or when two different choices score almost the same, the match asks for confirmation.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    lower = threshold - DEFAULT_CONFIRM_MARGIN if confirm_threshold is None else confirm_threshold
    if lower > threshold:
        raise ValueError("confirm_threshold must not exceed threshold")
    heard = match_key(transcript)
    if not heard:
        return None
    heard_words = match_key(transcript, numbers=False)
    scored: list[tuple[float, str, str]] = []
    for key, keywords in choices.items():
        best: tuple[float, str] = (0.0, "")
        for keyword in keywords:
            score = max(
                keyword_score(heard, _keyword_key(keyword, True)),
                keyword_score(heard_words, _keyword_key(keyword, False)),
            )
            if score > best[0]:
                best = (score, keyword)
        scored.append((best[0], key, best[1]))
    if not scored:
        return None
    scored.sort(key=lambda s: s[0], reverse=True)
    score, key, keyword = scored[0]
    if score < lower or score == 0.0:
        return None
    ambiguous = len(scored) > 1 and scored[1][0] >= score - AMBIGUITY_GAP
    return Match(
        key=key, score=round(score, 3), keyword=keyword, confirm=score < threshold or ambiguous
    )


# ---------------------------------------------------------------------------------------------
# Digit strings

LETTER_WORDS: dict[tuple[str, ...], str] = {
    ("a",): "A",
    ("bê",): "B",
    ("bờ",): "B",
    ("xê",): "C",
    ("cờ",): "C",
    ("dê",): "D",
    ("đê",): "Đ",
    ("e",): "E",
    ("ép",): "F",
    ("gờ",): "G",
    ("giê",): "G",
    ("hát",): "H",
    ("hắt",): "H",
    ("hờ",): "H",
    ("i",): "I",
    ("ca",): "K",
    ("ka",): "K",
    ("e", "lờ"): "L",
    ("lờ",): "L",
    ("em", "mờ"): "M",
    ("em",): "M",
    ("mờ",): "M",
    ("en", "nờ"): "N",
    ("nờ",): "N",
    ("o",): "O",
    ("pê",): "P",
    ("quy",): "Q",
    ("e", "rờ"): "R",
    ("rờ",): "R",
    ("ét",): "S",
    ("ét", "xì"): "S",
    ("tê",): "T",
    ("u",): "U",
    ("vê",): "V",
    ("vê", "kép"): "W",
    ("ích", "xì"): "X",
    ("ích",): "X",
    ("i", "dài"): "Y",
    ("i", "cờ", "rếch"): "Y",
    ("dét",): "Z",
}
"""Spoken names of the letters that appear in dossier codes (e.g. the H of H56)."""

_SEPARATORS: dict[tuple[str, ...], str] = {
    ("gạch", "ngang"): "-",
    ("gạch", "nối"): "-",
    ("gạch", "giữa"): "-",
    ("gạch",): "-",
    ("chấm",): ".",
}
_AMBIGUOUS_LONE = frozenset({"không", "năm", "tư", "mốt", "lẻ", "linh"})


def _phrase_at(
    tokens: Sequence[str], i: int, table: Mapping[tuple[str, ...], str]
) -> tuple[str, int] | None:
    for length in (3, 2, 1):
        phrase = tuple(tokens[i : i + length])
        if len(phrase) == length and phrase in table:
            return table[phrase], length
    return None


def extract_digits(transcript: str, *, separators: bool = True, letters: bool = True) -> str:
    """The digit string a caller spoke: "không chín không một ..." -> "0901...".

    Number words become digits (read one by one or composed: "hai mươi mốt" -> "21"); with
    ``separators`` "chấm" and "gạch" become "." and "-"; with ``letters`` spelled letter names
    next to digits become capitals, so a spoken dossier code comes back as
    "000.00.14.H56-200203-0118". Filler words are skipped. Returns "" when no digit was heard.
    """
    tokens = clean_transcript(transcript).split()
    # Label the transcript as a sequence of pieces: digits, separators, letters or other words.
    pieces: list[tuple[str, str]] = []  # (kind, text)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in NUMBER_WORDS:
            j = i
            while j < len(tokens) and tokens[j] in NUMBER_WORDS:
                j += 1
            run = tokens[i:j]
            kind = "lone" if len(run) == 1 and run[0] in _AMBIGUOUS_LONE else "digits"
            pieces.append((kind, run_to_digits(run)))
            i = j
            continue
        if token.isdigit() and token.isascii():
            pieces.append(("digits", token))
            i += 1
            continue
        if all(c.isascii() and (c.isalnum() or c in ".-") for c in token) and any(
            c.isdigit() for c in token
        ):
            # A recogniser that already wrote "000.00.14" or "h56".
            pieces.append(("digits", token.upper() if letters else _only_digits(token)))
            i += 1
            continue
        sep = _phrase_at(tokens, i, _SEPARATORS)
        if sep is not None:
            pieces.append(("sep", sep[0]))
            i += sep[1]
            continue
        letter = _phrase_at(tokens, i, LETTER_WORDS)
        if letter is not None:
            pieces.append(("letter", letter[0]))
            i += letter[1]
            continue
        pieces.append(("other", token))
        i += 1
    # Keep each stretch of non-filler pieces that holds at least one sure digit.
    out: list[str] = []
    region: list[tuple[str, str]] = []
    for piece in [*pieces, ("other", "")]:
        if piece[0] != "other":
            region.append(piece)
            continue
        if any(kind == "digits" for kind, _ in region):
            out.append(_join_region(region, separators=separators, letters=letters))
        region = []
    return _tidy("".join(out))


def _only_digits(token: str) -> str:
    return "".join(c for c in token if c.isdigit() or c in ".-")


def _join_region(region: Sequence[tuple[str, str]], *, separators: bool, letters: bool) -> str:
    parts: list[str] = []
    for kind, text in region:
        if kind in ("digits", "lone"):
            parts.append(text if separators else text.replace(".", "").replace("-", ""))
        elif (kind == "sep" and separators) or (kind == "letter" and letters):
            parts.append(text)
    return "".join(parts)


def _tidy(code: str) -> str:
    """Drop separators at the ends and doubled separators ("chấm chấm")."""
    out: list[str] = []
    for c in code:
        if c in ".-" and (not out or out[-1] in ".-"):
            continue
        out.append(c)
    while out and out[-1] in ".-":
        out.pop()
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Yes / no

_YES, _YES_WEAK, _NO, _UNSURE = "yes", "yes-weak", "no", "unsure"
_ANSWERS: dict[tuple[str, ...], str] = {
    # "I don't know" is neither: ask again.
    ("không", "biết"): _UNSURE,
    ("không", "rõ"): _UNSURE,
    ("không", "nhớ"): _UNSURE,
    ("không", "hiểu"): _UNSURE,
    ("chưa", "biết"): _UNSURE,
    # Negations first in meaning: "không phải", "không có" are "no" even though they hold a yes.
    ("không", "phải"): _NO,
    ("không", "đúng"): _NO,
    ("không", "có"): _NO,
    ("không", "được"): _NO,
    ("không", "ạ"): _NO,
    ("chưa", "đúng"): _NO,
    ("chưa", "phải"): _NO,
    ("sai", "rồi"): _NO,
    ("nhầm", "rồi"): _NO,
    ("không",): _NO,
    ("sai",): _NO,
    ("chưa",): _NO,
    ("nhầm",): _NO,
    ("đừng",): _NO,
    ("no",): _NO,
    # "không sai" (not wrong) is a yes.
    ("không", "sai"): _YES,
    ("đúng", "rồi"): _YES,
    ("đúng", "vậy"): _YES,
    ("đúng", "thế"): _YES,
    ("chính", "xác"): _YES,
    ("đồng", "ý"): _YES,
    ("có",): _YES,
    ("đúng",): _YES,
    ("vâng",): _YES,
    ("phải",): _YES,
    ("được",): _YES,
    ("ok",): _YES,
    ("oke",): _YES,
    ("okay",): _YES,
    ("yes",): _YES,
    ("chuẩn",): _YES,
    # Politeness particles: a yes on their own, nothing next to a "không" ("dạ không" is no).
    ("dạ",): _YES_WEAK,
    ("ừ",): _YES_WEAK,
    ("ừm",): _YES_WEAK,
    ("ờ",): _YES_WEAK,
    ("rồi",): _YES_WEAK,
}
_FOLDED_ANSWERS: dict[tuple[str, ...], str] = {
    tuple(fold_diacritics(w) for w in phrase): kind for phrase, kind in _ANSWERS.items()
}


def _answer_kinds(tokens: Sequence[str], table: Mapping[tuple[str, ...], str]) -> list[str]:
    kinds: list[str] = []
    i = 0
    while i < len(tokens):
        found = _phrase_at(tokens, i, table)
        if found is None:
            i += 1
            continue
        kinds.append(found[0])
        i += found[1]
    return kinds


def yes_no(transcript: str) -> bool | None:
    """True for a yes ("có", "đúng", "vâng", "dạ", "phải"), False for a no ("không", "sai",
    "không phải"), None when the answer is missing or contradicts itself ("phải không")."""
    tokens = clean_transcript(transcript).split()
    kinds = _answer_kinds(tokens, _ANSWERS)
    if not kinds:
        # A recogniser that lost the tone marks: "khong phai".
        kinds = _answer_kinds([fold_diacritics(t) for t in tokens], _FOLDED_ANSWERS)
    yes, weak, no = (_YES in kinds), (_YES_WEAK in kinds), (_NO in kinds)
    if (no and yes) or (_UNSURE in kinds and not (yes or no)):
        return None
    if no:
        return False
    if yes or weak:
        return True
    return None
