"""CSV and JSON import: every row accounted for, re-import idempotent (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
import random
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from integrations.dossier_import import (
    CSV_COLUMNS,
    ImportFileError,
    import_file,
    parse_csv,
    to_record,
)
from integrations.dossiers_db import DatabaseDossierSource, count_dossiers
from integrations.sample_dossiers import generate

TODAY = date(2026, 1, 5)

# (what to break, how, the reason expected in the report)
BREAKAGES: list[tuple[str, object, str]] = [
    ("code", "", "code: empty"),
    ("code", "000.00.14.H56-201340-0001", "code: date-invalid"),
    ("code", "mã hồ sơ???", "code: format"),
    ("status", "11", "status: '11' is not a known code (1-10)"),
    ("status", "đang xử lý", "status: 'đang xử lý' is not a known code (1-10)"),
    ("status", "", "status: missing"),
    ("received_on", "2020-02-30", "received_on: '2020-02-30' is not a date"),
    ("received_on", "", "received_on: missing"),
    ("due_on", "1999-01-01", "due_on: 1999-01-01 is before received_on"),
    ("applicant_type", "robot", "applicant_type: 'robot' is not one of citizen | business"),
    ("channel", "7", "channel: '7' is not a known code (1-3)"),
    ("return_method", "drone", "return_method: 'drone' is not one of counter | post"),
    ("phone", "12", "phone: '12' is not a phone number"),
    ("email", "not-an-email", "email: 'not-an-email' is not an e-mail address"),
    ("fees", "[{", "fees: not a JSON array"),
    ("fees", '[{"name": "Phí", "amount_vnd": -5}]', "fees: amount_vnd -5 is not a whole number"),
    ("supplements", '[{"content": "x", "requested_on": "hôm qua"}]', "supplements: requested_on"),
    ("progress", '[{"at": "sáng nay"}]', "progress: at 'sáng nay' is not an ISO date-time"),
]


def _write_csv_with_bad_rows(path: Path, rows: int, seed: int) -> tuple[int, dict[int, str]]:
    """Write ``rows`` data rows, about 3% of them broken; returns (good rows, line -> reason)."""
    rng = random.Random(seed)
    bad: dict[int, str] = {}
    good = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*CSV_COLUMNS, "ghi_chu"])
        writer.writeheader()
        for n, dossier in enumerate(generate(rows, today=TODAY, seed=seed)):
            line = n + 2
            record = to_record(dossier, for_csv=True)
            record["ghi_chu"] = ""
            if rng.random() < 0.03:
                column, value, reason = BREAKAGES[len(bad) % len(BREAKAGES)]
                record[column] = value
                bad[line] = reason
            else:
                good += 1
            writer.writerow(record)
    return good, bad


@pytest.mark.slow
def test_ten_thousand_rows_with_bad_rows_mixed_in(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "dossiers.csv"
    good, bad = _write_csv_with_bad_rows(path, 10_000, seed=5)
    assert len(bad) >= len(BREAKAGES)  # every kind of breakage is in the file

    report = import_file(path, factory)
    assert report.rows == 10_000
    assert (report.inserted, report.updated) == (good, 0)
    assert {e.line: e.reason for e in report.errors}.keys() == bad.keys()
    for error in report.errors:
        assert error.reason.startswith(bad[error.line]), (error, bad[error.line])
    assert report.warnings == ["line 1: unknown column(s) ignored: ghi_chu"]
    assert report.accepted + len(report.errors) == report.rows  # nothing silently dropped
    with unit_of_work(factory) as s:
        assert count_dossiers(s) == good

    again = import_file(path, factory)  # idempotent: same rows updated, same rows rejected
    assert (again.inserted, again.updated) == (0, good)
    assert [e.line for e in again.errors] == [e.line for e in report.errors]
    with unit_of_work(factory) as s:
        assert count_dossiers(s) == good

    source = DatabaseDossierSource(factory)
    for n, dossier in enumerate(generate(300, today=TODAY, seed=5)):  # same rows as the file
        if n + 2 not in bad:
            assert source.get_sync(dossier.code) == dossier


def test_csv_line_numbers_count_physical_lines(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sample = list(generate(3, today=TODAY, seed=9))
    records = [to_record(d, for_csv=True) for d in sample]
    records[0]["applicant_name"] = "Nguyễn Văn\nAn"  # a quoted field spanning two lines
    path = tmp_path / "multi.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerow(records[0])  # lines 2-3
        fh.write("\n")  # line 4, blank
        records[1]["status"] = "0"
        writer.writerow(records[1])  # line 5
        fh.write("only,three,cells\n")  # line 6
        writer.writerow(records[2])  # line 7
    report = import_file(path, factory)
    assert [(e.line, e.reason) for e in report.errors] == [
        (5, "status: '0' is not a known code (1-10)"),
        (6, "3 cells, the header has 17"),
    ]
    assert report.inserted == 2


def test_duplicate_codes_in_one_file_are_reported(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    dossier = next(generate(1, today=TODAY, seed=2))
    path = tmp_path / "dup.json"
    path.write_text(json.dumps([to_record(dossier), to_record(dossier)], indent=1))
    report = import_file(path, factory)
    assert report.inserted == 1
    assert len(report.errors) == 1
    assert report.errors[0].reason == "duplicate code, first given on line 2"


def test_json_array_reports_the_line_of_each_bad_object(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    sample = list(generate(4, today=TODAY, seed=4))
    records = [to_record(d) for d in sample]
    records[1]["status"] = 42
    records[2]["fees"] = "free"
    items = [json.dumps(r, ensure_ascii=False) for r in records] + ['"just a string"']
    path = tmp_path / "dossiers.json"
    path.write_text("[\n" + ",\n".join(items) + "\n]\n", encoding="utf-8")
    report = import_file(path, factory)
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "status: '42' is not a known code (1-10)"),
        (4, "fees: not a list"),
        (6, "expected an object, got str"),
    ]
    assert report.inserted == 2
    assert DatabaseDossierSource(factory).get_sync(sample[3].code) == sample[3]


def test_malformed_json_stops_with_its_line(factory: sessionmaker[Session], tmp_path: Path) -> None:
    good = to_record(next(generate(1, today=TODAY, seed=6)))
    path = tmp_path / "broken.json"
    path.write_text("[\n" + json.dumps(good) + ',\n{"code": \n]', encoding="utf-8")
    report = import_file(path, factory)
    assert report.inserted == 1
    assert len(report.errors) == 1 and report.errors[0].line == 4
    assert "malformed JSON" in report.errors[0].reason


def test_json_lines(factory: sessionmaker[Session], tmp_path: Path) -> None:
    sample = list(generate(3, today=TODAY, seed=8))
    path = tmp_path / "dossiers.jsonl"
    lines = [json.dumps(to_record(d)) for d in sample]
    path.write_text(lines[0] + "\n{oops\n\n" + lines[1] + "\n" + lines[2] + "\n")
    report = import_file(path, factory)
    assert report.inserted == 3
    assert [e.line for e in report.errors] == [2]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "no header row"),
        ("nocols.csv", b"code,phone\n", "missing column(s) status, received_on"),
        ("twice.csv", b"code,status,received_on,code\n", "repeated column(s) code"),
        ("latin1.csv", b"code,status,received_on\nH\xe0,1,2020-01-01\n", "line 2 is not UTF-8"),
        ("object.json", b'{"code": "x"}', "must be an array"),
        ("data.xlsx", b"PK", "unknown file type"),
    ],
)
def test_unusable_files_raise_a_typed_error(
    factory: sessionmaker[Session], tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_file(path, factory)
    with pytest.raises(ImportFileError, match="cannot read"):
        import_file(tmp_path / "missing.csv", factory)


def test_broken_quote_stops_the_csv_with_its_line() -> None:
    text = 'code,status,received_on\n000.00.14.H56-200203-0118,4,2020-02-03\n"a"b,1,x\n'
    rows = list(parse_csv(text))
    assert rows[0].line == 2  # type: ignore[union-attr]
    assert rows[1].line == 3 and "malformed CSV" in rows[1].reason  # type: ignore[union-attr]
