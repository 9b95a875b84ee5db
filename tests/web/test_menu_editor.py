"""The menu editor's pages: edit the greeting, see a problem at its node and field, publish,
diff, roll back; move a node under another menu; a second editor saving a stale draft is told
and keeps their text; listen."""

from __future__ import annotations

import io
import json
import re
import wave
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from config.settings import MenuSettings
from integrations.sample_catalogue import load_sample
from menus.store import MenuStore, known_ids_from_tables, publish_default
from tests.web.test_signin import form_token, sign_in
from tests.web_access import ensure_user
from web.audit import entries

NEW_GREETING = "Xin chào, đây là lời chào mới của tổng đài."
BASE = re.compile(r'name="base" value="([^"]+)"')


def prepared(sessions: sessionmaker[Session]) -> MenuStore:
    load_sample(sessions)
    store = MenuStore(sessions)
    publish_default(store, MenuSettings().default_tree, known=known_ids_from_tables(sessions))
    ensure_user(sessions, "lan", "editor")
    ensure_user(sessions, "minh", "editor")
    return store


def editor(app: FastAPI, username: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    return sign_in(client, username)


def new_draft(client: TestClient) -> str:
    csrf = form_token(client, "/menus")
    answer = client.post("/menus/drafts", data={"version": "1", "csrf_token": csrf})
    assert answer.status_code == 303
    return str(answer.headers["location"])


def save(client: TestClient, draft: str, node: str, **fields: str) -> object:
    page = client.get(f"{draft}?node={node}")
    csrf = form_token(client, f"{draft}?node={node}")
    base = BASE.search(page.text)
    assert base is not None
    data = {"csrf_token": csrf, "base": base.group(1), **fields}
    return client.post(f"{draft}/nodes/{node}", data=data)


def test_edit_problem_publish_diff_rollback(app: FastAPI, sessions) -> None:
    store = prepared(sessions)
    with editor(app, "lan") as client:
        draft = new_draft(client)
        page = client.get(draft)
        assert page.status_code == 200 and "<svg" in page.text and 'id="n_greeting"' in page.text
        assert 'id="no-problems"' in page.text
        answer = save(
            client,
            draft,
            "greeting",
            prompt=NEW_GREETING,
            node_json='{"kind": "say", "next": "main"}',
        )
        assert answer.status_code == 303  # type: ignore[attr-defined]
        broken = save(
            client,
            draft,
            "greeting",
            prompt=NEW_GREETING,
            node_json='{"kind": "say", "next": "khong_co"}',
        )
        assert broken.status_code == 303  # type: ignore[attr-defined]
        page = client.get(f"{draft}?node=greeting")
        # the problem is listed, shown at the node's field, and the node is red in the graph
        assert re.search(r'class="field-problem" data-field="next"', page.text)
        graph_node = re.search(r'<g id="n_greeting".*?</g>', page.text, re.S)
        assert graph_node and "#fdecea" in graph_node.group(0)
        csrf = form_token(client, draft)
        refused = client.post(f"{draft}/publish", data={"note": "x", "csrf_token": csrf})
        assert refused.status_code == 422 and "khong_co" in refused.text
        save(
            client,
            draft,
            "greeting",
            prompt=NEW_GREETING,
            node_json='{"kind": "say", "next": "main"}',
        )
        published = client.post(
            f"{draft}/publish", data={"note": "lời chào mới", "csrf_token": csrf}
        )
        assert published.headers["location"] == "/menus/versions/2"
        assert store.active()[1].nodes["greeting"].prompt.text == NEW_GREETING  # type: ignore[union-attr]
        version = client.get("/menus/versions/2")
        assert re.search(r"<td>greeting</td><td>sửa</td><td>prompt</td>", version.text)
        back = client.post(
            "/menus/versions/1/rollback", data={"note": "quay lại", "csrf_token": csrf}
        )
        assert back.headers["location"] == "/menus/versions/3"
        assert store.version(3).rollback_of == 1 and store.version(3).author == "lan"
        assert "ghi âm" in store.active()[1].nodes["greeting"].prompt.text  # type: ignore[union-attr]


def move(client: TestClient, draft: str, node: str, **fields: str) -> Any:
    page = client.get(f"{draft}?node={node}")
    base = BASE.search(page.text)
    assert base is not None
    data = {"csrf_token": form_token(client, draft), "base": base.group(1), **fields}
    return client.post(f"{draft}/nodes/{node}/move", data=data)


def test_move_a_node_under_another_menu(app: FastAPI, sessions) -> None:
    store = prepared(sessions)
    with editor(app, "lan") as client:
        draft = new_draft(client)
        page = client.get(f"{draft}?node=online")
        assert 'id="move-form"' in page.text and "<code>main</code>" in page.text
        taken = move(client, draft, "online", parent="procedures", key="1")
        assert taken.status_code == 422 and "procedures_industry" in taken.text
        not_menu = move(client, draft, "online", parent="greeting", key="7")
        assert not_menu.status_code == 422 and "không phải nút menu" in not_menu.text
        moved = move(client, draft, "online", parent="procedures", key="7")
        assert moved.status_code == 303
        data = json.loads(store.draft(int(draft.rsplit("/", 1)[1])).source)
        main = data["nodes"]["main"]["choices"]
        assert [c["key"] for c in main] == ["1", "2", "0"]  # key 3 went with the node
        added = data["nodes"]["procedures"]["choices"][-1]
        assert added["key"] == "7" and added["next"] == "online"
        assert "trực tuyến" in added["keywords"]  # the spoken words move with it
        page = client.get(f"{draft}?node=online")
        assert "<code>procedures</code>" in page.text
        edge = re.search(r"<title>procedures&#45;&gt;online</title>.*?</g>", page.text, re.S)
        assert edge and "phím 7" in edge.group(0)  # the picture shows the new arrow
        # a move made on a page opened before another save is refused, nothing changed
        stale_base = BASE.search(page.text)
        assert stale_base is not None
        save(
            client,
            draft,
            "greeting",
            prompt=NEW_GREETING,
            node_json='{"kind": "say", "next": "main"}',
        )
        csrf = form_token(client, draft)
        stale = client.post(
            f"{draft}/nodes/online/move",
            data={"csrf_token": csrf, "base": stale_base.group(1), "parent": "main", "key": "3"},
        )
        assert stale.status_code == 409
        again = json.loads(store.draft(int(draft.rsplit("/", 1)[1])).source)
        assert again["nodes"]["procedures"]["choices"][-1]["next"] == "online"
    log = [e for e in entries(sessions, limit=20)[0] if e.action == "menu_node_move"]
    assert len(log) == 1 and log[0].actor == "lan"
    assert log[0].before is not None and "main" in log[0].before["menus"]
    assert (
        log[0].after is not None
        and log[0].after["menus"]["procedures"]["choices"][-1]["key"] == "7"
    )


def test_second_editor_saving_a_stale_draft_is_told_and_keeps_the_text(
    app: FastAPI, sessions
) -> None:
    store = prepared(sessions)
    with editor(app, "lan") as lan, editor(app, "minh") as minh:
        draft = new_draft(lan)
        stale = minh.get(f"{draft}?node=greeting")
        minh_base = BASE.search(stale.text)
        minh_csrf = form_token(minh, draft)
        assert (
            save(
                lan,
                draft,
                "greeting",
                prompt="Lời của Lan.",
                node_json='{"kind": "say", "next": "main"}',
            ).status_code
            == 303
        )  # type: ignore[attr-defined]
        assert minh_base is not None
        answer = minh.post(
            f"{draft}/nodes/greeting",
            data={
                "csrf_token": minh_csrf,
                "base": minh_base.group(1),
                "prompt": "Lời của Minh.",
                "node_json": '{"kind": "say", "next": "main"}',
            },
        )
        assert answer.status_code == 409
        assert "lan đã lưu bản nháp này" in answer.text and "Lời của Minh." in answer.text
        draft_id = int(draft.rsplit("/", 1)[1])
        assert "Lời của Lan." in store.draft(draft_id).source


def test_listen_renders_the_prompt_at_8_khz(app: FastAPI, sessions) -> None:
    prepared(sessions)
    with editor(app, "lan") as client:
        answer = client.get("/menus/listen.wav", params={"text": "Xin chào quý vị"})
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(answer.content)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() / 8000 > 0.5


def test_add_a_voice_message_node_for_a_department(app: FastAPI, sessions) -> None:
    store = prepared(sessions)
    with editor(app, "lan") as client:
        draft = new_draft(client)
        page = client.get(draft)
        assert "<option>message</option>" in page.text
        assert "<option>so-cong-thuong</option>" in page.text  # the directory's departments
        csrf = form_token(client, draft)
        refused = client.post(
            f"{draft}/nodes",
            data={"csrf_token": csrf, "node_id": "tin_nhan", "kind": "message",
                  "department": "khong-co"},
        )  # fmt: skip
        assert refused.status_code == 422 and "khong-co" in refused.text
        added = client.post(
            f"{draft}/nodes",
            data={"csrf_token": csrf, "node_id": "tin_nhan", "kind": "message",
                  "department": "so-cong-thuong", "prompt": "Xin để lại lời nhắn sau tiếng bíp."},
        )  # fmt: skip
        assert added.status_code == 303 and added.headers["location"].endswith(
            "?node=tin_nhan#node-form"
        )
        node = json.loads(store.draft(int(draft.rsplit("/", 1)[1])).source)["nodes"]["tin_nhan"]
        assert node["kind"] == "message" and node["department"] == "so-cong-thuong"
        assert node["next"] == "greeting" and node["prompt"].startswith("Xin để lại")
        # its fields are valid: the only thing said of it is that no menu leads to it yet
        shown = client.get(f"{draft}?node=tin_nhan")
        assert shown.status_code == 200 and "(message)" in shown.text
        said = re.findall(r"tin_nhan</a> · [^<]*", shown.text)
        assert said == ["tin_nhan</a> · -: no caller can reach this node"], said
        linked = move(client, draft, "tin_nhan", parent="main", key="9")
        assert linked.status_code == 303
        assert 'id="no-problems"' in client.get(draft).text
