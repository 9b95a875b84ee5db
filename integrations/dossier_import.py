"""Import dossiers from CSV or JSON into the database.

Every row is accounted for: good rows are upserted by code (so importing the same file twice
changes nothing), and each bad row is reported with its line number and the reason. Nothing is
dropped silently: a code repeated in the same file is reported, not overwritten.

CSV: UTF-8 (a BOM is fine), one header row. Required columns ``code``, ``status`` (1-10) and
``received_on``; optional ``procedure_code``, ``procedure_name``, ``applicant_name``,
``applicant_type`` (citizen | business), ``phone``, ``email``, ``due_on``, ``processing_unit``,
``channel`` (1 in person, 2 online, 3 post), ``return_method`` (counter | post), and, as JSON
arrays inside the cell, ``fees`` ([{"name", "amount_vnd", "paid"}]), ``supplements``
([{"content", "requested_on"}]), ``result_documents`` (["..."]) and ``progress``
([{"at", "unit", "action"}]). Dates are ``YYYY-MM-DD`` or ``DD/MM/YYYY``.

JSON: an array of objects with the same keys (lists as real arrays), or JSON Lines (``.jsonl``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
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
from integrations.dossier_codes import DossierCodeError, parse_code
from integrations.dossiers_db import upsert_dossiers
from integrations.privacy import normalize_phone

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_FIELD_CHARS = 64 * 1024
REQUIRED_COLUMNS = ("code", "status", "received_on")
KNOWN_COLUMNS = frozenset(
    {
        *REQUIRED_COLUMNS,
        "procedure_code",
        "procedure_name",
        "applicant_name",
        "applicant_type",
        "phone",
        "email",
        "due_on",
        "processing_unit",
        "channel",
        "return_method",
        "fees",
        "supplements",
        "result_documents",
        "progress",
    }
)
_TEXT_LIMITS = {
    "procedure_code": 64,
    "applicant_name": 255,
    "email": 255,
    "processing_unit": 255,
}


CSV_COLUMNS: tuple[str, ...] = (
    "code",
    "status",
    "received_on",
    "due_on",
    "procedure_code",
    "procedure_name",
    "applicant_name",
    "applicant_type",
    "phone",
    "email",
    "processing_unit",
    "channel",
    "return_method",
    "fees",
    "supplements",
    "result_documents",
    "progress",
)
"""Column order used by :func:`to_record` for CSV export."""


def to_record(dossier: Dossier, *, for_csv: bool = False) -> dict[str, Any]:
    """The import form of a dossier (JSON-ready; list fields JSON-encoded when ``for_csv``)."""
    lists: dict[str, Any] = {
        "fees": [
            {"name": f.name, "amount_vnd": f.amount_vnd, "paid": f.paid} for f in dossier.fees
        ],
        "supplements": [
            {"content": s.content, "requested_on": s.requested_on.isoformat()}
            for s in dossier.supplements
        ],
        "result_documents": list(dossier.result_documents),
        "progress": [
            {"at": p.at.isoformat(), "unit": p.unit, "action": p.action} for p in dossier.progress
        ],
    }
    if for_csv:
        lists = {k: json.dumps(v, ensure_ascii=False) if v else "" for k, v in lists.items()}
    return {
        "code": dossier.code,
        "status": int(dossier.status),
        "received_on": dossier.received_on.isoformat(),
        "due_on": dossier.due_on.isoformat() if dossier.due_on else "",
        "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name,
        "applicant_name": dossier.applicant_name,
        "applicant_type": dossier.applicant_type.value,
        "phone": dossier.phone,
        "email": dossier.email,
        "processing_unit": dossier.processing_unit,
        "channel": int(dossier.channel),
        "return_method": dossier.return_method.value,
        **lists,
    }


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, wrong format, missing columns)."""


class RowError(ValueError):
    """One row is bad; ``line`` is its 1-based line in the file."""

    def __init__(self, line: int, reason: str, code: str = "") -> None:
        self.line = line
        self.reason = reason
        self.code = code
        super().__init__(f"line {line}: {reason}" + (f" [{code}]" if code else ""))


@dataclass(frozen=True)
class ParsedRow:
    """A good row and where it was."""

    line: int
    dossier: Dossier


@dataclass
class ImportReport:
    """What an import did, row by row."""

    source: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Rows written (inserted or updated)."""
        return self.inserted + self.updated

    def lines(self) -> list[str]:
        """Human-readable report: a summary, then each warning and bad row."""
        out = [
            f"{self.source}: {self.rows} rows, {self.inserted} inserted, {self.updated} updated, "
            f"{len(self.errors)} rejected"
        ]
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"rejected {e}" for e in self.errors]
        return out


def import_file(path: Path, factory: sessionmaker[Session]) -> ImportReport:
    """Import a ``.csv``, ``.json`` or ``.jsonl`` file; one transaction for all good rows."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from exc
    if size > MAX_FILE_BYTES:
        raise ImportFileError(f"{path} is {size} bytes, more than {MAX_FILE_BYTES}")
    text = decode(path.read_bytes(), str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return import_rows(parse_csv(text), factory, source=str(path))
    if suffix in (".json", ".jsonl", ".ndjson"):
        rows = parse_json_lines(text) if suffix != ".json" else parse_json(text)
        return import_rows(rows, factory, source=str(path))
    raise ImportFileError(f"{path}: unknown file type {suffix!r} (use .csv, .json or .jsonl)")


def import_rows(
    rows: Iterable[ParsedRow | RowError | str], factory: sessionmaker[Session], *, source: str
) -> ImportReport:
    """Upsert the good rows of a parsed file and report the rest (``str`` items are warnings)."""
    report = ImportReport(source=source)
    good: list[Dossier] = []
    first_line: dict[str, int] = {}
    for item in rows:
        if isinstance(item, str):
            report.warnings.append(item)
            continue
        report.rows += 1
        if isinstance(item, RowError):
            report.errors.append(item)
            continue
        code = item.dossier.code
        if code in first_line:
            report.errors.append(
                RowError(item.line, f"duplicate code, first given on line {first_line[code]}", code)
            )
            continue
        first_line[code] = item.line
        good.append(item.dossier)
    with unit_of_work(factory) as session:
        report.inserted, report.updated = upsert_dossiers(session, good)
    return report


def decode(data: bytes, name: str) -> str:
    """UTF-8 text (BOM stripped), or an :class:`ImportFileError` naming the bad line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(f"{name}: line {line} is not UTF-8 text") from exc


def parse_csv(text: str) -> Iterator[ParsedRow | RowError | str]:
    """Rows of a CSV text: a :class:`ParsedRow` or a :class:`RowError` each, warnings as str."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFileError("empty file: no header row") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: unreadable header ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ImportFileError(f"line 1: missing column(s) {', '.join(missing)}")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ImportFileError(f"line 1: repeated column(s) {', '.join(duplicated)}")
    unknown = [h for h in header if h not in KNOWN_COLUMNS]
    if unknown:
        yield f"line 1: unknown column(s) ignored: {', '.join(unknown)}"
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The csv module cannot resynchronise after a broken quote; stop and say where.
            yield RowError(start, f"malformed CSV ({exc}); the rest of the file was not read")
            return
        line = start
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            yield RowError(line, f"{len(cells)} cells, the header has {len(header)}")
            continue
        yield _parse_row(line, dict(zip(header, cells, strict=True)), cells_are_text=True)


def parse_json(text: str) -> Iterator[ParsedRow | RowError | str]:
    """Rows of a JSON array of objects; line numbers are where each object starts."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise ImportFileError("line 1: a JSON import must be an array of objects")
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield RowError(exc.lineno, f"malformed JSON ({exc.msg}); the rest was not read")
            return
        yield _parse_object(line, value)
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return
        yield RowError(
            text.count("\n", 0, pos) + 1, "malformed JSON (expected , or ]); the rest was not read"
        )
        return


def parse_json_lines(text: str) -> Iterator[ParsedRow | RowError | str]:
    """Rows of JSON Lines: one object per line, blank lines skipped."""
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield RowError(line, f"malformed JSON ({exc.msg})")
            continue
        yield _parse_object(line, value)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _parse_object(line: int, value: Any) -> ParsedRow | RowError:
    if not isinstance(value, dict):
        return RowError(line, f"expected an object, got {type(value).__name__}")
    return _parse_row(line, value, cells_are_text=False)


def _parse_row(line: int, row: Mapping[str, Any], *, cells_are_text: bool) -> ParsedRow | RowError:
    code_text = str(row.get("code") or "")
    try:
        dossier = _dossier(row, cells_are_text)
    except DossierCodeError as exc:
        return RowError(line, f"code: {exc.reason}", code_text[:64])
    except RecordError as exc:
        return RowError(line, str(exc), code_text[:64])
    return ParsedRow(line, dossier)


class RecordError(ValueError):
    """A record (row, JSON object, API reply) that is not a valid dossier; says which field."""

    def __init__(self, name: str, problem: str) -> None:
        self.field = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


def dossier_from_record(record: Mapping[str, Any]) -> Dossier:
    """A dossier from a record in import form (JSON types; see the module docstring).

    Raises :class:`RecordError` or :class:`~integrations.dossier_codes.DossierCodeError`.
    """
    return _dossier(record, cells_are_text=False)


def _dossier(row: Mapping[str, Any], cells_are_text: bool) -> Dossier:
    code = parse_code(_text(row, "code"))
    received = _date(row, "received_on")
    if received is None:
        raise RecordError("received_on", "missing")
    due = _date(row, "due_on")
    if due is not None and due < received:
        raise RecordError("due_on", f"{due} is before received_on {received}")
    if code.received_on is not None and code.received_on != received:
        raise RecordError("received_on", f"{received} differs from the code's date")
    phone = _text(row, "phone")
    if phone and not 9 <= len(normalize_phone(phone)) <= 11:
        raise RecordError("phone", f"{phone!r} is not a phone number")
    email = _text(row, "email")
    if email and ("@" not in email or " " in email):
        raise RecordError("email", f"{email!r} is not an e-mail address")
    for name, limit in _TEXT_LIMITS.items():
        if len(_text(row, name)) > limit:
            raise RecordError(name, f"longer than {limit} characters")
    return Dossier(
        code=code.code,
        procedure_code=_text(row, "procedure_code"),
        procedure_name=_text(row, "procedure_name"),
        applicant_name=_text(row, "applicant_name"),
        applicant_type=_enum(row, "applicant_type", ApplicantType, ApplicantType.CITIZEN),
        phone=phone,
        email=email,
        received_on=received,
        due_on=due,
        status=_int_enum(row, "status", DossierStatus, None),
        processing_unit=_text(row, "processing_unit"),
        channel=_int_enum(row, "channel", Channel, Channel.IN_PERSON),
        return_method=_enum(row, "return_method", ReturnMethod, ReturnMethod.COUNTER),
        fees=tuple(_fee(x) for x in _list(row, "fees", cells_are_text)),
        supplements=tuple(_supplement(x) for x in _list(row, "supplements", cells_are_text)),
        result_documents=tuple(
            _document(x) for x in _list(row, "result_documents", cells_are_text)
        ),
        progress=tuple(_progress(x) for x in _list(row, "progress", cells_are_text)),
    )


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise RecordError(name, f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_FIELD_CHARS:
        raise RecordError(name, "too long")
    return text


def _parse_date(text: str) -> date:
    if len(text) >= 10 and text[4] == "-" and (len(text) == 10 or text[10] in "T "):
        # The common case, much faster than strptime; a time part ("T08:00:00") is ignored.
        return date.fromisoformat(text[:10])
    return datetime.strptime(text, "%d/%m/%Y").date()


def _date(row: Mapping[str, Any], name: str) -> date | None:
    text = _text(row, name)
    if not text:
        return None
    try:
        return _parse_date(text)
    except ValueError:
        raise RecordError(name, f"{text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)") from None


_IntCode = TypeVar("_IntCode", DossierStatus, Channel)
_TextCode = TypeVar("_TextCode", ApplicantType, ReturnMethod)


def _int_enum(
    row: Mapping[str, Any], name: str, kind: type[_IntCode], default: _IntCode | None
) -> _IntCode:
    text = _text(row, name)
    if not text:
        if default is None:
            raise RecordError(name, "missing")
        return default
    try:
        return kind(int(text))
    except ValueError:
        allowed = f"{min(kind).value}-{max(kind).value}"
        raise RecordError(name, f"{text!r} is not a known code ({allowed})") from None


def _enum(
    row: Mapping[str, Any], name: str, kind: type[_TextCode], default: _TextCode
) -> _TextCode:
    text = _text(row, name).lower()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        allowed = " | ".join(m.value for m in kind)
        raise RecordError(name, f"{text!r} is not one of {allowed}") from None


def _list(row: Mapping[str, Any], name: str, cells_are_text: bool) -> list[Any]:
    value = row.get(name)
    if value is None or value == "":
        return []
    if cells_are_text and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RecordError(name, "not a JSON array") from None
    if not isinstance(value, list):
        raise RecordError(name, "not a list")
    return value


def _fee(item: Any) -> Fee:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise RecordError("fees", "each fee needs a name and amount_vnd")
    amount = item.get("amount_vnd")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount < 2**31:
        raise RecordError("fees", f"amount_vnd {amount!r} is not a whole number of đồng")
    return Fee(item["name"], amount, paid=bool(item.get("paid", False)))


def _supplement(item: Any) -> Supplement:
    if not isinstance(item, dict) or not isinstance(item.get("content"), str):
        raise RecordError("supplements", "each request needs content and requested_on")
    try:
        return Supplement(item["content"], _parse_date(str(item.get("requested_on", ""))))
    except ValueError:
        raise RecordError("supplements", "requested_on is not a date") from None


def _document(item: Any) -> str:
    if not isinstance(item, str):
        raise RecordError("result_documents", "each document is a string")
    return item


def _progress(item: Any) -> ProgressEntry:
    if not isinstance(item, dict):
        raise RecordError("progress", "each entry needs at, unit and action")
    try:
        at = datetime.fromisoformat(str(item.get("at", "")))
    except ValueError:
        raise RecordError("progress", f"at {item.get('at')!r} is not an ISO date-time") from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return ProgressEntry(at, str(item.get("unit", "")), str(item.get("action", "")))
