"""The officer console on a real uvicorn process: who may open it, the availability toggle
through the queue store, the screen-pop over Server-Sent Events after a ringing event is stored
by the call log, and callbacks marked done with their outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from db import create_engine_from_url, session_factory
from ivr.calllog.tables import CallbackRow, CallEventRow
from ivr.events import CallbackRequested, CallStarted
from ivr.queue.model import EntryKind, EntryState, OfficerState
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import QueueEntryRow
from tests.web.console_support import (
    DOSSIER,
    DOSSIER_STATUS,
    SAID,
    STORED_CALLER,
    csrf_of,
    event_stream,
    next_of,
    ringing_call,
    sign_in,
    write_events,
)
from tests.web.served import ServedWeb, served_web
from tests.web_access import ensure_user
from web.roles import Role

OFFICER_LOGIN = "phuc.le"  # sample officer 2201 of so-tn-mt (departments.json)
OFFICER_EXT = "2201"
DEPARTMENT = "so-tn-mt"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWeb]:
    with served_web(tmp_path_factory.mktemp("console")) as served:
        engine = create_engine_from_url(served.database_url)
        ensure_user(session_factory(engine), OFFICER_LOGIN, Role.OFFICER)
        engine.dispose()
        yield served


def _state(web: ServedWeb, extension: str) -> OfficerState:
    engine = create_engine_from_url(web.database_url)
    try:
        now = time.time()
        snap = asyncio.run(
            DbQueueStore(session_factory(engine)).snapshot(DEPARTMENT, now=now, history=0)
        )
    finally:
        engine.dispose()
    return next(
        (p.current(now) for p in snap.officers if p.extension == extension),
        OfficerState.SIGNED_OUT,
    )


def test_anonymous_and_viewers_are_refused_officers_get_their_console(web: ServedWeb) -> None:
    with httpx.Client(base_url=web.base, timeout=10.0) as anonymous:
        page = anonymous.get("/console", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert anonymous.get("/console/events").status_code in (303, 401)
        assert anonymous.post("/console/state", data={"state": "available"}).status_code in (
            303,
            401,
            403,
        )
    with sign_in(web.base, "viewer") as viewer:
        assert viewer.get("/console").status_code == 403
        assert viewer.get("/console/events").status_code == 403
    with sign_in(web.base, "editor") as editor:
        assert editor.get("/console").status_code == 403
    with sign_in(web.base, OFFICER_LOGIN) as officer:
        page = officer.get("/console")
        assert page.status_code == 200
        assert "Lê Hoàng Phúc" in page.text and DEPARTMENT in page.text
        assert 'src="/static/console.js"' in page.text
    with sign_in(web.base, "officer") as unlinked:  # an officer account with no officer record
        page = unlinked.get("/console")
        assert page.status_code == 200 and "chưa gắn với cán bộ" in page.text
        assert unlinked.get("/console/events").status_code == 404


def test_the_availability_toggle_writes_through_the_queue_store(web: ServedWeb) -> None:
    with sign_in(web.base, OFFICER_LOGIN) as officer:
        refused = officer.post("/console/state", data={"state": "available"})
        assert refused.status_code == 403  # no CSRF token
        assert _state(web, OFFICER_EXT) is OfficerState.SIGNED_OUT
        token = csrf_of(officer, "/console")
        for wanted in (OfficerState.AVAILABLE, OfficerState.ON_BREAK, OfficerState.AVAILABLE):
            answer = officer.post(
                "/console/state", data={"state": wanted.value, "csrf_token": token}
            )
            assert answer.status_code == 303, answer.text
            assert _state(web, OFFICER_EXT) is wanted
        bad = officer.post("/console/state", data={"state": "on_call", "csrf_token": token})
        assert bad.status_code == 400  # the queue sets that one, not the officer
        assert "Sẵn sàng" in officer.get("/console").text


def test_the_feed_sends_the_screen_pop_of_a_ringing_event_for_this_officer(
    web: ServedWeb,
) -> None:
    with (
        sign_in(web.base, OFFICER_LOGIN) as officer,
        event_stream(officer, "/console/events") as events,
    ):
        hello = next_of(events, "hello")
        assert hello["officer"] == OFFICER_EXT
        started = time.monotonic()
        # Another officer's ring first: it must not reach this console.
        write_events(web.database_url, ringing_call("call-other", "2202", DEPARTMENT))
        write_events(web.database_url, ringing_call("call-mine", OFFICER_EXT, DEPARTMENT))
        pop = next_of(events, "screen-pop")
        delay_s = time.monotonic() - started
    assert pop["call_id"] == "call-mine"
    assert pop["officer"] == OFFICER_EXT and pop["department"] == DEPARTMENT
    assert pop["caller"] == STORED_CALLER  # numbers are masked at rest, for every role
    assert pop["menu_path"] == ["greeting", "dossier_status"]
    assert pop["dossier_code"] == DOSSIER and pop["dossier_status"] == DOSSIER_STATUS
    assert pop["said"] == [SAID]
    assert pop["waited_s"] == 42.0
    assert pop["reason"] == "hỏi tiến độ"
    assert delay_s < 5.0


def test_an_admin_opens_an_officers_feed_by_extension(web: ServedWeb) -> None:
    with sign_in(web.base, "admin") as admin:
        assert admin.get("/console/events").status_code == 404  # no officer of their own
        chooser = admin.get("/console").text
        assert f'href="/console?officer={OFFICER_EXT}"' in chooser
        assert "Lê Hoàng Phúc" in admin.get(f"/console?officer={OFFICER_EXT}").text
        with event_stream(admin, f"/console/events?officer={OFFICER_EXT}") as events:
            assert next_of(events, "hello")["officer"] == OFFICER_EXT
            line = next_of(events, "queue")
            assert {"state", "line", "officers"} <= line.keys()


def test_a_callback_is_marked_done_with_its_outcome(web: ServedWeb) -> None:
    now = datetime.now(UTC)
    write_events(
        web.database_url,
        [
            CallStarted(
                call_id="call-cb",
                at=now,
                caller="0987654321",
                callee="1900",
                codec="PCMU",
                remote_media="127.0.0.1:40002",
            ),
            CallbackRequested(
                call_id="call-cb",
                at=now,
                node_id="callback",
                department=DEPARTMENT,
                number="0987654321",
            ),
        ],
    )
    engine = create_engine_from_url(web.database_url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            callback_id = session.scalars(
                select(CallbackRow.id).where(CallbackRow.call_id == "call-cb")
            ).one()
        with sign_in(web.base, OFFICER_LOGIN) as officer:
            page = officer.get("/console")
            assert "0987654321" in page.text
            assert f"/console/callbacks/menu/{callback_id}" in page.text
            token = csrf_of(officer, "/console")
            path = f"/console/callbacks/menu/{callback_id}"
            assert officer.post(path, data={"outcome": "reached"}).status_code == 403
            answer = officer.post(path, data={"outcome": "no-answer", "csrf_token": token})
            assert answer.status_code == 303, answer.text
            again = officer.post(path, data={"outcome": "reached", "csrf_token": token})
            assert again.status_code == 404  # done already
            assert f"/console/callbacks/menu/{callback_id}" not in officer.get("/console").text
        with sessions() as session:
            row = session.get(CallbackRow, callback_id)
            assert row is not None and row.done_at is not None and row.done_by == OFFICER_LOGIN
            done = session.scalars(
                select(CallEventRow).where(
                    CallEventRow.call_id == "call-cb", CallEventRow.kind == "callback-done"
                )
            ).one()
            assert done.payload["outcome"] == "no-answer"
            assert done.payload["ref"] == callback_id and done.payload["source"] == "menu"
    finally:
        engine.dispose()


def test_a_queue_callback_handed_to_the_officer_frees_them_when_done(web: ServedWeb) -> None:
    write_events(
        web.database_url,
        [CallStarted(call_id="call-qcb", caller="0966777888", callee="1900", codec="PCMU",
                     remote_media="127.0.0.1:40006")],
    )  # fmt: skip
    engine = create_engine_from_url(web.database_url)
    store = DbQueueStore(session_factory(engine))

    async def hand_out() -> int:
        now = time.time()
        await store.set_state(OFFICER_EXT, DEPARTMENT, OfficerState.AVAILABLE, now=now - 5)
        callback = await store.join(DEPARTMENT, call_id="call-qcb", caller="0966777888",
                                    kind=EntryKind.CALLBACK, now=now - 60)  # fmt: skip
        call = await store.join(DEPARTMENT, call_id="call-next", caller="0900000001",
                                kind=EntryKind.CALL, now=now)  # fmt: skip
        # The callback is at the head: the free officer gets it, the call waits.
        assert await store.take_turn(call.id, "longest_idle", now=now) == []
        return callback.id

    try:
        entry_id = asyncio.run(hand_out())
        assert _state(web, OFFICER_EXT) is OfficerState.ON_CALL
        with sign_in(web.base, OFFICER_LOGIN) as officer:
            page = officer.get("/console")
            path = f"/console/callbacks/queue/{entry_id}"
            assert path in page.text and "0966777888" in page.text
            token = csrf_of(officer, "/console")
            busy = officer.post("/console/state", data={"state": "on_break", "csrf_token": token})
            assert busy.status_code == 409  # on a callback: finish it first
            answer = officer.post(path, data={"outcome": "wrong-number", "csrf_token": token})
            assert answer.status_code == 303, answer.text
            assert (
                officer.post(path, data={"outcome": "reached", "csrf_token": token}).status_code
                == 404
            )
        assert _state(web, OFFICER_EXT) in (OfficerState.WRAP_UP, OfficerState.AVAILABLE)
        with session_factory(engine)() as session:
            entry = session.get(QueueEntryRow, entry_id)
            assert entry is not None and entry.state == EntryState.DONE.value
            done = session.scalars(
                select(CallEventRow).where(
                    CallEventRow.call_id == "call-qcb", CallEventRow.kind == "callback-done"
                )
            ).one()
            assert done.payload == {
                "source": "queue", "ref": entry_id, "outcome": "wrong-number", "by": OFFICER_LOGIN
            }  # fmt: skip
    finally:
        engine.dispose()


def test_without_a_trunk_call_back_now_is_not_offered_and_the_form_stays(web: ServedWeb) -> None:
    write_events(web.database_url, [
        CallStarted(call_id="call-manual", caller="0933555667", callee="1900", codec="PCMU",
                    remote_media="127.0.0.1:40004"),
        CallbackRequested(call_id="call-manual", node_id="callback", department=DEPARTMENT,
                          number="0933555667"),
    ])  # fmt: skip
    with sign_in(web.base, OFFICER_LOGIN) as officer:
        page = officer.get("/console").text
        assert 'id="callnow-off"' in page and "sip.trunk" in page
        assert '/call"' not in page and 'name="outcome"' in page
        token = csrf_of(officer, "/console")
        answer = officer.post("/console/callbacks/menu/1/call", data={"csrf_token": token})
        assert answer.status_code == 409
