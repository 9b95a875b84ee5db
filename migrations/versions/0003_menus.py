"""Menu trees: drafts, published versions and the active version of each tree.

Revision ID: 0003_menus
Revises: 0002_catalogue_calls
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_menus"
down_revision: str | Sequence[str] | None = "0002_catalogue_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "menu_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_menu_drafts")),
    )
    op.create_table(
        "menu_versions",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("tree_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollback_of"],
            ["menu_versions.number"],
            name=op.f("fk_menu_versions_rollback_of_menu_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_menu_versions")),
    )
    op.create_index("ix_menu_versions_tree_id", "menu_versions", ["tree_id"], unique=False)
    op.create_table(
        "menu_active",
        sa.Column("tree_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["menu_versions.number"],
            name=op.f("fk_menu_active_version_menu_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tree_id", name=op.f("pk_menu_active")),
    )


def downgrade() -> None:
    op.drop_table("menu_active")
    op.drop_index("ix_menu_versions_tree_id", table_name="menu_versions")
    op.drop_table("menu_versions")
    op.drop_table("menu_drafts")
