"""Department queues: officers' presence and the entries waiting in each line.

Revision ID: 0007_queues
Revises: 0006_officer_registrar
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_queues"
down_revision: str | Sequence[str] | None = "0006_officer_registrar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "officer_presence",
        sa.Column("extension", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.Column("idle_since", sa.Float(), nullable=False),
        sa.Column("last_offered_at", sa.Float(), nullable=False),
        sa.Column("wrap_until", sa.Float(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["extension"],
            ["officers.extension"],
            name=op.f("fk_officer_presence_extension_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("extension", name=op.f("pk_officer_presence")),
    )
    op.create_index(
        "ix_officer_presence_department_id", "officer_presence", ["department_id"], unique=False
    )
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ticket", sa.Float(), nullable=False),
        sa.Column("enqueued_at", sa.Float(), nullable=False),
        sa.Column("assigned_to", sa.String(length=32), nullable=True),
        sa.Column("connected_at", sa.Float(), nullable=True),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
    )
    op.create_index(
        "ix_queue_entries_line",
        "queue_entries",
        ["department_id", "state", "ticket"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_queue_entries_line", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_index("ix_officer_presence_department_id", table_name="officer_presence")
    op.drop_table("officer_presence")
