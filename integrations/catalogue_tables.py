"""Catalogue tables: procedures with their documents, departments, officers, holiday overrides.

Created by migration ``0002_catalogue_calls``; keep both in step.

``procedures.search_key`` holds the code, name, field, agency and keywords folded to lowercase
ASCII (diacritics and đ removed), so a diacritic-insensitive search is a plain ``LIKE`` that
behaves the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import Base


class ProcedureRow(Base):
    """One administrative procedure (thủ tục hành chính)."""

    __tablename__ = "procedures"
    __table_args__ = (Index("ix_procedures_department_id", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(255), default="")
    department_id: Mapped[str] = mapped_column(String(64), default="")
    agency: Mapped[str] = mapped_column(String(255), default="")
    online_level: Mapped[int | None] = mapped_column(SmallInteger)
    processing_days: Mapped[int | None] = mapped_column(Integer)
    processing_working_days: Mapped[bool] = mapped_column(Boolean, default=True)
    processing_time_note: Mapped[str] = mapped_column(Text, default="")
    fee_vnd: Mapped[int | None] = mapped_column(Integer)
    fee_note: Mapped[str] = mapped_column(Text, default="")
    channels: Mapped[list[int]] = mapped_column(JSON, default=list)
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligible_applicants: Mapped[str] = mapped_column(Text, default="")
    result_document: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    name_key: Mapped[str] = mapped_column(Text, default="")
    search_key: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    documents: Mapped[list[ProcedureDocumentRow]] = relationship(
        back_populates="procedure",
        cascade="all, delete-orphan",
        order_by="ProcedureDocumentRow.position",
    )


class ProcedureDocumentRow(Base):
    """A document an applicant supplies for a procedure."""

    __tablename__ = "procedure_documents"
    __table_args__ = (Index("ix_procedure_documents_procedure_id", "procedure_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedures.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    name: Mapped[str] = mapped_column(Text)
    copies: Mapped[int] = mapped_column(SmallInteger, default=1)
    form: Mapped[str | None] = mapped_column(Text)

    procedure: Mapped[ProcedureRow] = relationship(back_populates="documents")


class DepartmentRow(Base):
    """A department or office whose officers take transferred calls.

    ``hours`` maps weekday names (``mon`` … ``sun``) to ``"HH:MM-HH:MM"`` ranges; two ranges a day
    leave the lunch break out. ``transfer_uri`` is the department's queue or hunt group; when it
    is empty the first active officer's URI is used.
    """

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    short_name: Mapped[str] = mapped_column(String(64), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    transfer_uri: Mapped[str] = mapped_column(String(255), default="")
    hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    officers: Mapped[list[OfficerRow]] = relationship(
        back_populates="department",
        cascade="all, delete-orphan",
        order_by="OfficerRow.position",
    )


class OfficerRow(Base):
    """An officer (cán bộ) who answers transferred calls and logs in to the console.

    Secrets are never stored in clear: ``sip_ha1`` and ``sip_ha1_sha256`` are the digest HA1s
    (MD5 and SHA-256 of ``user:realm:password``, RFC 8760: what a SIP registrar needs; migration
    ``0006_officer_registrar`` added the SHA-256 one) and ``web_password_hash`` an scrypt hash.
    """

    __tablename__ = "officers"
    __table_args__ = (Index("ix_officers_department_id", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    name: Mapped[str] = mapped_column(String(255))
    extension: Mapped[str] = mapped_column(String(32), unique=True)
    sip_uri: Mapped[str] = mapped_column(String(255), default="")
    sip_realm: Mapped[str] = mapped_column(String(255), default="")
    sip_ha1: Mapped[str] = mapped_column(String(64), default="")
    sip_ha1_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    web_login: Mapped[str | None] = mapped_column(String(64), unique=True)
    web_password_hash: Mapped[str] = mapped_column(String(255), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[DepartmentRow] = relationship(back_populates="officers")


class HolidayOverrideRow(Base):
    """A yearly government announcement on top of the statutory holidays.

    kind: ``tet`` (a day of the announced Tết span; replaces the computed span of that lunar
    year), ``off`` (an extra day off) or ``work`` (a make-up working day).
    """

    __tablename__ = "holiday_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255), default="")
