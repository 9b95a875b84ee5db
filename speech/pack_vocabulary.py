"""The words and phrases a voice pack should hold so dynamic answers need no synthesis.

Numbers (digits and the words Vietnamese builds numbers from), dates, the national dossier
statuses, the phrases dynamic answers are made of; department and procedure names come from the
catalogue at run time (:func:`vocabulary` takes them), never from here.
"""

from __future__ import annotations

from collections.abc import Iterable

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
"""0-9 as read one by one (codes, phone numbers)."""

NUMBER_WORDS = ("mười", "mươi", "mốt", "tư", "lăm", "linh", "trăm", "nghìn", "triệu", "tỷ")
"""The words Vietnamese numbers are built from besides the digits."""

DATE_WORDS = ("ngày", "tháng", "năm")

STATUSES = (
    "mới đăng ký",
    "được tiếp nhận",
    "không được tiếp nhận",
    "đang xử lý",
    "yêu cầu bổ sung giấy tờ",
    "yêu cầu thực hiện nghĩa vụ tài chính",
    "công dân yêu cầu rút hồ sơ",
    "dừng xử lý",
    "đã xử lý xong",
    "đã trả kết quả",
)
"""The national portal's dossier statuses (TrangThaiHoSo 1-10)."""

PHRASES = (
    "hồ sơ số",
    "hồ sơ của quý vị",
    "hồ sơ được tiếp nhận",
    "tại",
    "ngày hẹn trả kết quả là",
    "hẹn trả",
    "cần bổ sung giấy tờ",
    "đang được xử lý",
    "đã được tiếp nhận",
    "quý vị cần bổ sung giấy tờ để hồ sơ tiếp tục được xử lý",
    "người nộp hồ sơ",
    "thủ tục",
    "phí và lệ phí",
    "đồng",
    "đã nộp",
    "chưa nộp",
    "giấy tờ cần bổ sung",
    "yêu cầu",
    "đã quá hạn",
    "ngày làm việc",
    "chúng tôi thành thật xin lỗi quý vị vì sự chậm trễ này",
    "để gặp cán bộ hỗ trợ, xin bấm phím",
    "bấm",
    "cho",
    "kết quả sẽ được gửi đến quý vị qua bưu chính công ích",
)
"""What the runtime's dynamic sentences are made of besides numbers and names."""


def vocabulary(names: Iterable[str] = ()) -> list[str]:
    """Every entry a complete pack holds: the fixed vocabulary and the given names (departments,
    procedures, processing units), in order, without repeats."""
    entries = [*DIGITS, *NUMBER_WORDS, *DATE_WORDS, *STATUSES, *PHRASES, *names]
    return list(dict.fromkeys(e.strip() for e in entries if e.strip()))
