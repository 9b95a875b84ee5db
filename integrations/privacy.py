"""The disclosure policy, in one place, and masking of personal numbers for logs.

Vietnam's personal-data rules (Decree 13/2023/NĐ-CP) treat a phone number as personal data. So:

* anyone who knows a dossier code hears its status, its dates (received, promised return,
  overdue or not) and the processing unit;
* only a caller who passed the check hears the personal details: applicant name, procedure,
  fees, supplement contents, result documents and how they are returned. The check passes when
  the caller ID is the dossier's phone number, or when the caller types the last
  ``phone_digits`` digits of it (a few attempts only).

The runtime builds its sentences from a :class:`DossierView`, never from the raw record, so a
field the policy withholds cannot be read out by mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from integrations.base import Dossier, DossierStatus, Fee, ReturnMethod, Supplement

DEFAULT_PHONE_DIGITS = 4
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class DisclosurePolicy:
    """How the personal-details check works."""

    phone_digits: int = DEFAULT_PHONE_DIGITS  # how many final digits the caller must type
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # typed attempts per dossier and call


def normalize_phone(phone: str) -> str:
    """A Vietnamese number in national form: digits only, ``+84``/``84`` become ``0``."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    return digits


def caller_id_matches(dossier: Dossier, caller_id: str | None) -> bool:
    """True when the caller's number is the dossier's phone number."""
    if not caller_id or not dossier.phone:
        return False
    mine = normalize_phone(dossier.phone)
    return len(mine) >= 9 and normalize_phone(caller_id) == mine


class PhoneCheck:
    """One call's attempts to prove a dossier's phone number by typing its last digits."""

    def __init__(self, dossier: Dossier, policy: DisclosurePolicy, caller_id: str | None) -> None:
        self._dossier = dossier
        self._policy = policy
        self._attempts = 0
        self.passed = caller_id_matches(dossier, caller_id)

    @property
    def locked(self) -> bool:
        """No attempts left (and not passed)."""
        return not self.passed and self._attempts >= self._policy.max_attempts

    def attempt(self, typed: str) -> bool:
        """Check typed digits; returns whether the check has now passed."""
        if self.passed or self.locked:
            return self.passed
        self._attempts += 1
        phone = normalize_phone(self._dossier.phone)
        n = self._policy.phone_digits
        digits = re.sub(r"\D", "", typed)
        self.passed = len(phone) >= n and len(digits) == n and phone[-n:] == digits
        return self.passed


@dataclass(frozen=True, kw_only=True)
class DossierView:
    """What may be read to this caller. Personal fields are None when the check did not pass."""

    code: str
    status: DossierStatus
    received_on: date
    due_on: date | None
    overdue: bool
    processing_unit: str
    verified: bool
    applicant_name: str | None = None
    procedure_name: str | None = None
    fees: tuple[Fee, ...] | None = None
    supplements: tuple[Supplement, ...] | None = None
    result_documents: tuple[str, ...] | None = None
    return_method: ReturnMethod | None = None

    @property
    def supplements_pending(self) -> bool:
        """The status asks for more documents (public: it is the status itself)."""
        return self.status is DossierStatus.SUPPLEMENT_REQUIRED


def view_for(dossier: Dossier, *, verified: bool, today: date) -> DossierView:
    """The part of ``dossier`` the policy lets this caller hear."""
    public = DossierView(
        code=dossier.code,
        status=dossier.status,
        received_on=dossier.received_on,
        due_on=dossier.due_on,
        overdue=dossier.is_overdue(today),
        processing_unit=dossier.processing_unit,
        verified=verified,
    )
    if not verified:
        return public
    return replace(
        public,
        applicant_name=dossier.applicant_name,
        procedure_name=dossier.procedure_name,
        fees=dossier.fees,
        supplements=dossier.supplements,
        result_documents=dossier.result_documents,
        return_method=dossier.return_method,
    )


def mask_phone(phone: str | None) -> str:
    """A phone number for logs: the first three and last two digits, e.g. ``091*****78``.
    A number already masked (as stored at rest) is returned as it is."""
    if phone and "*" in phone:
        return phone
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) <= 5:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_id(identifier: str | None) -> str:
    """An ID number (CCCD, passport, tax code) for logs: only the last three characters."""
    text = re.sub(r"\s", "", identifier or "")
    if len(text) <= 3:
        return "*" * len(text)
    return "*" * (len(text) - 3) + text[-3:]


_LONG_NUMBER = re.compile(r"(?<![\w*])\+?\d[\d .]{7,16}\d(?![\w*])")


def mask_numbers_in(text: str) -> str:
    """Mask every phone- or ID-like number (9 or more digits, maybe spaced) inside free text.

    Hyphens end a number, so a dossier code keeps its shape: its groups are shorter than that.
    A bare ten-digit tail is indistinguishable from a phone number and gets masked too.
    """

    def _mask(match: re.Match[str]) -> str:
        raw = match.group(0)
        digits = re.sub(r"\D", "", raw)
        return mask_phone(digits) if len(digits) >= 9 else raw

    return _LONG_NUMBER.sub(_mask, text)


def mask_values(payload: dict[str, object], fields: Iterable[str]) -> dict[str, object]:
    """``payload`` with phone- and ID-like numbers masked in the text ``fields`` that may hold
    them (what is stored at rest; the callback list keeps its full number in its own table)."""
    for field in fields:
        value = payload.get(field)
        if isinstance(value, str):
            payload[field] = mask_numbers_in(value)
    return payload
