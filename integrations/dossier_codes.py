"""Dossier codes (mã hồ sơ): parsing, normalising, keypad entry and lookup by tail.

The national format (Circular 01/2018/TT-VPCP art. 19) is ``V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX``:
the receiving agency's code (QCVN 102:2016/BTTTT, e.g. ``000.00.14.H56``), the reception date
``YYMMDD`` and a four-digit sequence of that day, e.g. ``000.00.14.H56-200203-0118``. Some
agencies issue their own receipt numbers (số biên nhận) in other shapes; those are accepted too.

A phone keypad has only digits, ``*`` and ``#``. Two keypad forms are accepted:

* digits only: the last ten digits ``YYMMDDXXXX`` (the *tail*), optionally preceded by the
  digits of the agency code (its letter dropped), e.g. ``2002030118`` or
  ``0000014562002030118``;
* the code's digit groups with ``*`` as separator, the agency letter dropped, e.g.
  ``000*00*14*56*200203*0118`` (a trailing ``#`` ends the entry).

Several agencies can share a tail; the agency digits, when typed, pick the right one. A spoken
code read digit by digit becomes the same digit string and goes through :func:`parse_entry`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

from integrations.base import Dossier, DossierSource

TAIL_DIGITS = 10
MAX_CODE_LENGTH = 64
MAX_ENTRY_LENGTH = 40

_NATIONAL = re.compile(r"^(\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2})-(\d{6})-(\d{4})$")
# Any code that ends like the national one: <agency>-YYMMDD-XXXX.
_DATED_SUFFIX = re.compile(r"^(.+?)[-.](\d{6})[-.](\d{4})$")
_RECEIPT = re.compile(r"^[A-Z0-9][A-Z0-9./_-]*$")
_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-"})


class CodeKind(enum.StrEnum):
    """Which shape a code has."""

    NATIONAL = "national"
    RECEIPT = "receipt"


class DossierCodeError(ValueError):
    """A code or keypad entry that cannot be a dossier code. ``reason`` is a stable word."""

    def __init__(self, reason: str, text: str) -> None:
        self.reason = reason
        self.text = text
        super().__init__(f"invalid dossier code ({reason}): {text[:MAX_ENTRY_LENGTH]!r}")


@dataclass(frozen=True)
class DossierCode:
    """A parsed dossier code."""

    code: str  # normalised text, the key used by every source
    kind: CodeKind
    agency: str  # agency part (national) or everything before the dated suffix ("" if none)
    received_on: date | None  # from the YYMMDD part, when the code has one
    sequence: str | None  # the four-digit sequence, when the code has one

    @property
    def tail(self) -> str | None:
        """``YYMMDDXXXX``, the part a caller can type on a keypad; None for undated receipts."""
        if self.received_on is None or self.sequence is None:
            return None
        return self.received_on.strftime("%y%m%d") + self.sequence


@dataclass(frozen=True)
class CodeQuery:
    """What a caller's keypad or spoken entry asks for."""

    tail: str  # YYMMDDXXXX
    agency_digits: str = ""  # the agency code's digits, when typed, to tell agencies apart

    def matches(self, code: str) -> bool:
        """Whether ``code`` fits this entry (same tail, and same agency digits when given)."""
        try:
            parsed = parse_code(code)
        except DossierCodeError:
            return False
        if parsed.tail != self.tail:
            return False
        return not self.agency_digits or _digits(parsed.agency) == self.agency_digits


def normalize_code(text: str) -> str:
    """Canonical text of a code: trimmed, upper case, no inner spaces, plain hyphens."""
    return re.sub(r"\s+", "", text.translate(_DASHES)).upper()


def parse_date_part(yymmdd: str, *, today: date | None = None) -> date:
    """The reception date of a ``YYMMDD`` part (years 2000-2099); rejects impossible dates and,
    when ``today`` is given, dates in the future."""
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        raise DossierCodeError("date-format", yymmdd)
    try:
        received = date(2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
    except ValueError:
        raise DossierCodeError("date-invalid", yymmdd) from None
    if today is not None and received > today:
        raise DossierCodeError("date-future", yymmdd)
    return received


def parse_code(text: str, *, today: date | None = None) -> DossierCode:
    """Parse a national code or an agency receipt number.

    Raises :class:`DossierCodeError` for empty, over-long or malformed text, and for a national
    code whose date part is not a real date (or is after ``today``, when given). A receipt number
    whose six digits are not a date is accepted as an undated receipt.
    """
    code = normalize_code(text)
    if not code:
        raise DossierCodeError("empty", text)
    if len(code) > MAX_CODE_LENGTH:
        raise DossierCodeError("too-long", text)
    national = _NATIONAL.match(code)
    if national:
        agency, yymmdd, sequence = national.groups()
        received = parse_date_part(yymmdd, today=today)
        return DossierCode(code, CodeKind.NATIONAL, agency, received, sequence)
    if not _RECEIPT.match(code) or not any(c.isdigit() for c in code):
        raise DossierCodeError("format", text)
    dated = _DATED_SUFFIX.match(code)
    if dated:
        agency, yymmdd, sequence = dated.groups()
        try:
            received = parse_date_part(yymmdd, today=today)
        except DossierCodeError:
            # An agency's own numbering may put six digits there that are not a date.
            return DossierCode(code, CodeKind.RECEIPT, "", None, None)
        return DossierCode(code, CodeKind.RECEIPT, agency, received, sequence)
    return DossierCode(code, CodeKind.RECEIPT, "", None, None)


def tail_of(code: str) -> str | None:
    """The ``YYMMDDXXXX`` tail of a code, or None when it has none or is not a code."""
    try:
        return parse_code(code).tail
    except DossierCodeError:
        return None


def parse_entry(entry: str, *, today: date | None = None) -> CodeQuery:
    """Parse a keypad (or spoken, digit by digit) entry; see the module docstring for the forms.

    Raises :class:`DossierCodeError` for anything but digits and ``*`` (a final ``#`` is
    allowed), for fewer than ten digits, and for an impossible date part.
    """
    text = entry.strip().removesuffix("#")
    if not text:
        raise DossierCodeError("empty", entry)
    if len(text) > MAX_ENTRY_LENGTH:
        raise DossierCodeError("too-long", entry)
    if not re.fullmatch(r"[0-9*]+", text):
        raise DossierCodeError("keypad-characters", entry)
    groups = [g for g in text.split("*") if g]
    if len(groups) >= 2 and len(groups[-1]) == 4 and len(groups[-2]) == 6:
        tail = groups[-2] + groups[-1]
        agency_digits = "".join(groups[:-2])
    else:
        digits = "".join(groups)
        if len(digits) < TAIL_DIGITS:
            raise DossierCodeError("too-short", entry)
        tail = digits[-TAIL_DIGITS:]
        agency_digits = digits[:-TAIL_DIGITS]
    parse_date_part(tail[:6], today=today)
    return CodeQuery(tail=tail, agency_digits=agency_digits)


@dataclass(frozen=True)
class DossierQuery:
    """What a caller asked for, parsed once where it was entered and carried as it is to the
    source: a full code, or a keypad/spoken entry (its tail and agency digits) that may also be
    an agency's all-digit receipt number."""

    text: str  # the entry as stored and read back: a normalised code, or the keypad digits
    code: DossierCode | None = None  # a full code: at most one dossier
    entry: CodeQuery | None = None  # a keypad entry: every dossier with that tail
    receipt: DossierCode | None = None  # an all-digit entry read as a receipt number too
    entry_error: DossierCodeError | None = None  # why the digits are no keypad entry


def parse_query(text: str, *, today: date | None = None) -> DossierQuery:
    """Parse what a caller entered: a full code, or a keypad/spoken entry.

    Raises :class:`DossierCodeError` for input that can be neither.
    """
    stripped = text.strip()
    if not (stripped and re.fullmatch(r"[0-9*#\s]+", stripped)):
        code = parse_code(stripped, today=today)
        return DossierQuery(text=code.code, code=code)
    entry = re.sub(r"\s+", "", stripped).removesuffix("#")
    try:
        query = parse_entry(entry, today=today)
    except DossierCodeError as exc:
        if not entry.isdigit():
            raise
        # Perhaps an agency's all-digit receipt number; if none is found, the entry error stands.
        return DossierQuery(text=entry, receipt=parse_code(entry), entry_error=exc)
    receipt = parse_code(entry) if entry.isdigit() else None
    return DossierQuery(text=entry, entry=query, receipt=receipt)


async def find(source: DossierSource, query: DossierQuery) -> list[Dossier]:
    """The dossiers a parsed query means.

    A full code returns at most one dossier. A keypad entry returns every dossier with that
    tail (narrowed by the agency digits, when typed); the caller chooses when there are several.
    Raises the entry's :class:`DossierCodeError` when digits that are no keypad entry are no
    receipt number either, and lets :class:`~integrations.base.SourceUnavailable` through.
    """
    if query.code is not None:
        return await _by_code(source, query.code)
    if query.entry is not None:
        entry = query.entry
        found = [d for d in await source.find_by_tail(entry.tail) if entry.matches(d.code)]
        if found:
            return found
    if query.receipt is not None:
        found = await _by_code(source, query.receipt)
        if found:
            return found
    if query.entry_error is not None:
        raise query.entry_error
    return []


async def lookup(source: DossierSource, text: str, *, today: date | None = None) -> list[Dossier]:
    """Find the dossiers a caller means by ``text`` (:func:`parse_query`, then :func:`find`)."""
    return await find(source, parse_query(text, today=today))


async def _by_code(source: DossierSource, code: DossierCode) -> list[Dossier]:
    dossier = await source.get(code.code)
    return [dossier] if dossier is not None else []


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())
