"""The registrar's table: where each officer's softphones can be reached.

Created by migration ``0006_officer_registrar``; keep both in step. Times are Unix seconds (a
float), the same on SQLite and PostgreSQL and comparable across worker processes and machines.
A binding goes with its officer (``ON DELETE CASCADE`` on the extension).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class SipBindingRow(Base):
    """One registered contact of an officer's device (RFC 3261 §10)."""

    __tablename__ = "sip_bindings"
    __table_args__ = (
        UniqueConstraint("username", "contact"),
        Index("ix_sip_bindings_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(
        String(32), ForeignKey("officers.extension", ondelete="CASCADE")
    )
    contact: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(255))
    cseq: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    registered_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
