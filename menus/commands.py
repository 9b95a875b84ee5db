"""``tongdai menus ...``: validate, publish, list, roll back, diff and export menu trees.

Exit status: 0 success, 1 the tree has problems (each printed as node, field, message),
2 the command could not run (missing file or version, database not ready).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import SQLAlchemyError

from config.settings import load_settings
from db import create_engine_from_url, session_factory
from menus.loader import format_for
from menus.schema import dump, schema_json
from menus.store import MenuNotFound, MenuStore, PublishRefused, known_ids_from_tables
from menus.validate import KnownIds, Problem, check_text

OK, PROBLEMS, FAILED = 0, 1, 2


class CommandFailed(Exception):
    """The command cannot run; the message says why."""


def register(sub: Any) -> None:
    """Add ``menus`` and its subcommands to the top-level parser."""
    parser: argparse.ArgumentParser = sub.add_parser("menus", help="menu trees: check, publish")
    commands = parser.add_subparsers(dest="menus_command", required=True)

    def add(name: str, helptext: str, func: Callable[[argparse.Namespace], int]) -> Any:
        p = commands.add_parser(name, help=helptext, description=helptext)
        p.set_defaults(func=lambda args: _run(func, args))
        return p

    p = add("validate", "check a menu file and print every problem", _validate)
    p.add_argument("file", type=Path)
    _known_arguments(p)
    _database_argument(p)

    p = add("publish", "validate a menu file and publish it as the active version", _publish)
    p.add_argument("file", type=Path)
    p.add_argument("--note", required=True, help="why this version is published")
    p.add_argument("--author", required=True, help="who publishes it")
    _known_arguments(p)
    _database_argument(p)

    p = add("list", "list published versions, newest first", _list)
    p.add_argument("--tree", default=None, help="only versions of this tree id")
    _database_argument(p)

    p = add("rollback", "publish an old version's content again as the active one", _rollback)
    p.add_argument("version", type=int)
    p.add_argument("--author", default="admin")
    p.add_argument("--note", default="")
    _database_argument(p)

    p = add("diff", "node-level differences between two versions", _diff)
    p.add_argument("old", type=int)
    p.add_argument("new", type=int)
    _database_argument(p)

    p = add("export", "print a published version as YAML or JSON", _export)
    p.add_argument("version", type=int)
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.add_argument("-o", "--output", type=Path, default=None, help="write to this file")
    _database_argument(p)

    add("schema", "print the JSON Schema of menu files", _schema)


def _known_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--departments",
        default=None,
        help="comma-separated known department ids (default: from the database)",
    )
    p.add_argument(
        "--procedures",
        default=None,
        help="comma-separated known procedure codes (default: from the database)",
    )


def _database_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", default=None, help="default: from settings")


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return func(args)
    except (CommandFailed, MenuNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0]
        print(f"error: database not ready (run `tongdai db init`?): {reason}", file=sys.stderr)
        return FAILED


@contextmanager
def _store(args: argparse.Namespace) -> Iterator[MenuStore]:
    url = args.database_url or load_settings().database_url
    engine = create_engine_from_url(url)
    try:
        yield MenuStore(session_factory(engine))
    finally:
        engine.dispose()


def _ids(text: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip())


def _known(args: argparse.Namespace) -> KnownIds:
    if args.departments is not None:
        return KnownIds(_ids(args.departments), _ids(args.procedures))
    url = args.database_url or load_settings().database_url
    engine = create_engine_from_url(url)
    try:
        known = known_ids_from_tables(session_factory(engine))
    finally:
        engine.dispose()
    if args.procedures is not None:
        known = KnownIds(known.departments, _ids(args.procedures))
    if not known.departments:
        raise CommandFailed(
            "no departments in the database to check references against "
            "(load the catalogue, or pass --departments)"
        )
    return known


def print_problems(problems: list[Problem], out: TextIO) -> None:
    """One line per problem: node, field, message and code, aligned."""
    rows = [(p.node_id or "(tree)", p.field or "-", p.message, p.code.value) for p in problems]
    node_w = max(len(r[0]) for r in rows)
    field_w = max(len(r[1]) for r in rows)
    for node, field, message, code in rows:
        print(f"{node:<{node_w}}  {field:<{field_w}}  {message}  [{code}]", file=out)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandFailed(f"cannot read {path}: {exc.strerror}") from None


def _check_file(args: argparse.Namespace) -> tuple[Any, list[Any], Any]:
    """Load and validate ``args.file``: (tree or None, problems, the known ids used)."""
    known = _known(args)
    tree, problems = check_text(
        _read(args.file),
        fmt=format_for(args.file),
        departments=known.departments,
        procedures=known.procedures,
    )
    return tree, problems, known


def _validate(args: argparse.Namespace) -> int:
    tree, problems, _ = _check_file(args)
    if tree is None or problems:
        print_problems(problems, sys.stdout)
        print(f"{args.file}: {len(problems)} problem(s)")
        return PROBLEMS
    print(f"{args.file}: tree {tree.id!r}, {len(tree.nodes)} nodes, no problems")
    return OK


def _publish(args: argparse.Namespace) -> int:
    tree, problems, known = _check_file(args)
    if tree is None or problems:
        print_problems(problems, sys.stdout)
        print(f"not published: {len(problems)} problem(s)")
        return PROBLEMS
    with _store(args) as store:
        try:
            version = store.publish(tree, author=args.author, note=args.note, known=known)
        except PublishRefused as exc:  # pragma: no cover - checked just above
            print_problems(exc.problems, sys.stdout)
            return PROBLEMS
    print(f"published {tree.id!r} as version {version.number} (active)")
    return OK


def _list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        versions = store.versions(args.tree)
    if not versions:
        print("no published versions")
        return OK
    for v in versions:
        mark = "*" if v.active else " "
        when = v.published_at.strftime("%Y-%m-%d %H:%M")
        origin = f" (rollback of {v.rollback_of})" if v.rollback_of is not None else ""
        print(
            f"{mark} {v.number:>4}  {v.tree_id:<12}  {when}  {v.author:<16}  "
            f"{v.content_hash[:12]}  {v.note}{origin}"
        )
    return OK


def _rollback(args: argparse.Namespace) -> int:
    with _store(args) as store:
        version = store.rollback(args.version, author=args.author, note=args.note)
    print(f"version {args.version} published again as version {version.number} (active)")
    return OK


def _diff(args: argparse.Namespace) -> int:
    with _store(args) as store:
        diff = store.diff(args.old, args.new)
    if diff.empty:
        print(f"versions {args.old} and {args.new} hold the same tree")
        return OK
    for field in diff.tree_fields:
        print(f"~ (tree) {field}")
    signs = {"added": "+", "removed": "-", "changed": "~"}
    for change in diff.nodes:
        fields = f" {', '.join(change.fields)}" if change.fields else ""
        print(f"{signs[change.change]} {change.node_id}{fields}")
    return OK


def _export(args: argparse.Namespace) -> int:
    with _store(args) as store:
        text = dump(store.tree(args.version), args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return OK


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_json())
    return OK


def publish_default_tree(factory: Any) -> None:
    """Publish config/menus/hotline.yaml as version 1 when no version exists yet, so the admin
    API shows what callers hear from the first start."""
    import asyncio

    from config.settings import load_settings
    from integrations.officers import DbOfficerDirectory
    from integrations.procedures import DbProcedureCatalogue
    from menus.store import MenuStore, publish_default
    from menus.validate import known_ids

    path = load_settings().menus.default_tree
    known = asyncio.run(known_ids(DbOfficerDirectory(factory), DbProcedureCatalogue(factory)))
    version = publish_default(MenuStore(factory), path, known=known)
    if version is not None:
        print(f"menu tree {path.name} published as version {version.number}")
