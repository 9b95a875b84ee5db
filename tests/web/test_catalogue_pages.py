"""Procedures: list, diacritic-insensitive search, edit (audited); dossiers by code with
personal fields masked unless the role allows."""

from __future__ import annotations

import re
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db import unit_of_work
from integrations.dossiers_db import upsert_dossiers
from integrations.sample_catalogue import load_sample
from integrations.sample_dossiers import demo_dossiers
from tests.web.test_signin import form_token, sign_in
from tests.web_access import ensure_user, token_for
from web.audit import entries

CODE = "000.00.14.H56-250303-9005"


def prepared(sessions: sessionmaker[Session]) -> None:
    load_sample(sessions)
    with unit_of_work(sessions) as session:
        upsert_dossiers(session, demo_dossiers(date.today()))


def client_as(app: FastAPI, username: str) -> TestClient:
    return sign_in(TestClient(app, base_url="http://127.0.0.1", follow_redirects=False), username)


def test_search_without_accents_and_edit(app: FastAPI, sessions) -> None:
    prepared(sessions)
    ensure_user(sessions, "lan", "editor")
    ensure_user(sessions, "ld", "viewer")
    with client_as(app, "lan") as editor:
        found = editor.get("/procedures", params={"q": "an toan thuc pham"})
        assert "an toàn thực phẩm" in found.text
        link = re.search(r'href="(/procedures/\d+)">([^<]*an toàn thực phẩm[^<]*)<', found.text)
        assert link is not None
        csrf = form_token(editor, link.group(1))
        page = editor.get(link.group(1)).text
        fields = dict(re.findall(r'<input id="(\w+)" name="\w+" value="([^"]*)"', page))
        bad = editor.post(link.group(1), data={**fields, "fee_vnd": "-5", "csrf_token": csrf})
        assert bad.status_code == 422 and "số nguyên không âm" in bad.text
        saved = editor.post(
            link.group(1), data={**fields, "fee_vnd": "1500000", "csrf_token": csrf}
        )
        assert saved.status_code == 303
        assert 'value="1500000"' in editor.get(link.group(1)).text
    change = entries(sessions)[0][0]
    assert change.action == "procedure_edit" and change.after["fee_vnd"] == "1500000"
    with client_as(app, "ld") as viewer:
        page = viewer.get(link.group(1))
        assert page.status_code == 200 and '<form class="card"' not in page.text
        csrf = form_token(viewer, "/")
        assert viewer.post(link.group(1), data={**fields, "csrf_token": csrf}).status_code == 403


def test_dossier_search_masks_personal_fields_by_role(app: FastAPI, sessions) -> None:
    prepared(sessions)
    ensure_user(sessions, "cb", "officer")
    with client_as(app, "cb") as officer:
        page = officer.get("/dossiers", params={"code": CODE})
        assert "Yêu cầu bổ sung giấy tờ" in page.text and "0912345678" in page.text
        by_tail = officer.get("/dossiers", params={"code": "2503039005"})
        assert CODE in by_tail.text
    ensure_user(sessions, "qt", "admin")
    with client_as(app, "qt") as admin:  # admins run the system, they do not work cases
        page = admin.get("/dossiers", params={"code": CODE})
        assert "Yêu cầu bổ sung giấy tờ" in page.text and "Thông tin cá nhân được che" in page.text
        assert "0912345678" not in page.text and "091*****78" in page.text
        assert "Hải Đăng" not in page.text
    token = token_for(sessions, app.state.web.key, "cb", "viewer")
    with TestClient(app, headers={"authorization": f"Bearer {token}"}) as viewer:
        assert viewer.get("/dossiers", params={"code": CODE}).status_code == 403


def test_catalogue_import_shows_each_bad_row_with_its_line(app: FastAPI, sessions) -> None:
    ensure_user(sessions, "lan", "editor")
    rows = (
        "code,name,agency,fee_vnd\n"
        "1.001,Đăng ký khuyến mại,Sở Công thương,0\n"
        ",Thiếu mã,Sở Công thương,0\n"
        "1.003,Thông báo khuyến mại,Sở Công thương,không phải số\n"
    )
    with client_as(app, "lan") as editor:
        csrf = form_token(editor, "/")
        answer = editor.post(
            "/procedures/import",
            data={"csrf_token": csrf},
            files={"file": ("danh-muc.csv", rows.encode(), "text/csv")},
        )
        assert answer.status_code == 200
        assert "Đã thêm 1, cập nhật 0, giữ nguyên 0; 2 dòng lỗi." in answer.text
        lines = re.findall(r"<tr><td>(\d+)</td>", answer.text)
        assert lines == ["3", "4"]
        wrong = editor.post(
            "/procedures/import",
            data={"csrf_token": csrf},
            files={"file": ("x.exe", b"MZ", "application/octet-stream")},
        )
        assert wrong.status_code == 422 and "Chỉ nhận tệp .csv hoặc .json" in wrong.text
        assert "Đăng ký khuyến mại" in editor.get("/procedures", params={"q": "khuyen mai"}).text
    assert entries(sessions)[0][0].action == "procedure_import"
