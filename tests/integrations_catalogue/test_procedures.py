"""The procedure catalogue on SQLite and PostgreSQL: sample import, lookup, ranked search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import Channel
from integrations.procedure_import import import_file, read_file
from integrations.procedures import DbProcedureCatalogue, fold, search_procedures

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample" / "procedures.json"


@pytest.fixture(scope="module")
def catalogue(shared_sessions: sessionmaker[Session]) -> DbProcedureCatalogue:
    # Every test here only reads: one imported catalogue per backend serves them all.
    report = import_file(shared_sessions, SAMPLE)
    assert report.errors == []
    assert report.inserted == 17
    return DbProcedureCatalogue(shared_sessions)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Đăng ký Khai sinh", "dang ky khai sinh"),
        ("  AN TOÀN  thực phẩm!! ", "an toan thuc pham"),
        ("Sở TN-MT", "so tn mt"),
        ("Quỹ đầu tư", "quy dau tu"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


async def test_get_returns_every_field(catalogue: DbProcedureCatalogue) -> None:
    records = {rec.code: rec for _, rec in read_file(SAMPLE).records}
    for code, expected in records.items():
        assert await catalogue.get(code) == expected
    birth = await catalogue.get("  1.001193.000.00.00.h05 ")
    assert birth is not None and birth.name == "Đăng ký khai sinh"
    assert birth.channels == (Channel.IN_PERSON, Channel.ONLINE, Channel.POST)
    assert birth.documents[0].form == "Mẫu TP/HT-2020-TKKS"
    assert await catalogue.get("9.999999") is None
    assert await catalogue.get("") is None


@pytest.mark.parametrize(
    ("query", "first_code"),
    [
        ("khai sinh", "1.001193.000.00.00.H05"),
        ("dang ky khai sinh cho con", "1.001193.000.00.00.H05"),
        ("tôi muốn hỏi thủ tục đăng ký khai tử", "1.000656.000.00.00.H05"),
        ("an toan thuc pham", "2.000591.000.00.00.H05"),
        ("giấy phép môi trường", "1.010727.000.00.00.H05"),
        ("sang tên sổ đỏ", "1.004227.000.00.00.H05"),
        ("chứng thực bản sao", "2.000815.000.00.00.H05"),
        ("hoi cho trien lam", "2.000013.000.00.00.H05"),
        ("xác nhận độc thân", "1.004873.000.00.00.H05"),
        ("2.000591.000.00.00.H05", "2.000591.000.00.00.H05"),
    ],
)
async def test_search_ranks_the_right_procedure_first(
    catalogue: DbProcedureCatalogue, query: str, first_code: str
) -> None:
    found = await catalogue.search(query)
    assert found, query
    assert found[0].code == first_code


async def test_search_promotions_finds_both_forms(catalogue: DbProcedureCatalogue) -> None:
    found = await catalogue.search("khuyến mãi", limit=3)
    assert {p.code for p in found[:2]} == {"2.000033.000.00.00.H05", "2.000002.000.00.00.H05"}


@pytest.mark.parametrize("query", ["", "   ", "xyzqwv", "%", "_", "!!!", "a" * 5000])
async def test_search_without_match_is_empty(catalogue: DbProcedureCatalogue, query: str) -> None:
    assert await catalogue.search(query) == []


async def test_search_limit(catalogue: DbProcedureCatalogue) -> None:
    assert len(await catalogue.search("đăng ký", limit=2)) == 2
    assert await catalogue.search("đăng ký", limit=0) == []


async def test_department_listing_and_fields(catalogue: DbProcedureCatalogue) -> None:
    commune = await catalogue.by_department("ubnd-xa")
    assert len(commune) == 6
    assert all(p.department_id == "ubnd-xa" for p in commune)
    assert await catalogue.fields("ubnd-xa") == ["Chứng thực", "Hộ tịch"]
    assert await catalogue.fields("so-tn-mt") == ["Đất đai", "Môi trường", "Tài nguyên nước"]
    assert await catalogue.by_department("nowhere") == []


def test_search_in_a_large_catalogue(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    # 1,500 procedures sharing the words "đăng ký": the one that also says "khai sinh" must still
    # be found although the common words alone exceed the candidate limit.
    filler = [
        {"code": f"F.{i:05d}", "name": f"Đăng ký hoạt động số {i}", "field": "Khác"}
        for i in range(1500)
    ]
    path = tmp_path / "large.json"
    path.write_text(json.dumps(filler, ensure_ascii=False), encoding="utf-8")
    assert import_file(sessions, path).inserted == 1500
    assert import_file(sessions, SAMPLE).inserted == 17
    with sessions() as session:
        found = search_procedures(session, text="đăng ký khai sinh", limit=3)
        assert found[0].name == "Đăng ký khai sinh"
        # A word no procedure has does not hide the ones matching the rest.
        found = search_procedures(session, text="đăng ký khai sinh gấp", limit=3)
        assert found[0].name == "Đăng ký khai sinh"
