"""Tables of the menus package: editable drafts, immutable published versions, active pointer.

A published version row is never updated or deleted: calls in progress and the call log refer to
it by number. Rolling back publishes the old content again as a new version (see
:meth:`menus.store.MenuStore.rollback`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db import Base


class MenuDraftRow(Base):
    """A tree being edited: the admin's source text (YAML keeps its comments) and its format."""

    __tablename__ = "menu_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_id: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    fmt: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MenuVersionRow(Base):
    """One published version: canonical JSON of the tree, its hash, who published it and why."""

    __tablename__ = "menu_versions"
    __table_args__ = (Index("ix_menu_versions_tree_id", "tree_id"),)

    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rollback_of: Mapped[int | None] = mapped_column(
        ForeignKey("menu_versions.number", ondelete="RESTRICT")
    )


class MenuActiveRow(Base):
    """Which version of a tree new calls get."""

    __tablename__ = "menu_active"

    tree_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("menu_versions.number", ondelete="RESTRICT"))
    activated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
