"""``tongdai menus ...`` end to end: files on disk, a real SQLite database, the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cli import main
from db import create_engine_from_url, migrate, session_factory
from menus.schema import load_tree, read_tree
from tests.menus.test_api import seed_departments
from tests.support import ROOT

DEPTS = "--departments=so-cong-thuong,so-tn-mt,ubnd-xa,tong-dai"


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = create_engine_from_url(url)
    migrate(engine)
    seed_departments(session_factory(engine))
    engine.dispose()
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["menus", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_prints_each_problem(
    tmp_path: Path, hotline_yaml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "hotline.yaml"
    good.write_text(hotline_yaml, encoding="utf-8")
    code, out, _ = run(capsys, "validate", str(good), DEPTS)
    assert code == 0 and "31 nodes, no problems" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        hotline_yaml.replace("next: dossier_lookup", "next: dossier_lookupp").replace(
            'key: "2"\n        keywords: [thủ tục', 'key: "1"\n        keywords: [thủ tục'
        ),
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "validate", str(bad), DEPTS)
    assert code == 1
    lines = out.splitlines()
    assert any(
        line.split()[:2] == ["dossier_code", "next"] and "dossier_lookupp" in line for line in lines
    )
    assert any(line.split()[:2] == ["main", "choices[1].key"] for line in lines)
    assert any(line.startswith("dossier_lookup ") and "[unreachable]" in line for line in lines)
    assert lines[-1].endswith("problem(s)")


def test_validate_refuses_hostile_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("id: x\nnodes: &n {a: 1}\nmore: *n\n", encoding="utf-8")
    code, out, _ = run(capsys, "validate", str(bomb), DEPTS)
    assert code == 1 and "(tree)  line 2  YAML anchors are not allowed" in out
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000, encoding="utf-8")
    code, out, _ = run(capsys, "validate", str(deep), DEPTS)
    assert code == 1 and "nesting deeper" in out
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"), DEPTS)
    assert code == 2 and "cannot read" in err


def test_validate_reads_known_ids_from_the_database(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "t.yaml"
    tree.write_text(
        "id: t\ntitle: T\nstart: bye\nofficer_department: tong-dai\n"
        "nodes:\n  bye: {kind: hangup, prompt: Tạm biệt}\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "validate", str(tree), "--database-url", database)
    assert code == 0, out
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = create_engine_from_url(empty)
    migrate(engine)
    engine.dispose()
    code, _, err = run(capsys, "validate", str(tree), "--database-url", empty)
    assert code == 2 and "--departments" in err


def test_publish_list_diff_rollback_export(
    tmp_path: Path, database: str, hotline_yaml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ("--database-url", database)
    first = tmp_path / "v1.yaml"
    first.write_text(hotline_yaml, encoding="utf-8")
    code, out, _ = run(capsys, "publish", str(first), "--note", "mở", "--author", "an", *db)
    assert code == 0 and "version 1" in out

    second = tmp_path / "v2.yaml"
    second.write_text(hotline_yaml.replace("timeout_s: 10", "timeout_s: 12"), encoding="utf-8")
    code, out, _ = run(capsys, "publish", str(second), "--note", "chậm", "--author", "bình", *db)
    assert code == 0 and "version 2" in out

    broken = tmp_path / "broken.yaml"
    broken.write_text(hotline_yaml.replace("start: greeting", "start: x"), encoding="utf-8")
    code, out, _ = run(capsys, "publish", str(broken), "--note", "x", "--author", "x", *db)
    assert code == 1 and "not published" in out

    code, out, _ = run(capsys, "diff", "1", "2", *db)
    assert code == 0 and out.splitlines() == ["~ dossier_code timeout_s"]

    code, out, _ = run(capsys, "rollback", "1", "--author", "an", "--note", "quay lại", *db)
    assert code == 0 and "version 3" in out

    code, out, _ = run(capsys, "list", *db)
    rows = out.splitlines()
    assert [r.split()[:2] for r in rows] == [["*", "3"], ["2", "hotline"], ["1", "hotline"]]
    assert "quay lại (rollback of 1)" in rows[0]

    exported = tmp_path / "out.json"
    code, _, _ = run(capsys, "export", "3", "--format", "json", "-o", str(exported), *db)
    assert code == 0
    assert load_tree(exported.read_bytes(), fmt="json").to_dict() == {
        **read_tree(first).to_dict(),
        "version": 3,
    }
    code, out, _ = run(capsys, "export", "2", *db)
    assert code == 0 and "timeout_s: 12" in out

    code, _, err = run(capsys, "rollback", "42", *db)
    assert code == 2 and "no version 42" in err


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    Draft202012Validator.check_schema(json.loads(out))


def test_console_script_exit_status(tmp_path: Path, hotline_yaml: str) -> None:
    bad = tmp_path / "bad.yaml"
    start = hotline_yaml.index("kind: hangup")
    end = hotline_yaml.index("\n\n", start)
    bad.write_text(hotline_yaml[:start] + "kind: hangup" + hotline_yaml[end:], "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "cli", "menus", "validate", str(bad), DEPTS],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "goodbye" in result.stdout and "[missing-prompt]" in result.stdout
