"""The node that carries each call, and each node's heartbeat: a node that stops beating has
its open calls recorded as lost by another node (or by itself when it starts again).

Revision ID: 0010_node_heartbeats
Revises: 0009_call_hours
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_node_heartbeats"
down_revision: str | Sequence[str] | None = "0009_call_hours"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("carried_by", sa.String(length=128), server_default="", nullable=False)
        )
    op.create_index(
        "ix_calls_open_carried_by", "calls", ["carried_by"],
        postgresql_where=_OPEN, sqlite_where=_OPEN,
    )  # fmt: skip
    op.create_table(
        "node_heartbeats",
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_node_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("node_heartbeats")
    op.drop_index("ix_calls_open_carried_by", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("carried_by")
