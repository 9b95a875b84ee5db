"""Departments, officers, working hours and holidays on a real uvicorn process: an admin adds a
department, its hours, an officer (stored as the same digest HA1s as ``tongdai officers add``)
and an announced holiday; the audit log shows each with before and after; editors and viewers
read but cannot change; a department the published menu uses cannot be removed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import httpx
import pytest
from sqlalchemy import select

from db import create_engine_from_url, session_factory, unit_of_work
from integrations.catalogue_tables import DepartmentRow, HolidayOverrideRow, OfficerRow
from integrations.officers import holiday_config, sip_ha1, sip_ha1_sha256
from tests.web.served import ServedWeb, served_web
from tests.web_access import TEST_PASSWORD
from web.audit import entries

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SIP_PASSWORD = "mật-khẩu-SIP-2191"
DAY_OFF = date(2026, 9, 4)
MAKE_UP = date(2026, 9, 12)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWeb]:
    with served_web(tmp_path_factory.mktemp("directory")) as served:
        yield served


@contextmanager
def signed_in(web: ServedWeb, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web.base, timeout=20.0, follow_redirects=False) as client:
        token = csrf_of(client, "/login")
        answer = client.post(
            "/login", data={"username": username, "password": TEST_PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, f"{path} carries no CSRF token"
    return match.group(1)


def test_an_admin_manages_the_directory_and_every_change_is_audited(web: ServedWeb) -> None:
    with signed_in(web, "admin") as admin:
        csrf = csrf_of(admin, "/departments")
        form = {"csrf_token": csrf, "dept_id": "tiep-dan", "name": "Ban Tiếp công dân"}
        assert admin.post("/departments", data=form).status_code == 303
        again = admin.post("/departments", data=form)
        assert again.status_code == 422 and "đã có" in again.text
        assert admin.post("/departments", data={**form, "csrf_token": ""}).status_code == 403
        odd = admin.post("/departments", data={**form, "dept_id": "a/b"})
        assert odd.status_code == 422 and "chữ thường không dấu" in odd.text
        renamed = {"csrf_token": csrf, "name": "Ban Tiếp công dân tỉnh", "phone": "02543000111"}
        assert admin.post("/departments/tiep-dan", data=renamed).status_code == 303
        bad_uri = admin.post("/departments/tiep-dan", data={**renamed, "transfer_uri": "http://x"})
        assert bad_uri.status_code == 422 and "sip:" in bad_uri.text

        hours = {"mon": "07:30-11:30, 13:30-17:00", "fri": "07:30-11:30"}
        bad = admin.post(
            "/departments/tiep-dan/hours", data={"csrf_token": csrf, "tue": "17:00-07:30"}
        )
        assert bad.status_code == 422 and "Giờ làm việc không hợp lệ" in bad.text
        saved = admin.post("/departments/tiep-dan/hours", data={"csrf_token": csrf, **hours})
        assert saved.status_code == 303

        officer = {"csrf_token": csrf, "name": "Nguyễn Thị Hoa", "extension": "2191"}
        added = admin.post(
            "/departments/tiep-dan/officers", data={**officer, "sip_password": SIP_PASSWORD}
        )
        assert added.status_code == 303, added.text
        taken = admin.post(
            "/departments/so-tn-mt/officers", data={**officer, "sip_password": "x" * 12}
        )
        assert taken.status_code == 422 and "đã thuộc tiep-dan" in taken.text
        page = admin.get("/departments/tiep-dan").text
        assert "Nguyễn Thị Hoa" in page and 'value="07:30-11:30, 13:30-17:00"' in page
        assert SIP_PASSWORD not in page

        holiday = {"csrf_token": csrf, "day": DAY_OFF.isoformat(), "kind": "off"}
        named = {**holiday, "name": "Nghỉ thêm dịp Quốc khánh"}
        assert admin.post("/holidays", data=named).status_code == 303
        make_up = {"csrf_token": csrf, "day": MAKE_UP.isoformat(), "kind": "work"}
        assert admin.post("/holidays", data=make_up).status_code == 303
        wrong = admin.post("/holidays", data={**holiday, "kind": "maybe"})
        assert wrong.status_code == 422
        calendar = admin.get("/holidays", params={"year": 2026}).text
        assert "04/09/2026" in calendar and "Nghỉ thêm dịp Quốc khánh" in calendar
        assert "12/09/2026" in calendar and "Ngày làm việc bù" in calendar
        assert "27/01/2025" not in calendar  # the sample's Tết 2025 shows on its own year
        assert "27/01/2025" in admin.get("/holidays", params={"year": 2025}).text

        in_use = admin.post("/departments/so-tn-mt/remove", data={"csrf_token": csrf})
        assert in_use.status_code == 409 and "kịch bản đang dùng" in in_use.text

        audit = admin.get("/audit").text
        for action in ("department_add", "department_hours", "officer_add", "holiday_set"):
            assert action in audit

    engine = create_engine_from_url(web.database_url)
    sessions = session_factory(engine)
    try:
        with unit_of_work(sessions) as session:
            row = session.scalars(select(OfficerRow).where(OfficerRow.extension == "2191")).one()
            assert row.department_id == "tiep-dan" and row.sip_realm == "tongdai"
            assert row.sip_ha1 == sip_ha1("2191", "tongdai", SIP_PASSWORD)
            assert row.sip_ha1_sha256 == sip_ha1_sha256("2191", "tongdai", SIP_PASSWORD)
            department = session.get(DepartmentRow, "tiep-dan")
            assert department is not None
            assert department.hours == {
                "mon": ["07:30-11:30", "13:30-17:00"],
                "fri": ["07:30-11:30"],
            }
            config = holiday_config(session)
            assert config.extra_holidays[DAY_OFF] == "Nghỉ thêm dịp Quốc khánh"
            assert MAKE_UP in config.working_days
            assert session.get(DepartmentRow, "so-tn-mt") is not None
        log = {e.action: e for e in reversed(entries(sessions, limit=50)[0])}
        assert log["department_add"].after is not None
        assert log["department_add"].after["name"] == "Ban Tiếp công dân"
        edit = log["department_edit"]
        assert edit.before is not None and edit.before["name"] == "Ban Tiếp công dân"
        assert edit.after is not None and edit.after["phone"] == "02543000111"
        hours_change = log["department_hours"]
        assert hours_change.before == {"hours": {}}
        assert hours_change.after == {"hours": department_hours()}
        officer_add = log["officer_add"]
        assert officer_add.actor == "admin" and officer_add.after is not None
        assert officer_add.after["has_sip_password"] is True
        assert SIP_PASSWORD not in str(officer_add.after) and row.sip_ha1 not in str(log)
        assert log["holiday_set"].target in (DAY_OFF.isoformat(), MAKE_UP.isoformat())
    finally:
        engine.dispose()


def department_hours() -> dict[str, list[str]]:
    return {"mon": ["07:30-11:30", "13:30-17:00"], "fri": ["07:30-11:30"]}


@pytest.mark.parametrize("username", ["editor", "viewer"])
def test_editors_and_viewers_read_but_cannot_change(web: ServedWeb, username: str) -> None:
    with signed_in(web, username) as user:
        page = user.get("/departments")
        assert page.status_code == 200 and "Phòng ban và cán bộ" in page.text
        assert 'action="/departments"' not in page.text  # no add form for them
        csrf = csrf_of(user, "/departments/so-tn-mt")
        assert user.get("/holidays").status_code == 200
        tries = [
            ("/departments", {"dept_id": f"by-{username}", "name": "x"}),
            ("/departments/so-tn-mt", {"name": "Đổi tên"}),
            ("/departments/so-tn-mt/hours", {"mon": "00:00-23:59"}),
            (
                "/departments/so-tn-mt/officers",
                {"name": "x", "extension": "9", "sip_password": "p"},
            ),
            ("/departments/so-tn-mt/remove", {}),
            ("/holidays", {"day": "2026-10-01", "kind": "off"}),
        ]
        for path, data in tries:
            answer = user.post(path, data={**data, "csrf_token": csrf})
            assert answer.status_code == 403, path
    engine = create_engine_from_url(web.database_url)
    try:
        with unit_of_work(session_factory(engine)) as session:
            kept = session.get(DepartmentRow, "so-tn-mt")
            assert kept is not None and kept.name != "Đổi tên"
            assert session.get(DepartmentRow, f"by-{username}") is None
            assert session.get(HolidayOverrideRow, date(2026, 10, 1)) is None
    finally:
        engine.dispose()


def test_an_admin_removes_what_was_added(web: ServedWeb) -> None:
    with signed_in(web, "admin") as admin:
        csrf = csrf_of(admin, "/departments")
        form = {"csrf_token": csrf, "dept_id": "tam", "name": "Tổ tạm thời"}
        assert admin.post("/departments", data=form).status_code == 303
        officer = {"csrf_token": csrf, "name": "Lê Văn Tâm", "extension": "2901"}
        added = admin.post("/departments/tam/officers", data={**officer, "sip_password": "pw-2901"})
        assert added.status_code == 303
        gone = admin.post("/departments/tam/officers/2901/remove", data={"csrf_token": csrf})
        assert gone.status_code == 303
        assert "Lê Văn Tâm" not in admin.get("/departments/tam").text
        day = {"csrf_token": csrf, "day": "2026-12-31", "kind": "off", "name": "Cuối năm"}
        assert admin.post("/holidays", data=day).status_code == 303
        removed = admin.post("/holidays/2026-12-31/remove", data={"csrf_token": csrf})
        assert removed.status_code == 303
        assert admin.post("/departments/tam/remove", data={"csrf_token": csrf}).status_code == 303
        assert admin.get("/departments/tam").status_code == 404
    engine = create_engine_from_url(web.database_url)
    try:
        log = entries(session_factory(engine), limit=10)[0]
        actions = [e.action for e in log[:5]]
        assert actions == [
            "department_remove",
            "holiday_remove",
            "holiday_set",
            "officer_remove",
            "officer_add",
        ]
        assert log[0].before is not None and log[0].before["name"] == "Tổ tạm thời"
        assert log[1].before == {"day": "2026-12-31", "kind": "off", "name": "Cuối năm"}
        assert log[3].before is not None and log[3].before["extension"] == "2901"
    finally:
        engine.dispose()


def test_an_admin_edits_an_officer(web: ServedWeb) -> None:
    with signed_in(web, "admin") as admin:
        csrf = csrf_of(admin, "/departments")
        for dept_id, name in (("mot-cua", "Bộ phận Một cửa"), ("hanh-chinh", "Phòng Hành chính")):
            form = {"csrf_token": csrf, "dept_id": dept_id, "name": name}
            assert admin.post("/departments", data=form).status_code == 303
        officer = {"csrf_token": csrf, "name": "Trần Văn Bình", "extension": "2871"}
        added = admin.post(
            "/departments/mot-cua/officers", data={**officer, "sip_password": "pw-2871-a"}
        )
        assert added.status_code == 303
        listing = admin.get("/departments/mot-cua").text
        assert 'href="/departments/mot-cua/officers/2871"' in listing
        form_page = admin.get("/departments/mot-cua/officers/2871")
        assert form_page.status_code == 200 and 'value="Trần Văn Bình"' in form_page.text
        edit = {
            "csrf_token": csrf,
            "name": "Trần Văn Bình (tổ trưởng)",
            "department_id": "mot-cua",
            "position": "2",
        }
        # no "active": the box is unticked, the officer stops taking calls; password kept
        kept = admin.post("/departments/mot-cua/officers/2871", data=edit)
        assert kept.status_code == 303 and kept.headers["location"] == "/departments/mot-cua"
        assert "Tạm ngừng" in admin.get("/departments/mot-cua").text
        nowhere = admin.post(
            "/departments/mot-cua/officers/2871", data={**edit, "department_id": "khong-co"}
        )
        assert nowhere.status_code == 422 and "unknown department" in nowhere.text
        blank = admin.post("/departments/mot-cua/officers/2871", data={**edit, "name": " "})
        assert blank.status_code == 422 and "cần họ tên" in blank.text
        moved = admin.post(
            "/departments/mot-cua/officers/2871",
            data={
                **edit,
                "department_id": "hanh-chinh",
                "active": "1",
                "sip_password": "pw-2871-b",
            },
        )
        assert moved.status_code == 303 and moved.headers["location"] == "/departments/hanh-chinh"
        assert "Trần Văn Bình" not in admin.get("/departments/mot-cua").text
        assert admin.get("/departments/mot-cua/officers/2871").status_code == 404
        assert "Đang làm việc" in admin.get("/departments/hanh-chinh").text
        no_csrf = admin.post(
            "/departments/hanh-chinh/officers/2871", data={**edit, "csrf_token": ""}
        )
        assert no_csrf.status_code == 403
    with signed_in(web, "viewer") as viewer:
        assert viewer.get("/departments/hanh-chinh/officers/2871").status_code == 403
    engine = create_engine_from_url(web.database_url)
    try:
        with unit_of_work(session_factory(engine)) as session:
            row = session.scalars(select(OfficerRow).where(OfficerRow.extension == "2871")).one()
            assert (row.department_id, row.name, row.active, row.position) == (
                "hanh-chinh",
                "Trần Văn Bình (tổ trưởng)",
                True,
                2,
            )
            assert row.sip_ha1 == sip_ha1("2871", "tongdai", "pw-2871-b")
            assert row.sip_ha1_sha256 == sip_ha1_sha256("2871", "tongdai", "pw-2871-b")
        edits = [
            e for e in entries(session_factory(engine), limit=20)[0] if e.action == "officer_edit"
        ]
        assert len(edits) == 2  # the refused edits wrote nothing
        last, first = edits
        assert first.before is not None and first.before["active"] is True
        assert first.after is not None and first.after["active"] is False
        assert first.after["sip_password_changed"] is False
        assert last.after is not None and last.after["department_id"] == "hanh-chinh"
        assert last.after["sip_password_changed"] is True and "pw-2871-b" not in str(last.after)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_an_admin_sets_working_hours_in_chromium(web: ServedWeb) -> None:
    """The department page in a real browser: keyboard-filled hours saved, an officer's record
    edited, no script or CSP error; a screenshot (to ``TONGDAI_SCREENSHOTS`` when set)."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.support import need
    from tests.web.test_browser import CHROMIUM, LOCALE, VIEWPORT, shot, sign_in

    need(shutil.which("chromium") or os.path.exists(CHROMIUM), "Debian chromium not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = chromium.new_context(viewport=VIEWPORT, locale=LOCALE).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, web.base, "admin")
        page.goto(f"{web.base}/departments")
        page.click("text=Sở Tài nguyên và Môi trường")
        page.fill("#hours-sat", "07:30-11:30")
        page.focus("#hours-sat")
        page.keyboard.press("Enter")  # submits the hours form from the keyboard
        page.wait_for_selector("#hours-sat[value='07:30-11:30']")
        shot(page, "department.png")
        # an officer's record: opened from the list, renamed, stopped taking calls
        page.click("td a:has-text('Sửa') >> nth=0")
        page.wait_for_selector("#officer-name")
        page.fill("#officer-name", "Cán bộ đổi tên trong trình duyệt")
        page.uncheck("input[name=active]")
        page.click("button:has-text('Lưu cán bộ')")
        row = page.wait_for_selector("tr:has-text('Cán bộ đổi tên trong trình duyệt')")
        assert "Tạm ngừng" in row.inner_text()
        chromium.close()
    assert errors == []
