"""Catalogue import: every bad row reported with its line, nothing dropped, re-import idempotent."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import Channel, RequiredDocument
from integrations.catalogue_tables import ProcedureDocumentRow, ProcedureRow
from integrations.procedure_import import (
    CatalogueImportError,
    import_file,
    parse_csv,
    parse_json,
    read_file,
)

HEADER = "code,name,field,department_id,online_level,processing_days,fee_vnd,channels,documents\n"


def test_csv_fields_are_parsed() -> None:
    text = HEADER + (
        "1.1,Đăng ký khai sinh,Hộ tịch,ubnd-xa,4,0,0,counter|portal|3,"
        '"Tờ khai#1#Mẫu KS | Giấy chứng sinh#2"\n'
        '1.2,Chứng thực,Chứng thực,ubnd-xa,,,"1.000.000",,\n'
    )
    parsed = parse_csv(text)
    assert parsed.errors == []
    (line1, birth), (line2, copy) = parsed.records
    assert (line1, line2) == (2, 3)
    assert birth.online_level == 4 and birth.processing_days == 0
    assert birth.channels == (Channel.IN_PERSON, Channel.ONLINE, Channel.POST)
    assert birth.documents == (
        RequiredDocument("Tờ khai", 1, "Mẫu KS"),
        RequiredDocument("Giấy chứng sinh", 2, None),
    )
    assert copy.fee_vnd == 1_000_000 and copy.online_level is None and copy.channels == ()


def test_bad_csv_rows_are_reported_by_line() -> None:
    text = HEADER + (
        "A1,Good one,,d,3,5,100,post,\n"  # line 2
        ",No code,,d,,,,,\n"  # line 3
        "A3,Bad fee,,d,,,12abc,,\n"  # line 4
        "A4,Bad channel,,d,,,,fax,\n"  # line 5
        "A5,Too few cells\n"  # line 6
        'A6,"Multi\nline name",,d,9,,,,\n'  # lines 7-8, bad level
        "A1,Duplicate,,d,,,,,\n"  # line 9
        "A7,Negative,,d,,-3,,,\n"  # line 10
        "A8,Bad doc copies,,d,,,,,Tờ khai#zero\n"  # line 11
        "\n"  # blank lines are not rows
        "A9,Last good,,d,,,,counter,\n"  # line 13
    )
    parsed = parse_csv(text)
    assert [line for line, _ in parsed.records] == [2, 13]
    lines = {e.line: e.reason for e in parsed.errors}
    assert sorted(lines) == [3, 4, 5, 6, 7, 9, 10, 11]
    assert "code is missing" in lines[3]
    assert "fee_vnd" in lines[4]
    assert "fax" in lines[5]
    assert "cells" in lines[6]
    assert "online_level" in lines[7]
    assert "duplicate code, first on line 2" in lines[9]
    assert "processing_days" in lines[10]
    assert "copies" in lines[11]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "empty"), ("name,field\nx,y\n", "code"), ("\ufeffcode\n", "name")],
)
def test_unusable_csv_files_raise(text: str, message: str) -> None:
    with pytest.raises(CatalogueImportError, match=message):
        parse_csv(text)


def test_json_errors_give_the_line_of_the_object() -> None:
    text = (
        "[\n"
        '  {"code": "J1", "name": "Một", "documents": [{"name": "Đơn", "copies": 2}],\n'
        '   "channels": ["portal"], "steps": ["Nộp", "Nhận"]},\n'
        '  {"code": "J2", "name": ""},\n'
        '  {"code": "J3", "name": "Ba", "surprise": 1},\n'
        "  42,\n"
        '  {"code": "J4", "name": "Bốn", "processing_working_days": false, "fee_vnd": 5000}\n'
        "]\n"
    )
    parsed = parse_json(text)
    assert [(line, rec.code) for line, rec in parsed.records] == [(2, "J1"), (7, "J4")]
    assert parsed.records[0][1].documents == (RequiredDocument("Đơn", 2, None),)
    assert parsed.records[1][1].processing_working_days is False
    assert [(e.line, e.code) for e in parsed.errors] == [(4, "J2"), (5, "J3"), (6, "")]
    assert "surprise" in parsed.errors[1].reason


@pytest.mark.parametrize(
    "text", ["", "{}", '[{"code": "x", "name": "y"}', "[1, 2,,]", '["a"] trailing']
)
def test_malformed_json_raises(text: str) -> None:
    with pytest.raises(CatalogueImportError):
        parse_json(text)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogueImportError, match="cannot read"):
        read_file(tmp_path / "missing.csv")
    other = tmp_path / "catalogue.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(CatalogueImportError, match=r"\.csv or \.json"):
        read_file(other)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("code,name\n1,Đăng ký\n".encode("utf-16"))
    with pytest.raises(CatalogueImportError, match="UTF-8"):
        read_file(latin)


def _write_big_csv(path: Path, rows: int, *, bad_every: int, renamed_every: int = 0) -> int:
    """A catalogue of `rows` rows where every `bad_every`-th row is broken; returns bad count.

    With `renamed_every`, every such row gets a changed name (an amended catalogue).
    """
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["code", "name", "field", "department_id", "fee_vnd", "channels", "documents"]
        )
        for i in range(rows):
            fee = "12x" if i % bad_every == 0 else str(i * 1000)
            bad += i % bad_every == 0
            writer.writerow(
                [
                    f"T.{i:06d}",
                    f"Thủ tục số {i}"
                    + (" (sửa đổi)" if renamed_every and i % renamed_every == 1 else ""),
                    f"Lĩnh vực {i % 7}",
                    "d1",
                    fee,
                    "counter|portal",
                    "Đơn đề nghị#1#Mẫu 01",
                ]
            )
    return bad


@pytest.mark.slow
def test_ten_thousand_rows_with_bad_ones(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    path = tmp_path / "big.csv"
    bad = _write_big_csv(path, 10_000, bad_every=97)
    first = import_file(sessions, path)
    assert first.rows == 10_000
    assert len(first.errors) == bad == 104
    assert first.inserted == 10_000 - bad
    assert all("fee_vnd" in e.reason for e in first.errors)
    assert [e.line for e in first.errors][:3] == [2, 99, 196]  # row i sits on line i + 2
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcedureRow)) == 10_000 - bad
        docs = session.scalar(select(func.count()).select_from(ProcedureDocumentRow))
        assert docs == 10_000 - bad

    again = import_file(sessions, path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 10_000 - bad)
    assert len(again.errors) == bad

    _write_big_csv(path, 10_000, bad_every=97, renamed_every=10)
    changed = import_file(sessions, path)
    renamed = sum(1 for i in range(10_000) if i % 10 == 1 and i % 97 != 0)
    assert (changed.inserted, changed.updated) == (0, renamed)
    assert changed.unchanged == 10_000 - bad - renamed
    with sessions() as session:
        row = session.scalars(select(ProcedureRow).where(ProcedureRow.code == "T.000001")).one()
        assert row.name == "Thủ tục số 1 (sửa đổi)"
        assert "sua doi" in row.search_key
        docs = session.scalar(select(func.count()).select_from(ProcedureDocumentRow))
        assert docs == 10_000 - bad  # documents replaced, not duplicated


def test_json_import_round_trip(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps([{"code": "X.1", "name": "Cấp phép", "keywords": ["giấy phép"]}]),
        encoding="utf-8",
    )
    assert import_file(sessions, path).inserted == 1
    assert import_file(sessions, path).unchanged == 1
