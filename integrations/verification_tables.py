"""The caller-check lockout table: one row per failed attempt at a dossier's phone digits.

Created by migration ``0004_caller_checks``; keep both in step. Rows older than the lockout
window count for nothing and go with the retention purge.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class CheckFailureRow(Base):
    """One wrong answer to the personal-details check, for one dossier, in one call."""

    __tablename__ = "check_failures"
    __table_args__ = (Index("ix_check_failures_dossier_at", "dossier_code", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_code: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
