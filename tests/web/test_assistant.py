"""The virtual assistant: the same runtime and published tree on a web channel, by keypad and
by typed Vietnamese, the same disclosure policy, the call log with the channel recorded."""

from __future__ import annotations

import html
import re
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from db import unit_of_work
from integrations.dossiers_db import upsert_dossiers
from integrations.sample_catalogue import load_sample
from integrations.sample_dossiers import demo_dossiers
from ivr.calllog.tables import CallInputRow, CallRow
from menus.store import MenuStore, known_ids_from_tables, publish_default

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def prepared(sessions: sessionmaker[Session]) -> None:
    load_sample(sessions)
    with unit_of_work(sessions) as session:
        upsert_dossiers(session, demo_dossiers(date.today()))
    publish_default(
        MenuStore(sessions), MenuSettings().default_tree, known=known_ids_from_tables(sessions)
    )


class Visitor:
    """A browser on the assistant page."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.page = ""
        self.path = ""

    def start(self) -> None:
        landing = self.client.get("/assistant")
        self._post("/assistant", {"csrf_token": CSRF.findall(landing.text)[0]})

    def _post(self, path: str, data: dict[str, str]) -> None:
        answer = self.client.post(path, data=data)
        assert answer.status_code == 303, answer.text
        self.path = answer.headers["location"].split("#")[0]
        self.page = self.client.get(self.path).text

    def key(self, keys: str) -> None:
        for k in keys:
            self._post(f"{self.path}/key", {"key": k, "csrf_token": CSRF.findall(self.page)[0]})

    def type(self, text: str) -> None:
        self._post(f"{self.path}/text", {"text": text, "csrf_token": CSRF.findall(self.page)[0]})

    def last_bot(self) -> str:
        said = re.findall(r'<div class="msg bot"[^>]*>\s*<span>(.*?)</span>', self.page, re.S)
        return html.unescape(said[-1]) if said else ""


def test_keypad_walks_to_a_dossier_status(app: FastAPI, sessions) -> None:
    prepared(sessions)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        visitor = Visitor(client)
        visitor.start()
        assert "xin kính chào" in visitor.page and "nhấn phím 1" in visitor.last_bot()
        assert 'src="/assistant/' in visitor.page  # each prompt can be played
        visitor.key("1")
        assert "mười chữ số cuối" in visitor.last_bot()
        visitor.key("2503039004#")
        assert (
            "2503039004" in visitor.last_bot().replace(" ", "")
            or "xin nhấn phím 1" in visitor.last_bot()
        )
        visitor.key("1")
        assert "bốn chữ số cuối của số điện thoại" in visitor.last_bot()
        visitor.key("#")  # no check: status and dates only
        assert "đang được xử lý" in visitor.page and "Ngày hẹn trả kết quả" in visitor.page
        assert "Người nộp hồ sơ" not in visitor.page  # no personal details without the check
        assert app.state.web.extras["assistant_calllog"].flush(10.0)
        audio = client.get(re.findall(r'src="(/assistant/[^"]+/audio/\d+)"', visitor.page)[0])
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    with unit_of_work(sessions) as session:
        call = session.scalars(select(CallRow)).one()
        assert (call.codec, call.caller, call.tree_version) == ("web", "web", 1)


def test_typed_vietnamese_is_understood_like_speech(app: FastAPI, sessions) -> None:
    prepared(sessions)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        visitor = Visitor(client)
        visitor.start()
        visitor.type("tôi muốn tra cứu hồ sơ")
        assert "mười chữ số cuối" in visitor.last_bot()
        visitor.type("hai năm không ba không ba chín không không năm")
        visitor.type("đúng rồi")
        assert "bốn chữ số cuối của số điện thoại" in visitor.last_bot()
        visitor.type("năm sáu bảy tám")
        assert "cần bổ sung giấy tờ" in visitor.page
        assert "Người nộp hồ sơ: Công ty TNHH Hải Đăng" in visitor.page  # after the check
        other = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        assert other.get(visitor.path).status_code == 404  # not another browser's conversation
        assert app.state.web.extras["assistant_calllog"].flush(10.0)
    with unit_of_work(sessions) as session:
        spoken = session.scalars(
            select(CallInputRow.value).where(CallInputRow.mode == "speech")
        ).all()
    assert "tôi muốn tra cứu hồ sơ" in spoken


def test_an_editor_tries_a_draft_before_publishing(app: FastAPI, sessions) -> None:
    from tests.web.test_menu_editor import editor, new_draft, save

    prepared(sessions)
    from tests.web_access import ensure_user

    ensure_user(sessions, "lan", "editor")
    ensure_user(sessions, "minh", "editor")
    with editor(app, "lan") as client:
        draft = new_draft(client)
        save(
            client,
            draft,
            "greeting",
            prompt="Lời chào thử nghiệm của bản nháp.",
            node_json='{"kind": "say", "next": "main"}',
        )
        csrf = CSRF.findall(client.get(draft).text)[0]
        tried = client.post(f"{draft}/try", data={"csrf_token": csrf})
        assert tried.status_code == 303
        page = client.get(tried.headers["location"].split("#")[0]).text
        assert "Lời chào thử nghiệm của bản nháp." in page
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as public:
        visitor = Visitor(public)
        visitor.start()
        assert "xin kính chào" in visitor.page  # the public still hears version 1
        assert "Lời chào thử nghiệm" not in visitor.page
        assert app.state.web.extras["assistant_calllog"].flush(10.0)
    with unit_of_work(sessions) as session:
        callees = set(session.scalars(select(CallRow.callee)).all())
    assert callees == {f"draft-{draft.rsplit('/', 1)[1]}", "assistant"}


def test_requests_per_address_are_limited(app: FastAPI, sessions) -> None:
    prepared(sessions)
    app.state.web.assistant_limiter.limit = 3
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        visitor = Visitor(client)
        visitor.start()
        visitor.key("1")
        visitor.key("2")
        csrf = CSRF.findall(visitor.page)[0]
        refused = client.post(f"{visitor.path}/key", data={"key": "5", "csrf_token": csrf})
        assert refused.status_code == 429 and "quá nhanh" in refused.text
