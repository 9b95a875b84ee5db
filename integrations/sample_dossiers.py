"""Deterministic sample dossiers for demos, tests and benchmarks.

:func:`demo_dossiers` gives a few fixed codes (listed in :data:`DEMO_CODES`, documented in the
README): one per status, one overdue, one needing supplements. :func:`generate` gives any number
of realistic dossiers across every status; the same seed and ``today`` always give the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from integrations.base import (
    ApplicantType,
    Channel,
    Dossier,
    DossierStatus,
    Fee,
    ProgressEntry,
    ReturnMethod,
    Supplement,
)

# Receiving agencies of Bà Rịa – Vũng Tàu (QCVN 102:2016 style codes, province H56).
AGENCIES: tuple[tuple[str, str], ...] = (
    ("000.00.14.H56", "Sở Công thương"),
    ("000.00.15.H56", "Sở Tài nguyên và Môi trường"),
    ("000.00.16.H56", "Sở Tư pháp"),
    ("000.00.18.H56", "Sở Kế hoạch và Đầu tư"),
    ("000.00.21.H56", "Sở Giao thông vận tải"),
    ("000.17.22.H56", "UBND thành phố Vũng Tàu"),
    ("000.18.22.H56", "UBND thành phố Bà Rịa"),
    ("000.20.22.H56", "UBND thị xã Phú Mỹ"),
    ("001.17.22.H56", "UBND phường 1, thành phố Vũng Tàu"),
    ("007.18.22.H56", "UBND phường Phước Hiệp, thành phố Bà Rịa"),
)

# (procedure code, name, processing working days, fee in đồng, who usually applies)
PROCEDURES: tuple[tuple[str, str, int, int, ApplicantType], ...] = (
    (
        "2.000591",
        "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
        20,
        1_000_000,
        ApplicantType.BUSINESS,
    ),
    ("2.000002", "Đăng ký thực hiện khuyến mại", 5, 0, ApplicantType.BUSINESS),
    ("2.000003", "Thông báo thực hiện khuyến mại", 3, 0, ApplicantType.BUSINESS),
    ("1.001645", "Cấp Giấy phép bán lẻ sản phẩm rượu", 10, 1_200_000, ApplicantType.BUSINESS),
    ("1.004227", "Đăng ký đất đai lần đầu", 30, 100_000, ApplicantType.CITIZEN),
    ("1.003003", "Cấp giấy phép khai thác nước dưới đất", 30, 600_000, ApplicantType.BUSINESS),
    ("2.000908", "Cấp Phiếu lý lịch tư pháp", 10, 200_000, ApplicantType.CITIZEN),
    ("1.001612", "Đăng ký khai sinh", 1, 0, ApplicantType.CITIZEN),
    ("1.000894", "Đăng ký kết hôn", 3, 0, ApplicantType.CITIZEN),
    ("1.002309", "Cấp đổi giấy phép lái xe", 5, 135_000, ApplicantType.CITIZEN),
    ("1.001022", "Chứng thực bản sao từ bản chính", 1, 2_000, ApplicantType.CITIZEN),
    ("2.001040", "Đăng ký thành lập doanh nghiệp tư nhân", 3, 50_000, ApplicantType.BUSINESS),
)

FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Thu", "Quốc", "Kim")
GIVEN: tuple[str, ...] = (
    "An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hải", "Hoa", "Hùng", "Lan", "Long",
    "Mai", "Nam", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến",
)  # fmt: skip
BUSINESS_KIND = ("Công ty TNHH", "Công ty Cổ phần", "Hộ kinh doanh", "Doanh nghiệp tư nhân")
BUSINESS_NAME = ("Biển Xanh", "Phú Mỹ", "Hải Đăng", "Sao Mai", "Long Hải", "Côn Đảo", "Tân Thành")
MOBILE_PREFIXES = ("090", "091", "093", "096", "097", "098", "086", "032", "035", "070", "077")
SUPPLEMENT_REASONS = (
    "Bổ sung bản sao Căn cước công dân của người đại diện",
    "Bổ sung giấy xác nhận kiến thức an toàn thực phẩm",
    "Bản vẽ mặt bằng chưa có chữ ký, đề nghị bổ sung",
    "Bổ sung hợp đồng thuê mặt bằng có công chứng",
    "Đơn đề nghị ghi sai mã số thuế, đề nghị nộp lại",
)

DEMO_AGENCY = "000.00.14.H56"
DEMO_PHONE = "0912345678"
DEMO_RECEIVED_ON = date(2025, 3, 3)

DEMO_CODES: dict[str, str] = {
    "000.00.14.H56-250303-9001": "status 1, Mới đăng ký",
    "000.00.14.H56-250303-9002": "status 2, Được tiếp nhận",
    "000.00.14.H56-250303-9003": "status 3, Không được tiếp nhận",
    "000.00.14.H56-250303-9004": "status 4, Đang xử lý (on time)",
    "000.00.14.H56-250303-9005": "status 5, Yêu cầu bổ sung giấy tờ (two supplement requests)",
    "000.00.14.H56-250303-9006": "status 6, Yêu cầu thực hiện nghĩa vụ tài chính (fees due)",
    "000.00.14.H56-250303-9007": "status 7, Công dân yêu cầu rút hồ sơ",
    "000.00.14.H56-250303-9008": "status 8, Dừng xử lý",
    "000.00.14.H56-250303-9009": "status 9, Đã xử lý xong (result ready, returned by post)",
    "000.00.14.H56-250303-9010": "status 10, Đã trả kết quả",
    "000.00.14.H56-250303-9011": "status 4, Đang xử lý, overdue by two weeks",
}
"""The fixed demo codes, with what each shows. All belong to phone :data:`DEMO_PHONE`."""


def demo_dossiers(today: date) -> list[Dossier]:
    """The dossiers of :data:`DEMO_CODES`; open ones are due after ``today`` except the overdue
    one, so the demo reads the same whatever the date."""
    proc_code, proc_name, _days, fee, _kind = PROCEDURES[0]
    base = Dossier(
        code="",
        procedure_code=proc_code,
        procedure_name=proc_name,
        applicant_name="Công ty TNHH Hải Đăng",
        applicant_type=ApplicantType.BUSINESS,
        phone=DEMO_PHONE,
        email="haidang@example.vn",
        received_on=DEMO_RECEIVED_ON,
        due_on=today + timedelta(days=14),
        status=DossierStatus.NEW,
        processing_unit="Phòng Quản lý thương mại, Sở Công thương",
        channel=Channel.ONLINE,
        return_method=ReturnMethod.COUNTER,
        fees=(Fee("Phí thẩm định cơ sở", fee, paid=True),),
        progress=(_entry(DEMO_RECEIVED_ON, 0, "Bộ phận một cửa", "Tiếp nhận hồ sơ trực tuyến"),),
    )
    out: list[Dossier] = []
    for n, code in enumerate(DEMO_CODES, start=1):
        status = DossierStatus(n) if n <= 10 else DossierStatus.PROCESSING
        dossier = replace(base, code=code, status=status)
        if status is DossierStatus.SUPPLEMENT_REQUIRED:
            dossier = replace(
                dossier,
                supplements=(
                    Supplement(SUPPLEMENT_REASONS[1], today - timedelta(days=3)),
                    Supplement(SUPPLEMENT_REASONS[2], today - timedelta(days=3)),
                ),
            )
        elif status is DossierStatus.PAYMENT_REQUIRED:
            dossier = replace(dossier, fees=(Fee("Phí thẩm định cơ sở", fee, paid=False),))
        elif status in (DossierStatus.DONE, DossierStatus.RETURNED):
            dossier = replace(
                dossier,
                due_on=today - timedelta(days=2),
                return_method=ReturnMethod.POST,
                result_documents=("Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",),
            )
        elif status.is_closed:
            dossier = replace(dossier, due_on=None)
        if n == 11:
            dossier = replace(dossier, due_on=today - timedelta(days=14))
        out.append(dossier)
    return out


def generate(count: int, *, today: date, seed: int = 1) -> Iterator[Dossier]:
    """``count`` distinct sample dossiers received in the 400 days before ``today``.

    Every status appears (for ``count >= 10``); codes never collide with :data:`DEMO_CODES`.
    """
    rng = random.Random(seed)
    seen: set[str] = set(DEMO_CODES)
    made = 0
    while made < count:
        dossier = _one(rng, today, made)
        if dossier.code in seen:
            continue
        seen.add(dossier.code)
        made += 1
        yield dossier


def _one(rng: random.Random, today: date, index: int) -> Dossier:
    agency, unit = AGENCIES[rng.randrange(len(AGENCIES))]
    proc_code, proc_name, days, fee, kind = PROCEDURES[rng.randrange(len(PROCEDURES))]
    received = today - timedelta(days=rng.randrange(400))
    # The first ten cover every status once; then a mix weighted like a real office.
    status = (
        DossierStatus(index + 1)
        if index < 10
        else rng.choices(list(DossierStatus), weights=(3, 6, 1, 20, 6, 3, 1, 1, 9, 50))[0]
    )
    code = f"{agency}-{received:%y%m%d}-{rng.randrange(1, 9000):04d}"
    # Calendar days approximate working days here; the demo needs plausible dates only.
    due = received + timedelta(days=days * 7 // 5 + 1)
    supplements: tuple[Supplement, ...] = ()
    if status is DossierStatus.SUPPLEMENT_REQUIRED or rng.random() < 0.05:
        supplements = (
            Supplement(
                SUPPLEMENT_REASONS[rng.randrange(len(SUPPLEMENT_REASONS))],
                min(today, received + timedelta(days=rng.randrange(1, 5))),
            ),
        )
    fees = (
        (Fee("Phí, lệ phí", fee, paid=status is not DossierStatus.PAYMENT_REQUIRED),) if fee else ()
    )
    finished = status in (DossierStatus.DONE, DossierStatus.RETURNED)
    return Dossier(
        code=code,
        procedure_code=proc_code,
        procedure_name=proc_name,
        applicant_name=_applicant(rng, kind),
        applicant_type=kind,
        phone=f"{MOBILE_PREFIXES[rng.randrange(len(MOBILE_PREFIXES))]}{rng.randrange(10**7):07d}",
        email="" if rng.random() < 0.4 else f"hoso{index}@example.vn",
        received_on=received,
        due_on=None if status in (DossierStatus.NEW, DossierStatus.REJECTED) else due,
        status=status,
        processing_unit=unit,
        channel=rng.choices(list(Channel), weights=(25, 70, 5))[0],
        return_method=ReturnMethod.POST if rng.random() < 0.3 else ReturnMethod.COUNTER,
        fees=fees,
        supplements=supplements,
        result_documents=(f"Kết quả: {proc_name}",) if finished else (),
        progress=(_entry(received, 8, "Bộ phận một cửa", "Tiếp nhận hồ sơ"),)
        + ((_entry(received, 26, unit, "Chuyển xử lý"),) if status >= 4 else ()),
    )


def _applicant(rng: random.Random, kind: ApplicantType) -> str:
    if kind is ApplicantType.BUSINESS:
        name = BUSINESS_NAME[rng.randrange(len(BUSINESS_NAME))]
        return f"{BUSINESS_KIND[rng.randrange(len(BUSINESS_KIND))]} {name}"
    return " ".join(
        (
            FAMILY[rng.randrange(len(FAMILY))],
            MIDDLE[rng.randrange(len(MIDDLE))],
            GIVEN[rng.randrange(len(GIVEN))],
        )
    )


def _entry(day: date, hour_offset: int, unit: str, action: str) -> ProgressEntry:
    at = datetime.combine(day, time(1, 30), tzinfo=UTC) + timedelta(hours=hour_offset)
    return ProgressEntry(at, unit, action)
