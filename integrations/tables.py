"""Dossier tables: dossiers with their fees, supplement requests and progress entries.

Created by migration ``0001_core``; keep both in step. ``tail`` (``YYMMDDXXXX``) is stored and
indexed so a caller who typed only the last ten digits is found with one index lookup.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import Base


class DossierRow(Base):
    """One dossier."""

    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    tail: Mapped[str | None] = mapped_column(String(10), index=True)
    procedure_code: Mapped[str] = mapped_column(String(64), default="")
    procedure_name: Mapped[str] = mapped_column(Text, default="")
    applicant_name: Mapped[str] = mapped_column(String(255), default="")
    applicant_type: Mapped[str] = mapped_column(String(16), default="citizen")
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    received_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[int] = mapped_column(SmallInteger)
    processing_unit: Mapped[str] = mapped_column(String(255), default="")
    channel: Mapped[int] = mapped_column(SmallInteger, default=1)
    return_method: Mapped[str] = mapped_column(String(16), default="counter")
    result_documents: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    fees: Mapped[list[DossierFeeRow]] = relationship(
        back_populates="dossier",
        cascade="all, delete-orphan",
        order_by="DossierFeeRow.position",
    )
    supplements: Mapped[list[DossierSupplementRow]] = relationship(
        back_populates="dossier",
        cascade="all, delete-orphan",
        order_by="DossierSupplementRow.position",
    )
    progress: Mapped[list[DossierProgressRow]] = relationship(
        back_populates="dossier",
        cascade="all, delete-orphan",
        order_by="DossierProgressRow.position",
    )


class DossierFeeRow(Base):
    """A fee charged on a dossier."""

    __tablename__ = "dossier_fees"
    __table_args__ = (Index("ix_dossier_fees_dossier_id", "dossier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    name: Mapped[str] = mapped_column(String(255))
    amount_vnd: Mapped[int] = mapped_column(Integer)
    paid: Mapped[bool] = mapped_column(default=False)

    dossier: Mapped[DossierRow] = relationship(back_populates="fees")


class DossierSupplementRow(Base):
    """A request for more documents."""

    __tablename__ = "dossier_supplements"
    __table_args__ = (Index("ix_dossier_supplements_dossier_id", "dossier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    content: Mapped[str] = mapped_column(Text)
    requested_on: Mapped[date] = mapped_column(Date)

    dossier: Mapped[DossierRow] = relationship(back_populates="supplements")


class DossierProgressRow(Base):
    """One processing step."""

    __tablename__ = "dossier_progress"
    __table_args__ = (Index("ix_dossier_progress_dossier_id", "dossier_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unit: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(Text, default="")

    dossier: Mapped[DossierRow] = relationship(back_populates="progress")
