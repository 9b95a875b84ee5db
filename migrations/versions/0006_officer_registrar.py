"""Officers' softphones: a SHA-256 digest HA1 beside the MD5 one, and the registrar's bindings.

Revision ID: 0006_officer_registrar
Revises: 0005_users_audit
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_officer_registrar"
down_revision: str | Sequence[str] | None = "0005_users_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("officers") as batch:
        batch.add_column(
            sa.Column("sip_ha1_sha256", sa.String(length=64), nullable=False, server_default="")
        )
    op.create_table(
        "sip_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.String(length=512), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"],
            ["officers.extension"],
            name=op.f("fk_sip_bindings_username_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_bindings")),
        sa.UniqueConstraint("username", "contact", name=op.f("uq_sip_bindings_username")),
    )
    op.create_index("ix_sip_bindings_expires_at", "sip_bindings", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sip_bindings_expires_at", table_name="sip_bindings")
    op.drop_table("sip_bindings")
    with op.batch_alter_table("officers") as batch:
        batch.drop_column("sip_ha1_sha256")
