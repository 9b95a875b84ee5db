"""``tongdai voice``: import a voice pack, and report how much of a tree version is a human voice.

Composition code: it reads the settings, the published trees and the catalogue's names, and
hands them to :mod:`speech.pack_import` and :mod:`speech.voice_coverage`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

FAILED = 1


def register(sub: Any) -> None:
    """Add ``voice import`` and ``voice coverage`` to the top-level parser."""
    voice = sub.add_parser("voice", help="recorded prompts and voice packs")
    vsub = voice.add_subparsers(dest="voice_command", required=True)
    p = vsub.add_parser("import", help="import WAV files named by their text into the voice pack")
    p.add_argument("folder", type=Path, help="a folder of recordings, e.g. 'tháng.wav'")
    p.add_argument("--pack", type=Path, help="the pack folder (default: speech.voice_pack_dir)")
    p.add_argument("--database-url", help="where department and procedure names are read")
    p.set_defaults(func=_import)
    c = vsub.add_parser("coverage", help="recorded prompts, pack gaps, human share of a call")
    c.add_argument("--version", type=int, help="tree version (default: the active one)")
    c.add_argument("--pack", type=Path, help="the pack folder (default: speech.voice_pack_dir)")
    c.add_argument("--recordings", type=Path, help="default: speech.recordings_dir")
    c.add_argument("--database-url")
    c.set_defaults(func=_coverage)


def catalogue_names(database_url: str) -> list[str]:
    """Department and procedure names from the catalogue (empty when it cannot be read)."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from db import create_engine_from_url, session_factory, unit_of_work
    from integrations.catalogue_tables import DepartmentRow, ProcedureRow

    engine = create_engine_from_url(database_url)
    try:
        with unit_of_work(session_factory(engine)) as session:
            names = list(session.scalars(select(DepartmentRow.name)))
            names += list(session.scalars(select(ProcedureRow.name)))
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()
    return [str(n) for n in names]


def sample_answers(today: date | None = None) -> list[str]:
    """The dynamic sentences of a typical dossier call: read-back, status, personal details."""
    from integrations.base import DossierStatus
    from integrations.privacy import view_for
    from integrations.sample_dossiers import demo_dossiers
    from ivr.runtime import phrases

    day = today or date.today()
    dossiers = demo_dossiers(day)
    chosen = [d for d in dossiers if d.status is DossierStatus.SUPPLEMENT_REQUIRED][:1]
    out: list[str] = []
    for dossier in chosen or dossiers[:1]:
        view = view_for(dossier, verified=True, today=day)
        out.append(phrases.read_back(dossier.code[-11:].replace("-", "")))
        out.append(phrases.status_sentence(view))
        out.append(phrases.personal_sentence(view))
    return [s for s in out if s]


def _import(args: argparse.Namespace) -> int:
    from config.settings import load_settings
    from speech.pack_import import import_pack
    from speech.pack_vocabulary import vocabulary
    from speech.voice_pack import VoicePack, VoicePackError, missing_words

    settings = load_settings()
    pack_dir = args.pack or settings.speech.voice_pack_dir
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return FAILED
    report = import_pack(args.folder, pack_dir)
    print(f"imported {len(report.imported)} fragments into {pack_dir}")
    for name, reason in report.refused.items():
        print(f"refused {name}: {reason}")
    try:
        pack = VoicePack.load(pack_dir)
    except VoicePackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    names = catalogue_names(args.database_url or settings.database_url)
    missing = missing_words(pack, vocabulary(names))
    print(f"missing {len(missing)} of {len(vocabulary(names))} words and phrases:")
    for entry in missing:
        print(f"  {entry}")
    return FAILED if report.refused else 0


def _coverage(args: argparse.Namespace) -> int:
    from config.settings import load_settings
    from db import create_engine_from_url, session_factory
    from menus.model import MenuError
    from menus.store import MenuStore
    from speech.pack_vocabulary import vocabulary
    from speech.recorded import RecordedPrompts
    from speech.voice_coverage import coverage
    from speech.voice_pack import MANIFEST, VoicePack, VoicePackError

    settings = load_settings()
    url = args.database_url or settings.database_url
    engine = create_engine_from_url(url)
    try:
        store = MenuStore(session_factory(engine))
        version, tree = (args.version, store.tree(args.version)) if args.version else store.active()
    except MenuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    finally:
        engine.dispose()
    pack_dir = args.pack or settings.speech.voice_pack_dir
    pack = None
    if (pack_dir / MANIFEST).is_file():
        try:
            pack = VoicePack.load(pack_dir)
        except VoicePackError as exc:
            print(f"warning: voice pack unusable: {exc}", file=sys.stderr)
    recordings = RecordedPrompts(args.recordings or settings.speech.recordings_dir)
    names = catalogue_names(url)
    result = coverage(
        tree, recordings, pack, vocabulary=vocabulary(names), answers=sample_answers()
    )
    print(f"tree {tree.id} version {version}")
    print(f"recorded prompts: {result.recorded_prompts} of {len(result.prompts)}")
    for p in result.prompts:
        mark = "recorded " if p.usable else ("BROKEN   " if p.recording else "synthesis")
        detail = f" [{p.recording}]" if p.recording else ""
        problem = f" ({p.problem})" if p.problem else ""
        print(f"  {mark} {p.text[:70]}{detail}{problem}")
    covered = result.vocabulary - len(result.missing)
    print(f"voice pack: {covered} of {result.vocabulary} words and phrases")
    for entry in result.missing:
        print(f"  missing: {entry}")
    print(
        f"typical call: {result.human_share:.0%} of its spoken words in a human voice "
        f"({result.typical_human_words} of {result.typical_words})"
    )
    return 0
