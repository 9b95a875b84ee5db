"""``tongdai voice import`` and ``tongdai voice coverage`` run as the real console command on a
database with the sample catalogue and a published tree whose greeting is recorded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from db import create_engine_from_url, session_factory
from menus.store import MenuStore, known_ids_from_tables
from speech.audio import write_wav
from speech.espeak_engine import EspeakSynthesizer
from tests.e2e.hotline_fixture import prepare_database
from tests.support import ROOT, need

TONGDAI = Path(sys.executable).parent / "tongdai"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    need(TONGDAI.exists(), f"{TONGDAI} is not installed (pip install -e .)")
    return subprocess.run(
        [str(TONGDAI), "voice", *args],
        capture_output=True, text=True, timeout=90, cwd=tmp_path, env=dict(os.environ),
    )  # fmt: skip


def _publish(url: str) -> None:
    source = (ROOT / "config" / "menus" / "hotline.yaml").read_text(encoding="utf-8")
    old = source[source.index("  greeting:") : source.index("  main:")]
    new = (
        "  greeting:\n    kind: say\n"
        "    prompt: {text: Xin kính chào quý vị., recording: greeting}\n    next: main\n\n"
    )
    engine = create_engine_from_url(url)
    sessions = session_factory(engine)
    store = MenuStore(sessions)
    draft = store.create_draft(source.replace(old, new), fmt="yaml", author="test")
    store.publish_draft(draft.id, author="test", note="", known=known_ids_from_tables(sessions))
    engine.dispose()


def _share(out: str) -> int:
    found = re.search(r"typical call: (\d+)%", out)
    assert found, out
    return int(found[1])


async def _words(folder: Path, words: list[str]) -> None:
    engine = EspeakSynthesizer()
    for word in words:
        write_wav(
            folder / f"{word.replace(' ', '_')}.wav", (await engine.synthesize(word)).pcm, 8000
        )


def test_import_reports_missing_and_coverage_counts_human_words(
    speech_dir: Path, tmp_path: Path
) -> None:
    import asyncio

    url = prepare_database(tmp_path / "voice.db")
    _publish(url)
    db = ("--database-url", url)
    pack, recordings = tmp_path / "pack", tmp_path / "recordings"
    recordings.mkdir()

    before = _run(tmp_path, "coverage", "--pack", str(pack), "--recordings", str(recordings), *db)
    assert before.returncode == 0, before.stderr
    assert "recorded prompts: 0 of" in before.stdout
    assert "BROKEN" in before.stdout and "[greeting]" in before.stdout  # named, not there
    assert _share(before.stdout) == 0

    shutil.copy(speech_dir / "call8k_3.wav", recordings / "greeting.wav")
    source = tmp_path / "words"
    source.mkdir()
    words = ["hồ sơ số", "không", "hai", "ba", "năm", "chín", "ngày", "tháng", "Sở Công thương"]
    asyncio.run(_words(source, words))
    (source / "hỏng.wav").write_bytes(b"garbage")
    done = _run(tmp_path, "import", str(source), "--pack", str(pack), *db)
    assert done.returncode == 1, done.stdout  # one file refused
    assert f"imported {len(words)} fragments" in done.stdout
    assert "refused hỏng.wav" in done.stdout
    missing = done.stdout.split("words and phrases:")[1].split()
    assert "triệu" in missing and "tháng" not in missing and "chín" not in missing
    # department and procedure names come from the catalogue in the database
    assert "sở công thương tỉnh bà rịa vũng tàu" in done.stdout
    assert "an toàn thực phẩm" in done.stdout

    after = _run(tmp_path, "coverage", "--pack", str(pack), "--recordings", str(recordings), *db)
    assert after.returncode == 0, after.stderr
    assert "recorded prompts: 1 of" in after.stdout
    assert 0 < _share(after.stdout) < 100
