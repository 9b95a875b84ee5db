"""The sentences built from data: amounts, codes, dates, lists, dossier and procedure answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from integrations.base import Channel, DossierStatus, Fee, Procedure, RequiredDocument
from integrations.privacy import view_for
from integrations.sample_dossiers import demo_dossiers
from ivr.runtime import phrases

TODAY = date(2025, 6, 10)


@pytest.mark.parametrize(
    ("amount", "spoken"),
    [
        (0, "miễn phí"),
        (500, "500 đồng"),
        (150_000, "150 nghìn đồng"),
        (1_500_000, "1 triệu 500 nghìn đồng"),
        (2_000_000_300, "2 tỷ 300 đồng"),
    ],
)
def test_spoken_amount(amount: int, spoken: str) -> None:
    assert phrases.spoken_amount(amount) == spoken


def test_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError):
        phrases.spoken_amount(-1)


def test_codes_dates_and_keypad_lists() -> None:
    assert phrases.spoken_code("000.00.14.H56-200203-0118") == "2 0, 0 2, 0 3, 0 1, 1 8"
    assert phrases.spoken_date(date(2020, 2, 3)) == "ngày 3 tháng 2 năm 2020"
    assert phrases.keypad_list(["A", "B"]) == "Bấm 1 cho A, bấm 2 cho B."
    with pytest.raises(ValueError):
        phrases.keypad_list([str(i) for i in range(10)])
    assert phrases.officer_offer("*") == "Để gặp cán bộ hỗ trợ, xin bấm phím sao."
    assert phrases.officer_offer(None) == ""


def _dossier(status: DossierStatus, **changes: object):  # type: ignore[no-untyped-def]
    base = demo_dossiers(TODAY)[3]
    return replace(base, status=status, **changes)  # type: ignore[arg-type]


def test_status_sentence_is_public_and_personal_needs_verification() -> None:
    dossier = _dossier(DossierStatus.PAYMENT_REQUIRED, fees=(Fee("Lệ phí", 150_000),))
    public = view_for(dossier, verified=False, today=TODAY)
    status = phrases.status_sentence(public)
    assert "đang chờ quý vị thực hiện nghĩa vụ tài chính" in status
    assert "ngày 3 tháng 3 năm 2025" in status and "Ngày hẹn trả kết quả" in status
    assert dossier.applicant_name not in status and dossier.procedure_name not in status
    assert phrases.personal_sentence(public) == ""
    personal = phrases.personal_sentence(view_for(dossier, verified=True, today=TODAY))
    assert "Lệ phí 150 nghìn đồng, chưa nộp" in personal
    assert dossier.applicant_name in personal


def test_closed_dossier_has_no_promised_date() -> None:
    view = view_for(_dossier(DossierStatus.RETURNED), verified=False, today=TODAY)
    assert "đã được trả kết quả" in phrases.status_sentence(view)
    assert "hẹn trả" not in phrases.status_sentence(view)


def test_overdue_sentence() -> None:
    text = phrases.overdue_sentence(3, "0")
    assert "quá hạn 3 ngày làm việc" in text and "xin lỗi" in text and "phím 0" in text
    assert "quá ngày hẹn" in phrases.overdue_sentence(0, None)


def test_procedure_sentences() -> None:
    procedure = Procedure(
        code="x",
        name="Thủ tục thử",
        field="Thương mại",
        department_id="so-cong-thuong",
        agency="Sở Công thương",
        online_level=3,
        processing_days=10,
        processing_working_days=False,
        fee_vnd=None,
        documents=(RequiredDocument("Tờ khai", 2, "Mẫu 01"),),
        channels=(Channel.IN_PERSON, Channel.POST),
    )
    assert phrases.documents_sentence(procedure.documents) == (
        "Hồ sơ gồm 1 loại giấy tờ: thứ 1, Tờ khai, 2 bản, theo mẫu Mẫu 01."
    )
    assert phrases.documents_sentence(()) == "Thủ tục này không yêu cầu giấy tờ kèm theo."
    assert "10 ngày kể từ" in phrases.processing_time_sentence(procedure)
    assert phrases.procedure_fee_sentence(procedure) == "Phí, lệ phí theo quy định hiện hành."
    submission = phrases.submission_sentence(procedure)
    assert "nộp trực tiếp" in submission and "bưu chính công ích" in submission
    assert "trực tuyến một phần" in submission


def test_catalogue_wording_wins_over_bare_numbers() -> None:
    procedure = Procedure(
        code="y",
        name="Thủ tục có ghi chú",
        field="f",
        department_id="d",
        agency="a",
        processing_days=20,
        processing_time_note="20 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ",
        fee_vnd=1_200_000,
        fee_note="Tại thành phố: 1.200.000 đồng/cửa hàng; khu vực khác: 600.000 đồng/cửa hàng",
    )
    fee = phrases.procedure_fee_sentence(procedure)
    assert fee.startswith("Phí, lệ phí: Tại thành phố") and "1 triệu" not in fee
    time_text = phrases.processing_time_sentence(procedure)
    assert time_text.count("20 ngày làm việc") == 1
