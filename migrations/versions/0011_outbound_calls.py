"""Outbound call requests: "call back now" from the officer console, claimed by one worker.

Revision ID: 0011_outbound_calls
Revises: 0010_node_heartbeats
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_outbound_calls"
down_revision: str | Sequence[str] | None = "0010_node_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("state IN ('requested', 'ringing-officer', 'calling-citizen', 'connected')")


def upgrade() -> None:
    op.create_table(
        "outbound_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("officer", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("corrected_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_calls")),
    )
    op.create_index(
        "ux_outbound_calls_open", "outbound_calls", ["source", "ref"], unique=True,
        postgresql_where=_OPEN, sqlite_where=_OPEN,
    )  # fmt: skip
    op.create_index("ix_outbound_calls_state", "outbound_calls", ["state"])
    op.create_index("ix_outbound_calls_officer", "outbound_calls", ["officer", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_outbound_calls_officer", table_name="outbound_calls")
    op.drop_index("ix_outbound_calls_state", table_name="outbound_calls")
    op.drop_index("ux_outbound_calls_open", table_name="outbound_calls")
    op.drop_table("outbound_calls")
