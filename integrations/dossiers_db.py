"""Dossier status from the local database: a :class:`~integrations.base.DossierSource`, and the
bulk upsert used by import and sample data.

Lookups hit the unique index on ``code`` or the index on ``tail``; queries run in a worker thread
so the call's event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db import Base
from integrations.base import (
    ApplicantType,
    Channel,
    Dossier,
    DossierStatus,
    Fee,
    ProgressEntry,
    ReturnMethod,
    SourceUnavailable,
    Supplement,
)
from integrations.dossier_codes import normalize_code, tail_of
from integrations.tables import (
    DossierFeeRow,
    DossierProgressRow,
    DossierRow,
    DossierSupplementRow,
)

UPSERT_BATCH = 500
"""Dossiers written per round of statements; bounded so SQLite's variable limit holds."""


class DatabaseDossierSource:
    """Dossiers stored in tongdai's own database (imported from CSV/JSON or sample data)."""

    name = "database"

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    async def get(self, code: str) -> Dossier | None:
        """The dossier with this code, or None."""
        return await asyncio.to_thread(self.get_sync, code)

    async def find_by_tail(self, tail: str) -> list[Dossier]:
        """Every dossier whose code ends with ``tail`` (``YYMMDDXXXX``), ordered by code."""
        return await asyncio.to_thread(self.find_by_tail_sync, tail)

    def get_sync(self, code: str) -> Dossier | None:
        """Blocking form of :meth:`get`, for commands and benchmarks."""
        found = self._select(_BY_CODE, normalize_code(code))
        return found[0] if found else None

    def find_by_tail_sync(self, tail: str) -> list[Dossier]:
        """Blocking form of :meth:`find_by_tail`."""
        if len(tail) != 10 or not tail.isdigit():
            return []
        return self._select(_BY_TAIL, tail)

    def _select(self, statement: Select[Any], key: str) -> list[Dossier]:
        try:
            with self._factory() as session:
                rows = session.execute(statement, {"key": key}).all()
        except SQLAlchemyError as exc:
            raise SourceUnavailable(self.name, "database-error", type(exc).__name__) from exc
        return _assemble(rows)


# The hot path of the hotline: one round trip, a statement built once, Core rows (the ORM's
# per-object bookkeeping costs more CPU than the query). A dossier has only a few children, so
# the rows the three outer joins multiply stay few.
_D = DossierRow.__table__.c
_F = DossierFeeRow.__table__.c
_S = DossierSupplementRow.__table__.c
_P = DossierProgressRow.__table__.c
_LOOKUP = (
    select(
        *_D,
        _F.id.label("f_id"),
        _F.position.label("f_pos"),
        _F.name.label("f_name"),
        _F.amount_vnd.label("f_amount"),
        _F.paid.label("f_paid"),
        _S.id.label("s_id"),
        _S.position.label("s_pos"),
        _S.content.label("s_content"),
        _S.requested_on.label("s_on"),
        _P.id.label("p_id"),
        _P.position.label("p_pos"),
        _P.at.label("p_at"),
        _P.unit.label("p_unit"),
        _P.action.label("p_action"),
    )
    .select_from(
        DossierRow.__table__.outerjoin(DossierFeeRow.__table__, _F.dossier_id == _D.id)
        .outerjoin(DossierSupplementRow.__table__, _S.dossier_id == _D.id)
        .outerjoin(DossierProgressRow.__table__, _P.dossier_id == _D.id)
    )
    .order_by(_D.code)
)
_BY_CODE = _LOOKUP.where(_D.code == bindparam("key"))
_BY_TAIL = _LOOKUP.where(_D.tail == bindparam("key"))


def _assemble(rows: Sequence[Row[Any]]) -> list[Dossier]:
    """Dossier records from joined rows (children de-duplicated and put in order)."""
    heads: dict[int, Any] = {}
    fees: dict[int, dict[int, tuple[int, Fee]]] = {}
    supplements: dict[int, dict[int, tuple[int, Supplement]]] = {}
    progress: dict[int, dict[int, tuple[int, ProgressEntry]]] = {}
    for row in rows:
        m = row._mapping
        dossier_id = m["id"]
        if dossier_id not in heads:
            heads[dossier_id] = m
            fees[dossier_id], supplements[dossier_id], progress[dossier_id] = {}, {}, {}
        if m["f_id"] is not None:
            fee = Fee(m["f_name"], m["f_amount"], bool(m["f_paid"]))
            fees[dossier_id][m["f_id"]] = (m["f_pos"], fee)
        if m["s_id"] is not None:
            supplement = Supplement(m["s_content"], m["s_on"])
            supplements[dossier_id][m["s_id"]] = (m["s_pos"], supplement)
        if m["p_id"] is not None:
            entry = ProgressEntry(_aware(m["p_at"]), m["p_unit"], m["p_action"])
            progress[dossier_id][m["p_id"]] = (m["p_pos"], entry)
    return [
        Dossier(
            code=m["code"],
            procedure_code=m["procedure_code"],
            procedure_name=m["procedure_name"],
            applicant_name=m["applicant_name"],
            applicant_type=ApplicantType(m["applicant_type"]),
            phone=m["phone"],
            email=m["email"],
            received_on=m["received_on"],
            due_on=m["due_on"],
            status=DossierStatus(m["status"]),
            processing_unit=m["processing_unit"],
            channel=Channel(m["channel"]),
            return_method=ReturnMethod(m["return_method"]),
            fees=_in_order(fees[dossier_id]),
            supplements=_in_order(supplements[dossier_id]),
            result_documents=tuple(m["result_documents"] or ()),
            progress=_in_order(progress[dossier_id]),
        )
        for dossier_id, m in heads.items()
    ]


_T = TypeVar("_T")


def _in_order(children: dict[int, tuple[int, _T]]) -> tuple[_T, ...]:
    # By position, then by id (insertion order) for equal positions.
    return tuple(
        item for _, (_, item) in sorted(children.items(), key=lambda kv: (kv[1][0], kv[0]))
    )


def _aware(at: datetime) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _utc(at: datetime) -> datetime:
    # Stored in UTC: SQLite keeps no offset, so an aware local time would read back wrong.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _columns(dossier: Dossier, now: datetime) -> dict[str, Any]:
    code = normalize_code(dossier.code)
    return {
        "code": code,
        "tail": tail_of(code),
        "procedure_code": dossier.procedure_code,
        "procedure_name": dossier.procedure_name,
        "applicant_name": dossier.applicant_name,
        "applicant_type": dossier.applicant_type.value,
        "phone": dossier.phone,
        "email": dossier.email,
        "received_on": dossier.received_on,
        "due_on": dossier.due_on,
        "status": int(dossier.status),
        "processing_unit": dossier.processing_unit,
        "channel": int(dossier.channel),
        "return_method": dossier.return_method.value,
        "result_documents": list(dossier.result_documents),
        "updated_at": now,
    }


def upsert_dossiers(session: Session, dossiers: Iterable[Dossier]) -> tuple[int, int]:
    """Insert new dossiers and replace existing ones (matched by code) with their children.

    Returns ``(inserted, updated)``. Runs inside the caller's transaction; a code given twice
    keeps its last occurrence. Ids of existing dossiers are kept.
    """
    inserted = updated = 0
    batch: dict[str, Dossier] = {}
    for dossier in dossiers:
        batch[normalize_code(dossier.code)] = dossier
        if len(batch) >= UPSERT_BATCH:
            i, u = _upsert_batch(session, batch)
            inserted, updated = inserted + i, updated + u
            batch = {}
    if batch:
        i, u = _upsert_batch(session, batch)
        inserted, updated = inserted + i, updated + u
    return inserted, updated


def _upsert_batch(session: Session, batch: dict[str, Dossier]) -> tuple[int, int]:
    # Core statements on the session's connection: the ORM's per-row bookkeeping costs more
    # than the database work for bulk loads.
    conn = session.connection()
    table = Base.metadata.tables["dossiers"]
    now = datetime.now(UTC)
    found = conn.execute(select(table.c.code, table.c.id).where(table.c.code.in_(list(batch))))
    existing: dict[str, int] = {code: dossier_id for code, dossier_id in found}
    ids: dict[str, int] = dict(existing)
    if existing:
        columns = _columns(next(iter(batch.values())), now)
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in columns}),
            [{"_id": existing[code], **_columns(batch[code], now)} for code in existing],
        )
        stale = list(existing.values())
        for name in ("dossier_fees", "dossier_supplements", "dossier_progress"):
            child = Base.metadata.tables[name]
            conn.execute(delete(child).where(child.c.dossier_id.in_(stale)))
    new = [code for code in batch if code not in existing]
    if new:
        # Ids come back through one indexed query rather than RETURNING, which not every
        # driver supports with executemany.
        conn.execute(insert(table), [_columns(batch[code], now) for code in new])
        returned = conn.execute(select(table.c.code, table.c.id).where(table.c.code.in_(new)))
        ids.update({code: dossier_id for code, dossier_id in returned})
    _insert_children(conn, ids, batch)
    return len(new), len(existing)


def _insert_children(conn: Connection, ids: dict[str, int], batch: dict[str, Dossier]) -> None:
    fees: list[dict[str, Any]] = []
    supplements: list[dict[str, Any]] = []
    progress: list[dict[str, Any]] = []
    for code, dossier in batch.items():
        dossier_id = ids[code]
        fees += [
            {
                "dossier_id": dossier_id,
                "position": n,
                "name": f.name,
                "amount_vnd": f.amount_vnd,
                "paid": f.paid,
            }
            for n, f in enumerate(dossier.fees)
        ]
        supplements += [
            {
                "dossier_id": dossier_id,
                "position": n,
                "content": s.content,
                "requested_on": s.requested_on,
            }
            for n, s in enumerate(dossier.supplements)
        ]
        progress += [
            {
                "dossier_id": dossier_id,
                "position": n,
                "at": _utc(p.at),
                "unit": p.unit,
                "action": p.action,
            }
            for n, p in enumerate(dossier.progress)
        ]
    for name, rows in (
        ("dossier_fees", fees),
        ("dossier_supplements", supplements),
        ("dossier_progress", progress),
    ):
        if rows:
            conn.execute(insert(Base.metadata.tables[name]), rows)


def count_dossiers(session: Session) -> int:
    """How many dossiers are stored."""
    return int(session.scalar(select(func.count()).select_from(DossierRow)) or 0)


def delete_dossiers(session: Session, codes: Sequence[str]) -> int:
    """Delete dossiers (and their children) by code; returns how many were deleted."""
    result = session.execute(
        delete(DossierRow).where(DossierRow.code.in_([normalize_code(c) for c in codes]))
    )
    return int(getattr(result, "rowcount", 0) or 0)
