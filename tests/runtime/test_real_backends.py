"""The runtime on the project's real back-ends: the database dossier source, procedure catalogue
and officer directory over a migrated SQLite file loaded with the sample data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, migrate, session_factory
from integrations.dossiers_db import DatabaseDossierSource, upsert_dossiers
from integrations.officers import DbOfficerDirectory
from integrations.procedures import DbProcedureCatalogue, fields_of, procedures_of
from integrations.sample_catalogue import load_sample
from integrations.sample_dossiers import demo_dossiers
from ivr.events import LookupDone
from tests.runtime.fake_channel import HangUp, Press, Say
from tests.runtime.fakes import TODAY, Backends, ScriptedRecognizer, call, opening
from tests.support import need


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    path = tmp_path_factory.mktemp("runtime-db") / "tongdai.db"
    engine = create_engine_from_url(f"sqlite:///{path}")
    migrate(engine)
    factory = session_factory(engine)
    load_sample(factory)
    with factory() as session, session.begin():
        upsert_dossiers(session, demo_dossiers(TODAY))
    yield factory
    engine.dispose()


def real_backends(sessions: sessionmaker[Session], **extra: object) -> Backends:
    backends = Backends(**extra)  # type: ignore[arg-type]
    backends.dossiers = DatabaseDossierSource(sessions)  # type: ignore[assignment]
    backends.catalogue = DbProcedureCatalogue(sessions)  # type: ignore[assignment]
    backends.officers = DbOfficerDirectory(sessions)  # type: ignore[assignment]
    return backends


def test_dossier_status_from_the_database(sessions: sessionmaker[Session]) -> None:
    r = call(
        [Press("1"), Press("2503039005#"), Press("1"), HangUp(hear=opening("dossier_after"))],
        backends=real_backends(sessions),
    )
    [lookup] = [e for e in r.of(LookupDone) if isinstance(e, LookupDone)]
    assert lookup.found and lookup.key == "000.00.14.H56-250303-9005"
    assert r.channel.heard("cần bổ sung giấy tờ")
    # The caller ID is the demo dossiers' phone: the supplement requests are read too.
    assert r.channel.heard("Giấy tờ cần bổ sung: Bổ sung giấy xác nhận kiến thức")


def test_procedure_guidance_from_the_catalogue(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        fields = fields_of(session, department_id="so-cong-thuong")
        field_key = str(fields.index("Xúc tiến thương mại") + 1)
        names = [
            p.name
            for p in procedures_of(session, department_id="so-cong-thuong")
            if p.field == "Xúc tiến thương mại"
        ]
    wanted = next(i for i, name in enumerate(names) if name == "Thông báo thực hiện khuyến mại")
    r = call(
        [Press("2"), Press("1"), Press(field_key), Press(str(wanted + 1)),
         HangUp(hear=opening("procedure_after"))],
        backends=real_backends(sessions),
    )  # fmt: skip
    assert r.channel.heard("Thủ tục Thông báo thực hiện khuyến mại")
    assert r.context.lookups[0].key.startswith("2.000002")
    assert r.channel.heard("Thời gian giải quyết")


def test_find_a_procedure_by_voice_in_the_catalogue(
    sessions: sessionmaker[Session], speech_dir: Path
) -> None:
    clip = speech_dir / "call8k_3.wav"
    need(clip.is_file(), f"caller recording {clip} missing")
    backends = real_backends(sessions, recognizer=ScriptedRecognizer(["đăng ký khai sinh"]))
    r = call(
        [
            Press("2"),
            Press("4"),
            Say.wav(clip),
            Press("1"),
            HangUp(hear=opening("procedure_after")),
        ],
        backends=backends,
    )
    # Several matches: the best is offered alone first ("1" accepts it).
    assert r.channel.heard("Có phải quý vị muốn hỏi thủ tục Đăng ký khai sinh không?")
    assert r.channel.heard("Thủ tục Đăng ký khai sinh")
