"""Caller-check lockout: failed attempts at a dossier's phone digits, across calls.

Revision ID: 0004_caller_checks
Revises: 0003_menus
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_caller_checks"
down_revision: str | Sequence[str] | None = "0003_menus"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "check_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_failures")),
    )
    op.create_index(
        "ix_check_failures_dossier_at", "check_failures", ["dossier_code", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_check_failures_dossier_at", table_name="check_failures")
    op.drop_table("check_failures")
