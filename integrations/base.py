"""What the dialog runtime asks of the outside world: records and the Protocols that serve them.

Three pluggable backends, each a :class:`typing.Protocol`:

* :class:`DossierSource`: the status of one dossier (hồ sơ), by code or by its date-and-sequence
  tail; served from the local database or a provincial one-stop HTTP API.
* :class:`ProcedureCatalogue`: administrative procedures (thủ tục hành chính).
* :class:`OfficerDirectory`: departments, where to transfer a call, and whether they are open.

Records are frozen dataclasses: the runtime may pass them between tasks and cache them freely.
Methods are ``async`` because the runtime runs on the call's event loop; database-backed
implementations run their queries in a worker thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol


class DossierStatus(enum.IntEnum):
    """National public-service portal dossier status (TrangThaiHoSo), codes 1 to 10."""

    NEW = 1
    RECEIVED = 2
    REJECTED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUIRED = 5
    PAYMENT_REQUIRED = 6
    WITHDRAWN = 7
    STOPPED = 8
    DONE = 9
    RETURNED = 10

    @property
    def label(self) -> str:
        """The Vietnamese name read to callers."""
        return _STATUS_LABELS[self]

    @property
    def is_closed(self) -> bool:
        """True once the dossier no longer moves (rejected, withdrawn, stopped, done, returned)."""
        return self in _CLOSED_STATUSES


_STATUS_LABELS: dict[DossierStatus, str] = {
    DossierStatus.NEW: "Mới đăng ký",
    DossierStatus.RECEIVED: "Được tiếp nhận",
    DossierStatus.REJECTED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.SUPPLEMENT_REQUIRED: "Yêu cầu bổ sung giấy tờ",
    DossierStatus.PAYMENT_REQUIRED: "Yêu cầu thực hiện nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    DossierStatus.STOPPED: "Dừng xử lý",
    DossierStatus.DONE: "Đã xử lý xong",
    DossierStatus.RETURNED: "Đã trả kết quả",
}

_CLOSED_STATUSES = frozenset(
    {
        DossierStatus.REJECTED,
        DossierStatus.WITHDRAWN,
        DossierStatus.STOPPED,
        DossierStatus.DONE,
        DossierStatus.RETURNED,
    }
)


class ApplicantType(enum.StrEnum):
    """Who submitted the dossier."""

    CITIZEN = "citizen"
    BUSINESS = "business"


class Channel(enum.IntEnum):
    """How a dossier was (or a procedure may be) submitted; national codes 1 to 3."""

    IN_PERSON = 1
    ONLINE = 2
    POST = 3


class ReturnMethod(enum.StrEnum):
    """How the result is handed back: at the counter, or by public post (bưu chính công ích)."""

    COUNTER = "counter"
    POST = "post"


@dataclass(frozen=True)
class Supplement:
    """A request for more documents (yêu cầu bổ sung)."""

    content: str
    requested_on: date


@dataclass(frozen=True)
class Fee:
    """A fee or charge on a dossier, in Vietnamese đồng."""

    name: str
    amount_vnd: int
    paid: bool = False


@dataclass(frozen=True)
class ProgressEntry:
    """One step of processing: when, by which unit, what happened."""

    at: datetime
    unit: str
    action: str


@dataclass(frozen=True, kw_only=True)
class Dossier:
    """One dossier (hồ sơ) as the hotline knows it.

    Personal fields (applicant name, phone, email, fees, supplement contents) are only read to a
    caller who passed the check of :mod:`integrations.privacy`.
    """

    code: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    applicant_type: ApplicantType
    phone: str
    email: str
    received_on: date
    due_on: date | None
    status: DossierStatus
    processing_unit: str
    channel: Channel
    return_method: ReturnMethod
    fees: tuple[Fee, ...] = ()
    supplements: tuple[Supplement, ...] = ()
    result_documents: tuple[str, ...] = ()
    progress: tuple[ProgressEntry, ...] = ()

    def is_overdue(self, today: date) -> bool:
        """Past its promised return date and still open.

        Overdue is not a status: it is derived from ``due_on``. Counting *how many* working days
        it is late needs the holiday calendar, which lives elsewhere.
        """
        return self.due_on is not None and today > self.due_on and not self.status.is_closed

    @property
    def total_fees_vnd(self) -> int:
        """Sum of all fees."""
        return sum(fee.amount_vnd for fee in self.fees)


class SourceUnavailable(Exception):
    """A dossier source could not answer (down, too slow, malformed reply, breaker open).

    The runtime turns it into a spoken apology and offers an officer or a callback; it is never
    silence. ``reason`` is a short stable word for logs and metrics.
    """

    def __init__(self, source: str, reason: str, detail: str = "") -> None:
        self.source = source
        self.reason = reason
        self.detail = detail
        super().__init__(f"{source} unavailable: {reason}" + (f" ({detail})" if detail else ""))


class DossierSource(Protocol):
    """Where dossier status comes from."""

    async def get(self, code: str) -> Dossier | None:
        """The dossier with this exact (normalised) code, or None when there is none.

        Raises :class:`SourceUnavailable` when the source cannot answer.
        """
        ...

    async def find_by_tail(self, tail: str) -> list[Dossier]:
        """Dossiers whose code ends with the date-and-sequence tail ``YYMMDDXXXX``.

        Several agencies may share a tail; the runtime asks the caller to choose.
        Raises :class:`SourceUnavailable` when the source cannot answer.
        """
        ...


# --- Procedure catalogue -------------------------------------------------------------------


@dataclass(frozen=True)
class RequiredDocument:
    """A document an applicant must supply."""

    name: str
    copies: int = 1
    form: str | None = None  # name or URL of the form template, when there is one


@dataclass(frozen=True, kw_only=True)
class Procedure:
    """One administrative procedure (thủ tục hành chính)."""

    code: str
    name: str
    field: str  # lĩnh vực
    department_id: str
    agency: str  # implementing agency, as read to callers
    online_level: int | None = None  # 3 or 4 (partly / fully online); None when offline only
    processing_days: int | None = None
    processing_working_days: bool = True  # False: processing_days are calendar days
    processing_time_note: str = ""
    fee_vnd: int | None = None
    fee_note: str = ""
    documents: tuple[RequiredDocument, ...] = ()
    steps: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = ()
    eligible_applicants: str = ""
    result_document: str = ""
    legal_basis: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()


class ProcedureCatalogue(Protocol):
    """The procedures the hotline can explain."""

    async def get(self, code: str) -> Procedure | None:
        """The procedure with this code, or None."""
        ...

    async def search(self, text: str, limit: int = 5) -> list[Procedure]:
        """Best matches for free text (name or keywords), diacritic-insensitive, best first."""
        ...

    async def by_department(self, dept_id: str) -> list[Procedure]:
        """Every procedure of one department."""
        ...

    async def fields(self, dept_id: str) -> list[str]:
        """The fields (lĩnh vực) of one department's procedures, for a spoken menu."""
        ...


# --- Departments and officers --------------------------------------------------------------


class OpenState(enum.StrEnum):
    """Whether a department answers calls at a given moment."""

    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


@dataclass(frozen=True, kw_only=True)
class Department:
    """A department (sở, phòng) or office whose officers take transferred calls."""

    id: str
    name: str
    short_name: str = ""
    phone: str = ""


class OfficerDirectory(Protocol):
    """Departments, their transfer targets and opening hours."""

    async def department(self, dept_id: str) -> Department | None:
        """One department, or None."""
        ...

    async def departments(self) -> list[Department]:
        """Every department, in menu order."""
        ...

    async def transfer_target(self, dept_id: str) -> str | None:
        """The SIP URI to transfer a caller to for this department, or None when there is none."""
        ...

    async def is_open(self, dept_id: str, at: datetime) -> OpenState:
        """Whether the department's officers answer at ``at`` (timezone-aware)."""
        ...
