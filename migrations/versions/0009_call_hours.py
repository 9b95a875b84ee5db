"""Hourly figures of ended calls for the dashboard; an index for the call log's outcome filter.

Calls already in the log are counted by ``tongdai calls rollup`` (their ``rolled_up`` is false).

Revision ID: 0009_call_hours
Revises: 0008_call_report_indexes
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_call_hours"
down_revision: str | Sequence[str] | None = "0008_call_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("rolled_up", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index("ix_calls_end_reason_started_at", "calls", ["end_reason", "started_at"])
    op.create_table(
        "call_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("web_calls", sa.Integer(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("duration_count", sa.Integer(), nullable=False),
        sa.Column("transferred", sa.Integer(), nullable=False),
        sa.Column("transfers_ok", sa.Integer(), nullable=False),
        sa.Column("survey_sum", sa.Integer(), nullable=False),
        sa.Column("survey_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_call_hours")),
    )
    op.create_table(
        "call_hour_counts",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("a", sa.String(length=128), nullable=False),
        sa.Column("b", sa.String(length=128), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "kind", "a", "b", name=op.f("pk_call_hour_counts")),
    )


def downgrade() -> None:
    op.drop_table("call_hour_counts")
    op.drop_table("call_hours")
    op.drop_index("ix_calls_end_reason_started_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("rolled_up")
