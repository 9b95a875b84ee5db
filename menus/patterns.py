"""Input patterns an admin may publish, and the one engine that runs them.

A pattern rule is run by RE2 (linear time in the input, no backtracking), never by Python's
``re``. Validation also refuses what it cannot bound, so a published tree stays harmless under
any engine it may later be exported to:

- longer than :data:`MAX_PATTERN_LENGTH` characters;
- anything RE2 refuses (back-references, look-around);
- an unbounded repetition (``*``, ``+``, ``{m,}``): the longest value must be finite;
- a repetition of something that itself repeats (``(0*)*``, ``(a{1,3}){2}``): the shape behind
  catastrophic backtracking;
- a longest match above :data:`MAX_PATTERN_INPUT` characters (what a caller can enter).

:func:`pattern_problem` gives the reason in words; :func:`pattern_matches` runs a pattern against
a value no longer than :data:`MAX_PATTERN_INPUT`.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from typing import Any

import re2

MAX_PATTERN_LENGTH = 200
"""Characters in a pattern."""

MAX_PATTERN_INPUT = 40
"""Characters a caller's value may have for a pattern rule (longer values never match)."""

_RE2_MAX_MEM = 1 << 20  # bytes for the compiled automaton: a published pattern is small


class PatternError(ValueError):
    """A pattern that cannot be published, with the reason and where it was found."""


@dataclass
class _Scan:
    """Recursive-descent walk of a pattern computing its longest match."""

    text: str
    pos: int = 0

    def fail(self, reason: str) -> PatternError:
        return PatternError(f"{reason} at position {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def alternation(self) -> tuple[int, bool]:
        """Longest width of ``a|b|…`` and whether any part of it repeats a variable number of
        times (such a part may not be repeated again: the backtracking blow-up's shape)."""
        width, repeats = self.sequence()
        while self.peek() == "|":
            self.pos += 1
            w, r = self.sequence()
            width, repeats = max(width, w), repeats or r
        return width, repeats

    def sequence(self) -> tuple[int, bool]:
        width, repeats = 0, False
        while self.peek() not in ("", "|", ")"):
            start = self.pos
            atom_width, atom_repeats = self.atom()
            low_high = self.quantifier()
            if low_high is not None:
                low, high = low_high
                if atom_repeats and high > 1:
                    quoted = self.text[start : self.pos]
                    raise self.fail(f"repetition of a repeated part {quoted!r}")
                atom_width *= high
                atom_repeats = atom_repeats or low != high
            width, repeats = width + atom_width, repeats or atom_repeats
        return width, repeats

    def atom(self) -> tuple[int, bool]:
        char = self.peek()
        self.pos += 1
        if char == "(":
            if self.peek() == "?":
                self.group_flag()
            width, repeats = self.alternation()
            if self.peek() != ")":
                raise self.fail("unbalanced parenthesis")
            self.pos += 1
            return width, repeats
        if char == "[":
            self.char_class()
            return 1, False
        if char == "\\":
            if self.pos >= len(self.text):
                raise self.fail("trailing backslash")
            escaped = self.text[self.pos]
            self.pos += 1
            return (0 if escaped in "bBAz" else 1), False
        if char in "^$":
            return 0, False
        if char in "*+?{":
            raise self.fail(f"nothing to repeat before {char!r}")
        return 1, False

    def group_flag(self) -> None:
        self.pos += 1
        if self.text.startswith(":", self.pos):
            self.pos += 1
        elif self.text.startswith("P<", self.pos):
            end = self.text.find(">", self.pos)
            if end < 0:
                raise self.fail("unterminated group name")
            self.pos = end + 1
        else:
            raise self.fail("only (?:…) and (?P<name>…) groups are allowed")

    def char_class(self) -> None:
        if self.peek() == "^":
            self.pos += 1
        if self.peek() == "]":
            self.pos += 1
        while self.peek() not in ("", "]"):
            self.pos += 2 if self.peek() == "\\" else 1
        if self.peek() != "]":
            raise self.fail("unterminated character class")
        self.pos += 1

    def quantifier(self) -> tuple[int, int] | None:
        """``(min, max)`` of the repetition at the cursor, or None; refuses unbounded ones."""
        char = self.peek()
        if char in ("*", "+"):
            raise self.fail(f"unbounded repetition {char!r} (write an upper bound, e.g. {{0,9}})")
        if char == "?":
            self.pos += 1
            bounds = (0, 1)
        elif char == "{":
            bounds = self.braces()
        else:
            return None
        if self.peek() in ("?", "+"):
            raise self.fail("lazy and possessive repetitions are not allowed")
        return bounds

    def braces(self) -> tuple[int, int]:
        end = self.text.find("}", self.pos)
        if end < 0:
            raise self.fail("unterminated {")
        body = self.text[self.pos + 1 : end]
        low, _, high = body.partition(",")
        if "," in body and not high.strip():
            raise self.fail(f"unbounded repetition {{{body}}} (write an upper bound)")
        high = high if "," in body else low
        if not (low.strip().isdigit() and high.strip().isdigit()):
            raise self.fail(f"bad repetition {{{body}}}")
        self.pos = end + 1
        return int(low), int(high)


@functools.lru_cache(maxsize=256)
def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` may not be published, or None when it is bounded and RE2 accepts it."""
    if not pattern:
        return "empty pattern"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"pattern longer than {MAX_PATTERN_LENGTH} characters"
    scan = _Scan(pattern)
    try:
        width, _ = scan.alternation()
        if scan.pos != len(pattern):
            raise scan.fail("unbalanced parenthesis")
    except PatternError as exc:
        return str(exc)
    if width > MAX_PATTERN_INPUT:
        return f"matches up to {width} characters; at most {MAX_PATTERN_INPUT} can be entered"
    try:
        _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        return f"not accepted by the linear-time engine: {reason}"
    return None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEM
    options.log_errors = False  # the reason is returned to the admin, not written to stderr
    return re2.compile(pattern, options)


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` fully matches ``pattern`` (run by RE2; an unusable pattern matches
    nothing, a value longer than :data:`MAX_PATTERN_INPUT` never matches)."""
    if len(value) > MAX_PATTERN_INPUT or pattern_problem(pattern) is not None:
        return False
    return _compiled(pattern).fullmatch(value) is not None


DATE_ENTRY_DIGITS = 8
"""A date rule's keypad entry: DDMMYYYY."""


def date_entry(raw: str) -> str | None:
    """The ISO date (``YYYY-MM-DD``) a DDMMYYYY entry names, or None when it names none."""
    digits = raw.removesuffix("#")
    if len(digits) != DATE_ENTRY_DIGITS or not digits.isdigit():
        return None
    try:
        value = datetime.date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    except ValueError:
        return None
    return value.isoformat()
