"""The Vietnamese sentences the dialog runtime builds from data, worded as a courteous officer.

Static prompts live in the menu tree; this module composes the sentences that depend on data:
dossier status with dates, the overdue apology, fees, required documents, processing time,
submission channels, keypad lists ("bấm 1 cho …"), read-backs and the runtime's own fallbacks.
Numbers stay as digits where a synthesiser reads them naturally (dates, counts); amounts of
money are spelled with "triệu" / "nghìn" so they are never read as a long digit string, and
codes are read digit by digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from integrations.base import (
    Channel,
    DossierStatus,
    Fee,
    Procedure,
    RequiredDocument,
    ReturnMethod,
    Supplement,
)
from integrations.privacy import DossierView

# What each status means for the caller, as a predicate after "Hồ sơ của quý vị …".
_STATUS_SENTENCES: dict[DossierStatus, str] = {
    DossierStatus.NEW: "mới được đăng ký và đang chờ cơ quan tiếp nhận",
    DossierStatus.RECEIVED: "đã được tiếp nhận",
    DossierStatus.REJECTED: "không được tiếp nhận",
    DossierStatus.PROCESSING: "đang được xử lý",
    DossierStatus.SUPPLEMENT_REQUIRED: "cần bổ sung giấy tờ",
    DossierStatus.PAYMENT_REQUIRED: "đang chờ quý vị thực hiện nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "đã được rút theo yêu cầu của quý vị",
    DossierStatus.STOPPED: "đã dừng xử lý",
    DossierStatus.DONE: "đã được xử lý xong và đang chờ trả kết quả",
    DossierStatus.RETURNED: "đã được trả kết quả",
}

_CHANNEL_NAMES: dict[Channel, str] = {
    Channel.IN_PERSON: "nộp trực tiếp tại bộ phận một cửa",
    Channel.ONLINE: "nộp trực tuyến trên Cổng dịch vụ công",
    Channel.POST: "gửi qua dịch vụ bưu chính công ích",
}

NOT_UNDERSTOOD = "Xin lỗi, tôi chưa nghe rõ."
GOODBYE = "Cảm ơn quý vị đã gọi đến tổng đài dịch vụ công. Xin chào và hẹn gặp lại."
SYSTEM_APOLOGY = (
    "Xin lỗi quý vị, hệ thống tra cứu đang tạm thời gián đoạn, chúng tôi chưa thể trả lời ngay."
)
TRANSFER_FAILED = "Xin lỗi quý vị, hiện chưa kết nối được với cán bộ."
KEYPAD_ONLY = "Xin quý vị vui lòng dùng bàn phím điện thoại để chọn."
CONFIRM_KEYS = "Nếu đúng, xin bấm phím 1. Nếu chưa đúng, bấm phím 2 để nhập lại."


def spoken_date(day: date) -> str:
    """``ngày 3 tháng 2 năm 2020``."""
    return f"ngày {day.day} tháng {day.month} năm {day.year}"


def spoken_digits(value: str, group: int = 0) -> str:
    """Digits read one by one (``2 0 0 2``); with ``group`` > 0, a pause every ``group``."""
    digits = [c for c in value if c.isdigit()]
    if group <= 0:
        return " ".join(digits)
    chunks = [" ".join(digits[i : i + group]) for i in range(0, len(digits), group)]
    return ", ".join(chunks)


def spoken_code(code: str) -> str:
    """A dossier code as callers know it: its last ten digits (date and sequence), in pairs."""
    digits = "".join(c for c in code if c.isdigit())
    return spoken_digits(digits[-10:], group=2)


def spoken_amount(amount_vnd: int) -> str:
    """A sum of money: ``1 triệu 500 nghìn đồng``; ``miễn phí`` for 0."""
    if amount_vnd < 0:
        raise ValueError(f"negative amount: {amount_vnd}")
    if amount_vnd == 0:
        return "miễn phí"
    parts: list[str] = []
    billions, rest = divmod(amount_vnd, 1_000_000_000)
    millions, rest = divmod(rest, 1_000_000)
    thousands, units = divmod(rest, 1_000)
    if billions:
        parts.append(f"{billions} tỷ")
    if millions:
        parts.append(f"{millions} triệu")
    if thousands:
        parts.append(f"{thousands} nghìn")
    if units:
        parts.append(str(units))
    return " ".join(parts) + " đồng"


def keypad_list(labels: Sequence[str], first_key: int = 1) -> str:
    """``Bấm 1 cho …, bấm 2 cho …`` for up to nine labels."""
    if len(labels) + first_key - 1 > 9:
        raise ValueError("a keypad list holds at most nine entries")
    items = [f"bấm {first_key + i} cho {label}" for i, label in enumerate(labels)]
    return _sentence(", ".join(items))


def status_sentence(view: DossierView) -> str:
    """The code, status and dates: what anyone who knows the code may hear."""
    status = _STATUS_SENTENCES.get(view.status, view.status.label.lower())
    parts = [
        f"Hồ sơ số {spoken_code(view.code)} {status}.",
        f"Hồ sơ được tiếp nhận {spoken_date(view.received_on)}"
        + (f" tại {view.processing_unit}." if view.processing_unit else "."),
    ]
    if view.due_on is not None and not view.status.is_closed:
        parts.append(f"Ngày hẹn trả kết quả là {spoken_date(view.due_on)}.")
    if view.supplements_pending:
        parts.append("Quý vị cần bổ sung giấy tờ để hồ sơ tiếp tục được xử lý.")
    return " ".join(parts)


def overdue_sentence(working_days_late: int, officer_key: str | None) -> str:
    """The apology for a dossier past its promised date, and the way to an officer."""
    if working_days_late <= 0:
        late = "đã quá ngày hẹn trả kết quả"
    else:
        late = f"đã quá hạn {working_days_late} ngày làm việc"
    text = f"Hồ sơ của quý vị {late}. Chúng tôi thành thật xin lỗi quý vị vì sự chậm trễ này."
    return f"{text} {officer_offer(officer_key)}".strip()


def officer_offer(officer_key: str | None) -> str:
    """How to reach an officer, when the tree has a key for it."""
    if officer_key is None:
        return ""
    return f"Để gặp cán bộ hỗ trợ, xin bấm phím {_key_name(officer_key)}."


def personal_sentence(view: DossierView) -> str:
    """Personal details; empty unless the caller passed the privacy check."""
    if not view.verified:
        return ""
    parts: list[str] = []
    if view.applicant_name:
        parts.append(f"Người nộp hồ sơ: {view.applicant_name}.")
    if view.procedure_name:
        parts.append(f"Thủ tục: {view.procedure_name}.")
    if view.fees:
        parts.append(fees_sentence(view.fees))
    if view.supplements:
        parts.append(supplements_sentence(view.supplements))
    if view.result_documents and view.status is DossierStatus.RETURNED:
        parts.append(_sentence("Kết quả: " + ", ".join(view.result_documents)))
    if view.return_method is ReturnMethod.POST and not view.status.is_closed:
        parts.append("Kết quả sẽ được gửi đến quý vị qua bưu chính công ích.")
    return " ".join(parts)


def fees_sentence(fees: Sequence[Fee]) -> str:
    """Each fee and whether it is paid."""
    items = [
        f"{fee.name} {spoken_amount(fee.amount_vnd)}, {'đã nộp' if fee.paid else 'chưa nộp'}"
        for fee in fees
    ]
    return _sentence("Phí và lệ phí: " + "; ".join(items))


def supplements_sentence(supplements: Sequence[Supplement]) -> str:
    """What the office asked the applicant to add."""
    items = [f"{s.content}, yêu cầu {spoken_date(s.requested_on)}" for s in supplements]
    return _sentence("Giấy tờ cần bổ sung: " + "; ".join(items))


def verify_prompt(digits: int) -> str:
    """Ask for the last digits of the dossier's phone number."""
    return (
        f"Để nghe thông tin cá nhân của hồ sơ, xin nhập {digits} số cuối của số điện thoại "
        "đã đăng ký, rồi bấm phím thăng. Để bỏ qua, bấm phím thăng."
    )


def verify_failed() -> str:
    """The check did not pass: say so without revealing anything."""
    return "Thông tin xác minh chưa khớp, nên tôi chỉ đọc được tình trạng của hồ sơ."


def documents_sentence(documents: Sequence[RequiredDocument]) -> str:
    """The documents a procedure needs, numbered."""
    if not documents:
        return "Thủ tục này không yêu cầu giấy tờ kèm theo."
    items = []
    for i, doc in enumerate(documents, 1):
        copies = f", {doc.copies} bản" if doc.copies > 1 else ""
        form = f", theo mẫu {doc.form}" if doc.form else ""
        items.append(f"thứ {i}, {doc.name}{copies}{form}")
    return _sentence(f"Hồ sơ gồm {len(documents)} loại giấy tờ: " + "; ".join(items))


def procedure_fee_sentence(procedure: Procedure) -> str:
    """The procedure's fee; the catalogue's own wording when it has one (it is more precise
    than a single amount: rates by area, per item)."""
    if procedure.fee_note:
        return _sentence(f"Phí, lệ phí: {procedure.fee_note}")
    if procedure.fee_vnd is None:
        return "Phí, lệ phí theo quy định hiện hành."
    if procedure.fee_vnd == 0:
        return "Thủ tục này không mất phí."
    return f"Phí, lệ phí: {spoken_amount(procedure.fee_vnd)}."


def processing_time_sentence(procedure: Procedure) -> str:
    """How long the office takes; the catalogue's own wording when it has one."""
    if procedure.processing_time_note:
        return _sentence(f"Thời gian giải quyết: {procedure.processing_time_note}")
    if procedure.processing_days is None:
        return "Thời gian giải quyết theo quy định."
    unit = "ngày làm việc" if procedure.processing_working_days else "ngày"
    return (
        f"Thời gian giải quyết: {procedure.processing_days} {unit} kể từ ngày nhận đủ hồ sơ hợp lệ."
    )


def submission_sentence(procedure: Procedure) -> str:
    """Where and how to submit: in person, online (with its level), by public post."""
    channels = procedure.channels or (Channel.IN_PERSON,)
    ways = [_CHANNEL_NAMES[c] for c in channels]
    text = "Quý vị có thể " + ", hoặc ".join(ways) + "."
    if procedure.online_level == 4:
        text += " Thủ tục này được thực hiện trực tuyến toàn trình."
    elif procedure.online_level == 3:
        text += " Thủ tục này được thực hiện trực tuyến một phần."
    if Channel.POST in channels:
        text += " Kết quả có thể được trả qua bưu chính công ích."
    return text


def procedure_intro(procedure: Procedure) -> str:
    """Name and agency of a procedure."""
    return f"Thủ tục {procedure.name}, do {procedure.agency} thực hiện."


def read_back(value: str) -> str:
    """Read an entered value back, digit by digit."""
    return f"Quý vị đã nhập {spoken_digits(value, group=2)}. " + CONFIRM_KEYS


def spoken_confirmation(label: str) -> str:
    """Check a choice the recogniser was unsure of."""
    return f"Có phải quý vị muốn {label} không? Xin nói có hoặc không, hoặc bấm 1 nếu đúng."


def transfer_sentence(department: str) -> str:
    """Before a transfer."""
    return f"Xin quý vị vui lòng giữ máy, tôi đang chuyển cuộc gọi đến cán bộ {department}."


def callback_recorded(number: str) -> str:
    """After recording a callback request."""
    return (
        f"Chúng tôi đã ghi nhận yêu cầu gọi lại số {spoken_digits(number, group=3)}. "
        "Cán bộ sẽ gọi lại cho quý vị trong giờ làm việc."
    )


def survey_thanks(score: int) -> str:
    """After the caller scored the call."""
    return f"Cảm ơn quý vị đã chấm {score} điểm."


def offer_help(officer_key: str | None) -> str:
    """After a failure: an officer, a callback, or the main menu."""
    parts = [officer_offer(officer_key)] if officer_key else []
    parts.append("Để được cán bộ gọi lại, bấm phím 1. Để trở về menu chính, bấm phím 2.")
    return " ".join(parts)


_KEY_NAMES = {"*": "sao", "#": "thăng"}


def _key_name(key: str) -> str:
    return _KEY_NAMES.get(key, key)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."
