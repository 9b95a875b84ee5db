"""Core tables: dossiers with their fees, supplement requests and progress entries.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_core"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dossiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("tail", sa.String(length=10), nullable=True),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("procedure_name", sa.Text(), nullable=False),
        sa.Column("applicant_name", sa.String(length=255), nullable=False),
        sa.Column("applicant_type", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("processing_unit", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("return_method", sa.String(length=16), nullable=False),
        sa.Column("result_documents", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossiers")),
        sa.UniqueConstraint("code", name=op.f("uq_dossiers_code")),
    )
    op.create_index(op.f("ix_dossiers_tail"), "dossiers", ["tail"], unique=False)

    op.create_table(
        "dossier_fees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("amount_vnd", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_fees_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_fees")),
    )
    op.create_index("ix_dossier_fees_dossier_id", "dossier_fees", ["dossier_id"], unique=False)

    op.create_table(
        "dossier_supplements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_supplements_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_supplements")),
    )
    op.create_index(
        "ix_dossier_supplements_dossier_id", "dossier_supplements", ["dossier_id"], unique=False
    )

    op.create_table(
        "dossier_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["dossiers.id"],
            name=op.f("fk_dossier_progress_dossier_id_dossiers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_progress")),
    )
    op.create_index(
        "ix_dossier_progress_dossier_id", "dossier_progress", ["dossier_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dossier_progress_dossier_id", table_name="dossier_progress")
    op.drop_table("dossier_progress")
    op.drop_index("ix_dossier_supplements_dossier_id", table_name="dossier_supplements")
    op.drop_table("dossier_supplements")
    op.drop_index("ix_dossier_fees_dossier_id", table_name="dossier_fees")
    op.drop_table("dossier_fees")
    op.drop_index(op.f("ix_dossiers_tail"), table_name="dossiers")
    op.drop_table("dossiers")
