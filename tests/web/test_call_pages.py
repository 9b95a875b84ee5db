"""The call log, a call's timeline and the dashboard, on calls written by the real call log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from ivr.calllog.sink import DbCallLog
from ivr.events import (
    CallEnded,
    CallStarted,
    InputReceived,
    LookupDone,
    NodeEntered,
    PromptPlayed,
    SurveyAnswered,
    TransferRequested,
)
from tests.web.test_signin import sign_in
from tests.web_access import ensure_user


def write_calls(
    sessions: sessionmaker[Session], now: datetime, *, prefix: str = "call-", count: int = 6
) -> None:
    """``count`` calls an hour apart before ``now``, through the real call-log writer."""
    log = DbCallLog(sessions)
    log.start()
    for i in range(count):
        call = f"{prefix}{i}"
        at = now - timedelta(hours=i)
        log.emit(
            CallStarted(
                call_id=call,
                at=at,
                caller=f"09012345{i:02d}",
                callee="hotline",
                codec="web" if i == 5 else "PCMU",
                remote_media="",
            )
        )
        log.emit(NodeEntered(call_id=call, at=at, tree_version=1, node_id="main", node_kind="menu"))
        log.emit(
            PromptPlayed(
                call_id=call, at=at, node_id="main", text="Chị Lan, số điện thoại 0901234567"
            )
        )
        log.emit(
            InputReceived(
                call_id=call, at=at, node_id="main", mode="dtmf", value="1" if i % 2 else "2"
            )
        )
        log.emit(
            LookupDone(
                call_id=call,
                at=at,
                node_id="dossier_lookup",
                lookup="dossier",
                key="2503039005",
                found=i != 3,
            )
        )
        if i == 4:
            log.emit(
                TransferRequested(
                    call_id=call,
                    at=at,
                    node_id="officer",
                    department="tong-dai",
                    target="sip:x@127.0.0.1",
                )
            )
        log.emit(SurveyAnswered(call_id=call, at=at, node_id="survey", score=4 + i % 2))
        log.emit(
            CallEnded(
                call_id=call, at=at + timedelta(seconds=90), reason="caller-bye", duration_s=90.0
            )
        )
    assert log.flush(10.0)
    log.close()


def test_call_log_timeline_and_dashboard(app: FastAPI, sessions) -> None:
    write_calls(sessions, datetime.now(UTC) - timedelta(minutes=5))
    ensure_user(sessions, "cb", "officer")
    ensure_user(sessions, "ld", "viewer")
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as officer:
        sign_in(officer, "cb")
        listed = officer.get("/calls")
        assert listed.status_code == 200 and "6 cuộc gọi" in listed.text
        assert "0901234500" not in listed.text and "090*****00" in listed.text  # masked
        web_only = officer.get("/calls", params={"channel": "web"})
        assert "1 cuộc gọi" in web_only.text and "Trợ lý ảo" in web_only.text
        by_caller = officer.get("/calls", params={"caller": "0901234503"})
        assert "1 cuộc gọi" in by_caller.text
        csv = officer.get("/calls.csv", params={"channel": "phone"})
        assert csv.text.count("\n") == 6  # header and five phone calls
        call = officer.get("/calls/call-4")
        assert call.status_code == 200
        kinds = re.findall(r"<strong>([a-z-]+)</strong>", call.text)
        assert kinds[:3] == ["call-started", "node-entered", "prompt-played"]
        assert "transfer-requested" in kinds and kinds[-1] == "call-ended"
        # personal data at rest: the number spoken in a prompt is stored masked, so nobody
        # reads it back from the call log, whatever their role
        assert "0901234567" not in call.text and "090*****67" in call.text
        assert officer.get("/calls/nope").status_code == 404
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as viewer:
        sign_in(viewer, "ld")
        assert viewer.get("/calls").status_code == 403
        page = viewer.get("/dashboard")
        assert page.status_code == 200
        kpis = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
        assert "Tổng cuộc gọi 6" in kpis and "trợ lý ảo: 1" in kpis
        assert "Chuyển cán bộ 1" in kpis and "83 %" in kpis  # 5 of 6 contained
        assert "Điểm hài lòng 4.5" in kpis
        assert page.text.count('class="bar-chart"') == 2
        assert re.search(r"<td>hồ sơ</td><td>không có</td><td>1</td>", page.text)
        assert re.search(r"<td>main</td><td>2</td><td>3</td>", page.text)
        daily = viewer.get("/dashboard.csv", params={"table": "daily"})
        assert (
            daily.text.startswith("\ufeffday,calls")
            and sum(int(line.split(",")[1]) for line in daily.text.splitlines()[1:]) == 6
        )


def test_a_lost_call_in_the_call_log(app: FastAPI, sessions) -> None:
    """A call whose node stopped, closed as lost by another node, as the officer sees it."""
    from ivr.calllog.node_liveness import NodeLiveness

    started = datetime.now(UTC) - timedelta(minutes=3)
    clock = [started - timedelta(seconds=1)]
    counted: list[tuple[str, int]] = []

    def liveness(node_id: str) -> NodeLiveness:
        return NodeLiveness(sessions, node_id, heartbeat_s=1, lost_after_s=15,
                            on_lost=lambda node, n: counted.append((node, n)),
                            now=lambda: clock[0])  # fmt: skip

    killed, survivor = liveness("node-a"), liveness("node-b")
    killed.start_up()
    survivor.start_up()
    log = DbCallLog(sessions, node_id="node-a")
    log.start()
    log.emit(CallStarted(call_id="held-1", at=started, caller="0901234599", callee="hotline",
                         codec="PCMA", remote_media=""))  # fmt: skip
    log.emit(NodeEntered(call_id="held-1", at=started, tree_version=1, node_id="main",
                         node_kind="menu"))  # fmt: skip
    assert log.flush(10.0)
    log.close()
    clock[0] = started + timedelta(seconds=40)
    killed.round()  # its last heartbeat: 40 s into the call
    clock[0] = started + timedelta(seconds=60)
    assert survivor.round() == 1 and counted == [("node-a", 1)]
    ensure_user(sessions, "cb2", "officer")
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as officer:
        sign_in(officer, "cb2")
        listed = officer.get("/calls", params={"outcome": "lost"})
        assert listed.status_code == 200 and "1 cuộc gọi" in listed.text
        assert 'title="máy chủ node-a dừng đột ngột giữa cuộc gọi">lost</td>' in listed.text
        assert "40 s" in listed.text  # ended at the last heartbeat
        call = officer.get("/calls/held-1")
        assert "kết thúc: lost (máy chủ dừng đột ngột" in call.text
        assert "máy chủ node-a" in call.text
        kinds = re.findall(r"<strong>([a-z-]+)</strong>", call.text)
        assert kinds[-1] == "call-ended" and "reason: lost" in call.text
        csv = officer.get("/calls.csv", params={"outcome": "lost"})
        assert csv.text.splitlines()[1].endswith(",node-a")
