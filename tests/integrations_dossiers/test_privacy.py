"""The disclosure policy and log masking."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date

import pytest

from integrations.privacy import (
    DisclosurePolicy,
    PhoneCheck,
    caller_id_matches,
    mask_id,
    mask_numbers_in,
    mask_phone,
    normalize_phone,
    view_for,
)
from integrations.sample_dossiers import DEMO_PHONE, demo_dossiers

TODAY = date(2026, 1, 5)
DOSSIER = demo_dossiers(TODAY)[4]  # supplements requested, phone 0912345678
PERSONAL = ("applicant_name", "procedure_name", "fees", "supplements", "result_documents")


def test_unverified_callers_hear_status_and_dates_only() -> None:
    view = view_for(DOSSIER, verified=False, today=TODAY)
    assert view.status is DOSSIER.status and view.supplements_pending
    assert (view.received_on, view.due_on) == (DOSSIER.received_on, DOSSIER.due_on)
    assert view.overdue is False
    for name in (*PERSONAL, "return_method"):
        assert getattr(view, name) is None, name
    shown = {f.name for f in fields(view) if getattr(view, f.name) is not None}
    assert DOSSIER.applicant_name not in repr(view)
    assert DOSSIER.supplements[0].content not in repr(view)
    assert shown == {"code", "status", "received_on", "due_on", "overdue", "processing_unit",
                     "verified"}  # fmt: skip


def test_verified_callers_hear_personal_details() -> None:
    view = view_for(DOSSIER, verified=True, today=TODAY)
    assert view.applicant_name == DOSSIER.applicant_name
    assert view.supplements == DOSSIER.supplements
    assert view.fees == DOSSIER.fees


@pytest.mark.parametrize(
    ("caller", "ok"),
    [
        ("0912345678", True),
        ("+84912345678", True),
        ("84912345678", True),
        ("091 234 5678", True),
        ("0912345679", False),
        ("5678", False),
        ("", False),
        (None, False),
    ],
)
def test_caller_id_check(caller: str | None, ok: bool) -> None:
    assert caller_id_matches(DOSSIER, caller) is ok


def test_a_dossier_without_phone_can_never_be_verified_by_caller_id() -> None:
    assert not caller_id_matches(replace(DOSSIER, phone=""), "")
    check = PhoneCheck(replace(DOSSIER, phone=""), DisclosurePolicy(), caller_id=None)
    assert not check.attempt("")


def test_typed_last_digits_with_limited_attempts() -> None:
    check = PhoneCheck(DOSSIER, DisclosurePolicy(phone_digits=4, max_attempts=3), "0987000000")
    assert not check.passed
    assert not check.attempt("1234")
    assert not check.attempt("45678")  # five digits: wrong length
    assert check.attempt(DEMO_PHONE[-4:])
    assert check.passed and not check.locked

    locked = PhoneCheck(DOSSIER, DisclosurePolicy(max_attempts=2), None)
    assert not locked.attempt("0000") and not locked.attempt("1111")
    assert locked.locked
    assert not locked.attempt("5678")  # right digits, but too late


def test_caller_id_passes_without_typing() -> None:
    assert PhoneCheck(DOSSIER, DisclosurePolicy(), "+84 912 345 678").passed


def test_masking_for_logs() -> None:
    assert normalize_phone("+84 912-345-678") == "0912345678"
    assert mask_phone("0912345678") == "091*****78"
    assert mask_phone("123") == "***"
    assert mask_phone(None) == ""
    assert mask_id("079123456789") == "*********789"
    assert mask_id("12") == "**"
    line = "cuộc gọi từ 0912345678 (CCCD 079123456789) hỏi 000.00.14.H56-200203-0118"
    masked = mask_numbers_in(line)
    assert "0912345678" not in masked and "079123456789" not in masked
    assert "091*****78" in masked
    assert "000.00.14.H56-200203-0118" in masked  # dossier codes are not personal
    assert mask_numbers_in("0912 345 678") == "091*****78"
