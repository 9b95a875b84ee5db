"""Import the procedure catalogue from CSV or JSON: every bad row reported, re-import idempotent.

CSV (UTF-8, a BOM from spreadsheet exports is fine), one procedure per row, header names as the
fields of :class:`integrations.base.Procedure`; ``code`` and ``name`` are required. Cells holding
lists separate items with ``|``:

- ``documents``: ``name#copies#form`` per item (copies and form optional),
  e.g. ``Tờ khai đăng ký khai sinh#1#Mẫu TP/HT-2020-KS.1 | Giấy chứng sinh``;
- ``channels``: ``counter``, ``portal``, ``post`` (or 1, 2, 3, or the Vietnamese words);
- ``steps``, ``legal_basis``, ``keywords``: plain text items.

``processing_working_days`` is ``true``/``false`` (default true); ``online_level`` is 1–4 or
empty, ``full``/``toàn trình`` meaning 4 and ``partial``/``một phần`` meaning 3.

JSON: an array of objects with the same names; lists are arrays and documents are objects
``{"name", "copies", "form"}``. Errors name the line where the object starts.

Rows are upserted by code: new codes are inserted, changed ones updated, identical ones left
alone, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import Channel, Procedure, RequiredDocument
from integrations.catalogue_tables import ProcedureDocumentRow, ProcedureRow
from integrations.procedures import content_hash, document_values, row_values

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Catalogue files larger than this are refused (a province has a few thousand procedures)."""
MAX_CELL_CHARS = 20_000
BATCH_ROWS = 500
"""Rows written per flush."""

_CHANNEL_WORDS: dict[str, Channel] = {
    "1": Channel.IN_PERSON,
    "counter": Channel.IN_PERSON,
    "in_person": Channel.IN_PERSON,
    "trực tiếp": Channel.IN_PERSON,
    "2": Channel.ONLINE,
    "portal": Channel.ONLINE,
    "online": Channel.ONLINE,
    "trực tuyến": Channel.ONLINE,
    "3": Channel.POST,
    "post": Channel.POST,
    "bưu chính": Channel.POST,
}
_GROUPED = re.compile(r"^\d{1,3}(?:\.\d{3})+$|^\d{1,3}(?:,\d{3})+$")
_WHOLE = re.compile(r"^-?\d+$")
_LEVEL_WORDS = {"full": 4, "toàn trình": 4, "partial": 3, "một phần": 3}
_TRUE = {"true", "1", "yes", "có", "x"}
_FALSE = {"false", "0", "no", "không"}
_KNOWN = {
    "code",
    "name",
    "field",
    "department_id",
    "agency",
    "online_level",
    "processing_days",
    "processing_working_days",
    "processing_time_note",
    "fee_vnd",
    "fee_note",
    "documents",
    "steps",
    "channels",
    "eligible_applicants",
    "result_document",
    "legal_basis",
    "keywords",
}


class CatalogueImportError(ValueError):
    """The file as a whole cannot be read (missing, too big, not CSV/JSON, no code column)."""


class RowInvalid(ValueError):
    """One row is unusable; the message says why."""


@dataclass(frozen=True)
class RowError:
    """A rejected row: its line in the file, its code when known, and why."""

    line: int
    reason: str
    code: str = ""

    def __str__(self) -> str:
        return f"line {self.line}" + (f" ({self.code})" if self.code else "") + f": {self.reason}"


@dataclass
class ImportReport:
    """What an import did. Every input row is counted exactly once."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows read: good and bad."""
        return self.inserted + self.updated + self.unchanged + len(self.errors)


@dataclass(frozen=True)
class ParsedRows:
    """Good records with their line numbers, and the rows that were rejected."""

    records: list[tuple[int, Procedure]]
    errors: list[RowError]


# --- field parsing ----------------------------------------------------------------------------


def _text(value: object, name: str, *, required: bool = False, limit: int = MAX_CELL_CHARS) -> str:
    if value is None:
        value = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowInvalid(f"{name} must be text")
    value = value.strip()
    if required and not value:
        raise RowInvalid(f"{name} is missing")
    if len(value) > limit:
        raise RowInvalid(f"{name} longer than {limit} characters")
    return value


def _int(value: object, name: str, *, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowInvalid(f"{name} must be a whole number")
    if isinstance(value, str):
        cleaned = value.strip()
        if _GROUPED.match(cleaned):  # 1.000.000 or 1,000,000 (thousands separators)
            cleaned = cleaned.replace(".", "").replace(",", "")
        if not cleaned:
            return None
        if not _WHOLE.match(cleaned):
            raise RowInvalid(f"{name} must be a whole number, got {value!r}")
        value = int(cleaned)
    if not isinstance(value, int):
        raise RowInvalid(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise RowInvalid(f"{name} must be between {low} and {high}, got {value}")
    return value


def _level(value: object) -> int | None:
    if isinstance(value, str) and value.strip().lower() in _LEVEL_WORDS:
        return _LEVEL_WORDS[value.strip().lower()]
    return _int(value, "online_level", low=1, high=4)


def _bool(value: object, name: str) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise RowInvalid(f"{name} must be true or false, got {value!r}")


def _items(value: object, name: str) -> list[object]:
    """A list cell: a JSON array, or ``|``-separated text."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [item.strip() for item in value.split("|") if item.strip()]
    raise RowInvalid(f"{name} must be a list")


def _texts(value: object, name: str) -> tuple[str, ...]:
    return tuple(_text(item, name, required=True) for item in _items(value, name))


def _channels(value: object) -> tuple[Channel, ...]:
    out: list[Channel] = []
    for item in _items(value, "channels"):
        word = str(item).strip().lower()
        if word not in _CHANNEL_WORDS:
            raise RowInvalid(f"unknown channel {item!r} (counter, portal or post)")
        channel = _CHANNEL_WORDS[word]
        if channel not in out:
            out.append(channel)
    return tuple(out)


def _document(item: object) -> RequiredDocument:
    name: object
    copies: object
    form: object
    if isinstance(item, str):
        parts = [p.strip() for p in item.split("#")]
        if len(parts) > 3:
            raise RowInvalid(f"document {item!r} has more than name#copies#form")
        parts += [""] * (3 - len(parts))
        name, copies, form = parts
    elif isinstance(item, Mapping):
        name, copies, form = item.get("name"), item.get("copies"), item.get("form")
    else:
        raise RowInvalid("a document must be text or an object")
    return RequiredDocument(
        name=_text(name, "document name", required=True),
        copies=_int(copies, "document copies", low=1, high=100) or 1,
        form=_text(form, "document form") or None,
    )


def parse_record(raw: Mapping[str, Any]) -> Procedure:
    """One procedure from a CSV row or JSON object; RowInvalid says what is wrong."""
    unknown = set(raw) - _KNOWN - {""}
    if unknown:
        raise RowInvalid(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    days = _int(raw.get("processing_days"), "processing_days", low=0, high=3650)
    return Procedure(
        code=_text(raw.get("code"), "code", required=True, limit=64),
        name=_text(raw.get("name"), "name", required=True),
        field=_text(raw.get("field"), "field", limit=255),
        department_id=_text(raw.get("department_id"), "department_id", limit=64),
        agency=_text(raw.get("agency"), "agency", limit=255),
        online_level=_level(raw.get("online_level")),
        processing_days=days,
        processing_working_days=_bool(
            raw.get("processing_working_days"), "processing_working_days"
        ),
        processing_time_note=_text(raw.get("processing_time_note"), "processing_time_note"),
        fee_vnd=_int(raw.get("fee_vnd"), "fee_vnd", low=0, high=2_000_000_000),
        fee_note=_text(raw.get("fee_note"), "fee_note"),
        documents=tuple(_document(d) for d in _items(raw.get("documents"), "documents")),
        steps=_texts(raw.get("steps"), "steps"),
        channels=_channels(raw.get("channels")),
        eligible_applicants=_text(raw.get("eligible_applicants"), "eligible_applicants"),
        result_document=_text(raw.get("result_document"), "result_document"),
        legal_basis=_texts(raw.get("legal_basis"), "legal_basis"),
        keywords=_texts(raw.get("keywords"), "keywords"),
    )


# --- files ------------------------------------------------------------------------------------


def _collect(rows: Iterable[tuple[int, Mapping[str, Any] | None, str]]) -> ParsedRows:
    """Parse (line, raw, problem) triples; the second occurrence of a code is an error."""
    records: list[tuple[int, Procedure]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, raw, problem in rows:
        if raw is None:
            errors.append(RowError(line, problem))
            continue
        code_hint = str(raw.get("code") or "").strip()[:64]
        try:
            record = parse_record(raw)
        except RowInvalid as exc:
            errors.append(RowError(line, str(exc), code_hint))
            continue
        if record.code in seen:
            errors.append(RowError(line, f"duplicate code, first on line {seen[record.code]}"))
            continue
        seen[record.code] = line
        records.append((line, record))
    return ParsedRows(records, errors)


def parse_csv(text: str) -> ParsedRows:
    """Parse catalogue CSV text. Line numbers are those of the file (header is line 1)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CatalogueImportError("empty CSV file") from None
    except csv.Error as exc:
        raise CatalogueImportError(f"unreadable CSV header: {exc}") from exc
    if "code" not in header or "name" not in header:
        raise CatalogueImportError("the CSV header needs at least 'code' and 'name' columns")

    def rows() -> Iterable[tuple[int, Mapping[str, Any] | None, str]]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, None, f"malformed CSV: {exc}"
                line = reader.line_num + 1
                continue
            if not any(c.strip() for c in cells):
                line = reader.line_num + 1
                continue
            if len(cells) != len(header):
                yield line, None, f"{len(cells)} cells, the header has {len(header)}"
            else:
                yield line, dict(zip(header, cells, strict=True)), ""
            line = reader.line_num + 1

    return _collect(rows())


def parse_json(text: str) -> ParsedRows:
    """Parse a JSON array of procedure objects; errors give the line where an object starts."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise CatalogueImportError("a catalogue JSON file must be an array of objects")
    items: list[tuple[int, Mapping[str, Any] | None, str]] = []
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return ParsedRows([], [])
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise CatalogueImportError(f"malformed JSON at line {exc.lineno}: {exc.msg}") from exc
        if isinstance(value, dict):
            items.append((line, value, ""))
        else:
            items.append((line, None, "not an object"))
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if _skip_ws(text, pos + 1) != len(text):
                raise CatalogueImportError("malformed JSON: text after the closing ]")
            break
        raise CatalogueImportError(f"malformed JSON at line {text.count(chr(10), 0, pos) + 1}")
    return _collect(items)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def read_file(path: Path) -> ParsedRows:
    """Parse a ``.csv`` or ``.json`` catalogue file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CatalogueImportError(f"cannot read {path}: {exc.strerror}") from exc
    if size > MAX_FILE_BYTES:
        raise CatalogueImportError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogueImportError(f"{path} is not UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return parse_csv(text)
    if suffix == ".json":
        return parse_json(text)
    raise CatalogueImportError(f"{path}: expected a .csv or .json file")


# --- database ---------------------------------------------------------------------------------


def save_procedures(session: Session, parsed: ParsedRows) -> ImportReport:
    """Upsert the parsed records by code into the session's transaction.

    New codes go in as batched multi-row INSERTs (a 10,000-row catalogue takes seconds); changed
    ones are updated through the ORM, replacing their documents; unchanged ones are not touched.
    """
    report = ImportReport(errors=list(parsed.errors))
    now = datetime.now(UTC)
    existing = dict(session.execute(select(ProcedureRow.code, ProcedureRow.content_hash)).all())
    new: list[Procedure] = []
    changed: dict[str, Procedure] = {}
    for _, record in parsed.records:
        if record.code not in existing:
            new.append(record)
        elif existing[record.code] != content_hash(record):
            changed[record.code] = record
        else:
            report.unchanged += 1
    for start in range(0, len(new), BATCH_ROWS):
        _insert_batch(session, new[start : start + BATCH_ROWS], now)
    report.inserted = len(new)
    records = list(changed.values())
    for start in range(0, len(records), BATCH_ROWS):
        _update_batch(session, records[start : start + BATCH_ROWS], now)
    report.updated = len(changed)
    report.errors.sort(key=lambda e: e.line)
    return report


def _update_batch(session: Session, records: list[Procedure], now: datetime) -> None:
    table = cast(Table, ProcedureRow.__table__)
    docs = cast(Table, ProcedureDocumentRow.__table__)
    codes = [rec.code for rec in records]
    found = session.execute(select(table.c.code, table.c.id).where(table.c.code.in_(codes)))
    ids: dict[str, int] = {code: id_ for code, id_ in found}
    session.execute(
        update(table).where(table.c.id == bindparam("row_id")),
        [{"row_id": ids[rec.code], **row_values(rec, now=now)} for rec in records],
    )
    session.execute(delete(docs).where(docs.c.procedure_id.in_(list(ids.values()))))
    documents = [
        {"procedure_id": ids[rec.code], **doc} for rec in records for doc in document_values(rec)
    ]
    if documents:
        session.execute(insert(docs), documents)


def _insert_batch(session: Session, records: list[Procedure], now: datetime) -> None:
    values = [row_values(rec, now=now) for rec in records]
    # executemany without RETURNING, then the ids by code: executemany with RETURNING is not
    # available with every driver, and a multi-row VALUES statement is slow to compile.
    table = cast(Table, ProcedureRow.__table__)
    session.execute(insert(table), values)
    codes = [rec.code for rec in records]
    found = session.execute(select(table.c.code, table.c.id).where(table.c.code.in_(codes)))
    ids: dict[str, int] = {code: id_ for code, id_ in found}
    documents = [
        {"procedure_id": ids[rec.code], **doc} for rec in records for doc in document_values(rec)
    ]
    if documents:
        session.execute(insert(cast(Table, ProcedureDocumentRow.__table__)), documents)


def import_file(factory: sessionmaker[Session], path: Path) -> ImportReport:
    """Read a catalogue file and upsert its good rows in one transaction."""
    parsed = read_file(path)
    with factory() as session, session.begin():
        return save_procedures(session, parsed)
