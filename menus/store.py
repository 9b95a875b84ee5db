"""Drafts, published versions, the active version, rollback and diff of menu trees.

Life of a tree: a **draft** (source text, editable, may be invalid) is checked and **published**
as an immutable, numbered **version** (author, time, note, content hash) that becomes the tree's
**active** version. Version numbers are global and only grow (a publish retried after losing
the race to a concurrent first publish of the same tree may leave a gap). A call pins the
version it starts with through :meth:`MenuStore.active`, so a publish during a call never
changes that call.

**Rollback publishes** the old content again as a new version (with ``rollback_of`` pointing at
the old number) and makes it active; it does not move the pointer back. History therefore reads
in order, the active version is always the newest of its tree, and a rollback is itself
auditable (who, when, why).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from integrations.catalogue_tables import DepartmentRow, ProcedureRow
from menus.loader import Format, load_data
from menus.model import MenuError, MenuTree
from menus.schema import dump, read_tree
from menus.tables import MenuActiveRow, MenuDraftRow, MenuVersionRow
from menus.tree_data import tree_from_dict, tree_to_dict
from menus.validate import KnownIds, Problem, check_text, validate

PUBLISH_ATTEMPTS = 3
"""Tries of a publish that lost the race to create a tree's active row."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MenuNotFound(MenuError):
    """No draft, version or active version by that id."""


class PublishRefused(MenuError):
    """A tree with problems cannot be published; ``problems`` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s), first: {problems[0]}")


@dataclass(frozen=True)
class Draft:
    """A tree being edited."""

    id: int
    tree_id: str
    title: str
    fmt: Format
    source: str
    author: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Version:
    """A published version (the tree itself comes from :meth:`MenuStore.tree`)."""

    number: int
    tree_id: str
    title: str
    author: str
    note: str
    published_at: datetime
    content_hash: str
    rollback_of: int | None
    active: bool


@dataclass(frozen=True)
class NodeChange:
    """How one node differs between two versions; ``fields`` are paths inside the node."""

    node_id: str
    change: Literal["added", "removed", "changed"]
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreeDiff:
    """Node-level differences from version ``old`` to version ``new``."""

    old: int
    new: int
    tree_fields: tuple[str, ...]
    nodes: tuple[NodeChange, ...]

    @property
    def empty(self) -> bool:
        """True when both versions hold the same tree."""
        return not self.tree_fields and not self.nodes


def canonical_json(tree: MenuTree) -> str:
    """The stored form of a tree: its data without the version number, keys sorted."""
    data = tree_to_dict(dataclasses.replace(tree, version=None))
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(tree: MenuTree) -> str:
    """SHA-256 of :func:`canonical_json`: equal trees have equal hashes."""
    return hashlib.sha256(canonical_json(tree).encode("utf-8")).hexdigest()


def _paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Field paths where two pieces of plain data differ (``choices[1].next``, ``prompt``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in list(old) + [k for k in new if k not in old]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                out.append(path)
            else:
                out.extend(_paths(old[key], new[key], path))
        return out
    if isinstance(old, list) and isinstance(new, list):
        out = []
        for i in range(max(len(old), len(new))):
            path = f"{prefix}[{i}]"
            if i >= len(old) or i >= len(new):
                out.append(path)
            else:
                out.extend(_paths(old[i], new[i], path))
        return out
    return [] if old == new else [prefix]


def diff_trees(
    old: MenuTree, new: MenuTree, *, old_number: int = 0, new_number: int = 0
) -> TreeDiff:
    """Node-level differences between two trees (version numbers are ignored)."""
    old_data = tree_to_dict(dataclasses.replace(old, version=None))
    new_data = tree_to_dict(dataclasses.replace(new, version=None))
    old_nodes, new_nodes = old_data.pop("nodes"), new_data.pop("nodes")
    changes: list[NodeChange] = []
    for node_id in old.nodes:
        if node_id not in new.nodes:
            changes.append(NodeChange(node_id, "removed"))
            continue
        fields = _paths(old_nodes[node_id], new_nodes[node_id])
        if fields:
            changes.append(NodeChange(node_id, "changed", tuple(fields)))
    changes.extend(NodeChange(n, "added") for n in new.nodes if n not in old.nodes)
    return TreeDiff(old_number, new_number, tuple(_paths(old_data, new_data)), tuple(changes))


def _draft(row: MenuDraftRow) -> Draft:
    fmt: Format = "json" if row.fmt == "json" else "yaml"
    created, updated = _aware(row.created_at), _aware(row.updated_at)
    return Draft(row.id, row.tree_id, row.title, fmt, row.source, row.author, created, updated)


class MenuStore:
    """Drafts and versions in the database (SQLite or PostgreSQL), through injected sessions."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        # Published versions never change, so a parsed tree can be kept per version number.
        self._trees: dict[int, MenuTree] = {}

    # ------------------------------------------------------------------------------ drafts

    def create_draft(self, source: str | bytes, *, fmt: Format, author: str) -> Draft:
        """Store a new draft. The source must load safely (MenuLoadError otherwise); it may
        still fail the schema or validation: that is what :meth:`check_draft` reports."""
        text, tree_id, title = _inspect(source, fmt)
        now = self._clock()
        with unit_of_work(self._sessions) as session:
            row = MenuDraftRow(
                tree_id=tree_id,
                title=title,
                fmt=fmt,
                source=text,
                author=author,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _draft(row)

    def update_draft(
        self, draft_id: int, source: str | bytes, *, fmt: Format, author: str
    ) -> Draft:
        """Replace a draft's source (same loading rule as :meth:`create_draft`)."""
        text, tree_id, title = _inspect(source, fmt)
        with unit_of_work(self._sessions) as session:
            row = self._draft_row(session, draft_id)
            row.source, row.fmt, row.tree_id, row.title = text, fmt, tree_id, title
            row.author, row.updated_at = author, self._clock()
            session.flush()
            return _draft(row)

    def draft(self, draft_id: int) -> Draft:
        """One draft (MenuNotFound if absent)."""
        with unit_of_work(self._sessions) as session:
            return _draft(self._draft_row(session, draft_id))

    def drafts(self) -> list[Draft]:
        """Every draft, newest first."""
        with unit_of_work(self._sessions) as session:
            rows = session.scalars(select(MenuDraftRow).order_by(MenuDraftRow.id.desc()))
            return [_draft(r) for r in rows]

    def delete_draft(self, draft_id: int) -> None:
        """Forget a draft (published versions are not affected)."""
        with unit_of_work(self._sessions) as session:
            session.delete(self._draft_row(session, draft_id))

    def draft_from_version(self, number: int, *, fmt: Format, author: str) -> Draft:
        """A new draft holding a published version's tree, to edit it."""
        return self.create_draft(dump(self.tree(number), fmt), fmt=fmt, author=author)

    def check_draft(self, draft_id: int, known: KnownIds) -> tuple[MenuTree | None, list[Problem]]:
        """The draft's tree (None when it cannot be built) and its problems."""
        draft = self.draft(draft_id)
        return check_text(
            draft.source,
            fmt=draft.fmt,
            departments=known.departments,
            procedures=known.procedures,
        )

    @staticmethod
    def _draft_row(session: Session, draft_id: int) -> MenuDraftRow:
        row = session.get(MenuDraftRow, draft_id)
        if row is None:
            raise MenuNotFound(f"no draft {draft_id}")
        return row

    # ------------------------------------------------------------------------------ publish

    def publish_draft(self, draft_id: int, *, author: str, note: str, known: KnownIds) -> Version:
        """Check a draft and publish it (PublishRefused with every problem when it has any)."""
        tree, problems = self.check_draft(draft_id, known)
        if tree is None or problems:
            raise PublishRefused(problems)
        return self._publish(tree, author=author, note=note, rollback_of=None)

    def publish(self, tree: MenuTree, *, author: str, note: str, known: KnownIds) -> Version:
        """Validate a tree and publish it as the active version of its tree id."""
        problems = validate(tree, departments=known.departments, procedures=known.procedures)
        if problems:
            raise PublishRefused(problems)
        return self._publish(tree, author=author, note=note, rollback_of=None)

    def rollback(self, number: int, *, author: str, note: str = "") -> Version:
        """Publish version ``number``'s content again as a new active version.

        It was valid when published, so it is not validated again: a rollback must work even when
        a department it names has since been renamed (the admin is restoring a known state)."""
        tree = self.tree(number)
        note = note or f"rollback to version {number}"
        return self._publish(tree, author=author, note=note, rollback_of=number)

    def _publish(
        self, tree: MenuTree, *, author: str, note: str, rollback_of: int | None
    ) -> Version:
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                return self._publish_once(tree, author=author, note=note, rollback_of=rollback_of)
            except IntegrityError:
                # Two first publishes of a tree both inserted its active row; the loser retries
                # and then finds (and locks) the winner's row.
                if attempt + 1 == PUBLISH_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _publish_once(
        self, tree: MenuTree, *, author: str, note: str, rollback_of: int | None
    ) -> Version:
        now = self._clock()
        with unit_of_work(self._sessions) as session:
            row = MenuVersionRow(
                tree_id=tree.id,
                title=tree.title,
                content=canonical_json(tree),
                content_hash=content_hash(tree),
                author=author,
                note=note,
                published_at=now,
                rollback_of=rollback_of,
            )
            session.add(row)
            session.flush()
            active = session.get(MenuActiveRow, tree.id, with_for_update=True)
            if active is None:
                session.add(MenuActiveRow(tree_id=tree.id, version=row.number, activated_at=now))
            elif active.version < row.number:
                # Concurrent publishes may take the lock out of number order: the newest wins.
                active.version, active.activated_at = row.number, now
            session.flush()
            return _version(row, active=active is None or active.version == row.number)

    # ------------------------------------------------------------------------------ read

    def versions(self, tree_id: str | None = None) -> list[Version]:
        """Published versions, newest first (of one tree, or all)."""
        with unit_of_work(self._sessions) as session:
            query = select(MenuVersionRow).order_by(MenuVersionRow.number.desc())
            if tree_id is not None:
                query = query.where(MenuVersionRow.tree_id == tree_id)
            active = set(session.scalars(select(MenuActiveRow.version)))
            return [_version(r, active=r.number in active) for r in session.scalars(query)]

    def version(self, number: int) -> Version:
        """One version's record (MenuNotFound if absent)."""
        with unit_of_work(self._sessions) as session:
            row = session.get(MenuVersionRow, number)
            if row is None:
                raise MenuNotFound(f"no version {number}")
            active = session.get(MenuActiveRow, row.tree_id)
            return _version(row, active=active is not None and active.version == number)

    def tree(self, number: int) -> MenuTree:
        """The tree of version ``number``, with ``version`` set (MenuNotFound if absent)."""
        cached = self._trees.get(number)
        if cached is not None:
            return cached
        with unit_of_work(self._sessions) as session:
            row = session.get(MenuVersionRow, number)
            if row is None:
                raise MenuNotFound(f"no version {number}")
            content = row.content
        tree = dataclasses.replace(tree_from_dict(json.loads(content)), version=number)
        self._trees[number] = tree
        return tree

    def active(self, tree_id: str = "hotline") -> tuple[int, MenuTree]:
        """The active version number and tree of ``tree_id``, for a call to pin at its start
        (MenuNotFound when the tree was never published)."""
        with unit_of_work(self._sessions) as session:
            row = session.get(MenuActiveRow, tree_id)
            if row is None:
                raise MenuNotFound(f"tree {tree_id!r} has no published version")
            number = row.version
        return number, self.tree(number)

    def diff(self, old: int, new: int) -> TreeDiff:
        """Node-level differences from version ``old`` to version ``new``."""
        return diff_trees(self.tree(old), self.tree(new), old_number=old, new_number=new)

    def diff_draft(self, draft_id: int, known: KnownIds) -> TreeDiff:
        """What publishing a draft would change against its tree's active version (``new`` is
        0: the draft). PublishRefused when the draft cannot even be built into a tree; a draft
        of a tree never published is compared with an empty tree (every node added)."""
        draft_tree, problems = self.check_draft(draft_id, known)
        if draft_tree is None:
            raise PublishRefused(problems)
        try:
            number, active = self.active(draft_tree.id)
        except MenuNotFound:
            number, active = 0, dataclasses.replace(draft_tree, nodes={})
        return diff_trees(active, draft_tree, old_number=number, new_number=0)


def known_ids_from_tables(sessions: sessionmaker[Session]) -> KnownIds:
    """Department ids and procedure codes as the catalogue tables hold them now."""
    with unit_of_work(sessions) as session:
        departments = frozenset(session.scalars(select(DepartmentRow.id)))
        procedures = frozenset(session.scalars(select(ProcedureRow.code)))
    return KnownIds(departments, procedures)


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes even for timezone-aware columns; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _version(row: MenuVersionRow, *, active: bool) -> Version:
    return Version(
        number=row.number,
        tree_id=row.tree_id,
        title=row.title,
        author=row.author,
        note=row.note,
        published_at=_aware(row.published_at),
        content_hash=row.content_hash,
        rollback_of=row.rollback_of,
        active=active,
    )


def _inspect(source: str | bytes, fmt: Format) -> tuple[str, str, str]:
    """Safely load a draft's source; return its text, tree id and title (blank when absent)."""
    data = load_data(source, fmt=fmt)
    text = source.decode("utf-8") if isinstance(source, bytes) else source
    tree_id = data.get("id")
    title = data.get("title")
    return (
        text,
        tree_id[:64] if isinstance(tree_id, str) else "",
        title[:200] if isinstance(title, str) else "",
    )


class PublishedTrees:
    """What a new call runs: the active published version of one tree.

    Until anything is published, the ``fallback`` file (the default tree, as loaded, with no
    version number) is used so a fresh install answers calls. :meth:`current` does blocking
    database I/O: from the IVR's event loop call it through ``asyncio.to_thread``.
    """

    def __init__(
        self, store: MenuStore, *, tree_id: str = "hotline", fallback: Path | None = None
    ) -> None:
        self._store = store
        self._tree_id = tree_id
        self._fallback = fallback
        self._fallback_tree: MenuTree | None = None

    def current(self) -> MenuTree:
        """The tree to pin at the start of a call (``version`` set when it is published)."""
        try:
            return self._store.active(self._tree_id)[1]
        except MenuNotFound:
            if self._fallback is None:
                raise
        if self._fallback_tree is None:
            self._fallback_tree = read_tree(self._fallback)
        return self._fallback_tree


def publish_default(
    store: MenuStore, path: Path, *, known: KnownIds, author: str = "system"
) -> Version | None:
    """Publish the tree in ``path`` when its tree id has no published version yet (first start,
    ``db init``); returns the new version, or None when one was already published."""
    tree = read_tree(path)
    try:
        store.active(tree.id)
    except MenuNotFound:
        return store.publish(
            tree, author=author, note=f"default tree from {path.name}", known=known
        )
    return None
