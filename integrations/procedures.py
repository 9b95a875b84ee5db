"""The procedure catalogue over the database: lookup by code, ranked diacritic-insensitive search.

Search works on a folded key (lowercase ASCII, diacritics and đ removed) stored with each
procedure, so the database only does a plain ``LIKE`` to find candidates — the same on SQLite and
PostgreSQL — and the ranking happens here, in one place, identically on both.

Keyword-only data functions take a :class:`~sqlalchemy.orm.Session` (for the web app's routes);
:class:`DbProcedureCatalogue` implements :class:`integrations.base.ProcedureCatalogue` for the
dialog runtime, running the queries in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import unicodedata
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from integrations.base import Channel, Procedure, RequiredDocument
from integrations.catalogue_tables import ProcedureDocumentRow, ProcedureRow

MAX_QUERY_CHARS = 300
"""Longer search texts are cut: a caller's sentence never needs more."""
MAX_CANDIDATES = 500
"""Rows fetched from the database before ranking."""
MAX_FILTER_WORDS = 12
"""Query words used to find candidates (all words still count in the ranking)."""

# Words of a caller's question that say nothing about the procedure (folded). They still count,
# a little. Folded words that are also parts of procedure names (hội, chợ, cơ, cần/căn, lâm, thu)
# are deliberately absent.
_STOPWORDS = frozenset(
    {"toi", "muon", "xin", "nao", "gi", "nhung", "cua", "va", "la", "o", "duoc", "khong"}
    | {"a", "nhe", "voi", "thi", "cac", "tuc", "ve"}
)
_STOPWORD_WEIGHT = 0.2
_CODE_RE = re.compile(r"^[0-9A-Za-z]+(?:[.\-][0-9A-Za-z]+)+$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase ASCII words separated by single spaces: 'Đăng ký Khai sinh' -> 'dang ky khai sinh'.

    Vietnamese tones and vowel marks are dropped and đ becomes d, so a caller's (or a speech
    recognizer's) spelling without diacritics matches the catalogue's.
    """
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _NON_ALNUM.sub(" ", stripped.lower()).strip()


def search_key(procedure: Procedure) -> str:
    """The folded text a procedure is found by: code, name, field, agency and keywords."""
    parts = [procedure.code, procedure.name, procedure.field, procedure.agency]
    parts.extend(procedure.keywords)
    return " " + " ".join(fold(p) for p in parts if p) + " "


def content_hash(procedure: Procedure) -> str:
    """A digest of every field: an unchanged re-import leaves the row alone."""
    plain = {f.name: getattr(procedure, f.name) for f in fields(procedure) if f.name != "documents"}
    plain["documents"] = [(d.name, d.copies, d.form) for d in procedure.documents]
    data = json.dumps(plain, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def to_record(row: ProcedureRow) -> Procedure:
    """The immutable record of a row (documents must be loaded)."""
    return Procedure(
        code=row.code,
        name=row.name,
        field=row.field,
        department_id=row.department_id,
        agency=row.agency,
        online_level=row.online_level,
        processing_days=row.processing_days,
        processing_working_days=row.processing_working_days,
        processing_time_note=row.processing_time_note,
        fee_vnd=row.fee_vnd,
        fee_note=row.fee_note,
        documents=tuple(
            RequiredDocument(name=d.name, copies=d.copies, form=d.form) for d in row.documents
        ),
        steps=tuple(row.steps),
        channels=tuple(Channel(c) for c in row.channels),
        eligible_applicants=row.eligible_applicants,
        result_document=row.result_document,
        legal_basis=tuple(row.legal_basis),
        keywords=tuple(row.keywords),
    )


def row_values(procedure: Procedure, *, now: datetime) -> dict[str, Any]:
    """Column values of a procedure row (documents excluded), with its derived search keys."""
    return {
        "code": procedure.code,
        "name": procedure.name,
        "field": procedure.field,
        "department_id": procedure.department_id,
        "agency": procedure.agency,
        "online_level": procedure.online_level,
        "processing_days": procedure.processing_days,
        "processing_working_days": procedure.processing_working_days,
        "processing_time_note": procedure.processing_time_note,
        "fee_vnd": procedure.fee_vnd,
        "fee_note": procedure.fee_note,
        "channels": [int(c) for c in procedure.channels],
        "steps": list(procedure.steps),
        "eligible_applicants": procedure.eligible_applicants,
        "result_document": procedure.result_document,
        "legal_basis": list(procedure.legal_basis),
        "keywords": list(procedure.keywords),
        "name_key": " " + fold(procedure.name) + " ",
        "search_key": search_key(procedure),
        "content_hash": content_hash(procedure),
        "updated_at": now,
    }


def document_values(procedure: Procedure) -> list[dict[str, Any]]:
    """Column values of a procedure's document rows (without the procedure id)."""
    return [
        {"position": i, "name": d.name, "copies": d.copies, "form": d.form}
        for i, d in enumerate(procedure.documents)
    ]


def fill_row(row: ProcedureRow, procedure: Procedure, *, now: datetime | None = None) -> None:
    """Write every field of `procedure` (documents and search keys included) into `row`."""
    for key, value in row_values(procedure, now=now or datetime.now(UTC)).items():
        setattr(row, key, value)
    row.documents = [ProcedureDocumentRow(**values) for values in document_values(procedure)]


def get_procedure(session: Session, *, code: str) -> Procedure | None:
    """The procedure with this code (surrounding spaces and letter case ignored), or None."""
    wanted = code.strip()
    if not wanted or len(wanted) > 64:
        return None
    stmt = select(ProcedureRow).options(selectinload(ProcedureRow.documents))
    row = session.scalars(stmt.where(ProcedureRow.code == wanted)).first()
    if row is None:
        row = session.scalars(stmt.where(ProcedureRow.code == wanted.upper())).first()
    return to_record(row) if row is not None else None


def search_procedures(session: Session, *, text: str, limit: int = 5) -> list[Procedure]:
    """Best matches for a code or free text (name, field, keywords), best first.

    A text shaped like a procedure code ('1.001612', '2.000889.000.00.00.H12') is looked up as a
    code first. Otherwise the folded words pick candidate rows (see :func:`_candidates`) and
    :func:`rank` orders them.
    """
    text = text[:MAX_QUERY_CHARS].strip()
    if limit <= 0 or not text:
        return []
    if _CODE_RE.match(text):
        exact = get_procedure(session, code=text)
        if exact is not None:
            return [exact]
    words = fold(text).split()
    if not words:
        return []
    meaningful = [w for w in words if w not in _STOPWORDS] or words
    rows = _candidates(session, list(dict.fromkeys(meaningful))[:MAX_FILTER_WORDS])
    scored = [(rank(words, row.name_key, row.search_key), row) for row in rows.values()]
    scored = [(score, row) for score, row in scored if score > 0]
    scored.sort(key=lambda item: (-item[0], item[1].code))
    return [to_record(row) for _, row in scored[:limit]]


def _candidates(session: Session, words: list[str]) -> dict[int, ProcedureRow]:
    """Rows worth ranking: every row holding one of the query's selective words.

    A word is selective when at most :data:`MAX_CANDIDATES` rows hold it; the rows of each such
    word are taken, so a common word ("đăng ký") cannot crowd out the ones that matter and a
    stray word (a recognizer's mistake, a word no procedure has) hides nothing. When every word
    is common, the rows holding all of them are taken instead.
    """
    contains = {w: ProcedureRow.search_key.contains(f" {w} ", autoescape=True) for w in words}
    counts = session.execute(
        select(*(func.sum(case((cond, 1), else_=0)) for cond in contains.values()))
    ).one()
    frequency = {w: int(n or 0) for w, n in zip(words, counts, strict=True)}
    selective = [w for w in words if 0 < frequency[w] <= MAX_CANDIDATES]
    common = [w for w in words if frequency[w] > MAX_CANDIDATES]
    base = select(ProcedureRow).options(selectinload(ProcedureRow.documents))
    if selective:
        stmt = base.where(or_(*(contains[w] for w in selective)))
    elif common:
        stmt = base.where(and_(*(contains[w] for w in common))).limit(MAX_CANDIDATES)
    else:
        return {}
    return {row.id: row for row in session.scalars(stmt)}


def rank(words: list[str], name_key: str, key: str) -> float:
    """Relevance of a procedure to folded query words (higher is better, 0 is no match).

    Whole words in the name count most, then whole words elsewhere (field, keywords), then parts
    of words; runs of query words found together in the name add a phrase bonus, and a short
    name wins a tie over a long one.
    """
    name_words = set(name_key.split())
    key_words = set(key.split())
    score = 0.0
    matched = 0
    for word in words:
        weight = _STOPWORD_WEIGHT if word in _STOPWORDS else 1.0
        if word in name_words:
            score += 3 * weight
        elif word in key_words:
            score += 1.5 * weight
        elif len(word) >= 3 and word in key:
            score += 0.5 * weight
        else:
            continue
        if weight == 1.0:
            matched += 1
    if score == 0:
        return 0.0
    meaningful = [w for w in words if w not in _STOPWORDS]
    for a, b in itertools.pairwise(meaningful):
        if f" {a} {b} " in name_key:
            score += 1.0
    if meaningful and f" {' '.join(meaningful)} " in name_key:
        score += 3.0
    if meaningful:
        score += 2.0 * matched / len(meaningful)
    return score - 0.01 * len(name_words)


def procedures_of(session: Session, *, department_id: str) -> list[Procedure]:
    """Every procedure of one department, by field then name (Vietnamese alphabetical order)."""
    stmt = (
        select(ProcedureRow)
        .options(selectinload(ProcedureRow.documents))
        .where(ProcedureRow.department_id == department_id)
    )
    records = [to_record(row) for row in session.scalars(stmt)]
    # Sorted here on folded text: database collations disagree on where Đ and accents go.
    return sorted(records, key=lambda p: (fold(p.field), fold(p.name), p.code))


def fields_of(session: Session, *, department_id: str) -> list[str]:
    """The distinct fields (lĩnh vực) of a department's procedures, alphabetically."""
    stmt = (
        select(ProcedureRow.field)
        .where(ProcedureRow.department_id == department_id, ProcedureRow.field != "")
        .distinct()
    )
    return sorted(session.scalars(stmt), key=lambda f: (fold(f), f))


class DbProcedureCatalogue:
    """:class:`integrations.base.ProcedureCatalogue` over the database tables."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def _get(self, code: str) -> Procedure | None:
        with self._factory() as session:
            return get_procedure(session, code=code)

    def _search(self, text: str, limit: int) -> list[Procedure]:
        with self._factory() as session:
            return search_procedures(session, text=text, limit=limit)

    def _by_department(self, dept_id: str) -> list[Procedure]:
        with self._factory() as session:
            return procedures_of(session, department_id=dept_id)

    def _fields(self, dept_id: str) -> list[str]:
        with self._factory() as session:
            return fields_of(session, department_id=dept_id)

    async def get(self, code: str) -> Procedure | None:
        """The procedure with this code, or None."""
        return await asyncio.to_thread(self._get, code)

    async def search(self, text: str, limit: int = 5) -> list[Procedure]:
        """Best matches for a code or free text, diacritic-insensitive, best first."""
        return await asyncio.to_thread(self._search, text, limit)

    async def by_department(self, dept_id: str) -> list[Procedure]:
        """Every procedure of one department."""
        return await asyncio.to_thread(self._by_department, dept_id)

    async def fields(self, dept_id: str) -> list[str]:
        """The fields of one department's procedures."""
        return await asyncio.to_thread(self._fields, dept_id)
