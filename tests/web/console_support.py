"""Helpers of the console tests: sign in over HTTP to a served app, write a call's events
through the real call log, read a Server-Sent Events stream."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from db import create_engine_from_url, session_factory
from ivr.calllog.sink import DbCallLog
from ivr.events import (
    CallEvent,
    CallStarted,
    LookupDone,
    NodeEntered,
    OfficerRinging,
    SpeechRecognized,
    TransferRequested,
)
from tests.web_access import TEST_PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
DOSSIER = "000.00.14.H56-250303-9005"
DOSSIER_STATUS = "đang chờ bổ sung giấy tờ"
SAID = "tôi muốn hỏi về hồ sơ cấp phép môi trường"
CALLER = "0912345678"
STORED_CALLER = "091*****78"  # what the call log keeps at rest, and so what a pop can show


@contextmanager
def sign_in(base: str, username: str) -> Iterator[httpx.Client]:
    """An HTTP client signed in as `username` (the test password) through the login form."""
    with httpx.Client(base_url=base, timeout=20.0, follow_redirects=False) as client:
        page = client.get("/login")
        match = CSRF_FIELD.search(page.text)
        assert match, page.text
        answer = client.post(
            "/login",
            data={"username": username, "password": TEST_PASSWORD, "csrf_token": match.group(1)},
        )
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(client: httpx.Client, path: str) -> str:
    """The CSRF token the forms of page `path` carry."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def ringing_call(call_id: str, officer: str, department: str) -> list[CallEvent]:
    """A call that went through the menu, looked up a dossier, said something and now rings
    `officer`'s phone after 42 s in line."""
    start = datetime.now(UTC) - timedelta(seconds=90)

    def at(seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    return [
        CallStarted(
            call_id=call_id,
            at=at(0),
            caller=CALLER,
            callee="1900",
            codec="PCMU",
            remote_media="127.0.0.1:40000",
        ),
        NodeEntered(
            call_id=call_id, at=at(1), tree_version=1, node_id="greeting", node_kind="menu"
        ),
        NodeEntered(
            call_id=call_id, at=at(5), tree_version=1, node_id="dossier_status", node_kind="dossier"
        ),
        LookupDone(
            call_id=call_id,
            at=at(20),
            node_id="dossier_status",
            lookup="dossier",
            key=DOSSIER,
            found=True,
            detail=DOSSIER_STATUS,
        ),
        SpeechRecognized(
            call_id=call_id, at=at(30), node_id="dossier_status", text=SAID, confidence=0.9
        ),
        TransferRequested(
            call_id=call_id,
            at=at(40),
            node_id="officer",
            department=department,
            target=f"queue:{department}",
            reason="hỏi tiến độ",
        ),
        OfficerRinging(
            call_id=call_id, at=at(89), officer=officer, department=department, waited_s=42.0
        ),
    ]


def write_events(database_url: str, events: list[CallEvent]) -> None:
    """Store `events` through the call log, as a worker does."""
    engine = create_engine_from_url(database_url)
    log = DbCallLog(session_factory(engine))
    log.start()
    try:
        for event in events:
            log.emit(event)
        assert log.flush(10.0)
        assert log.failed == 0
    finally:
        log.close()
        engine.dispose()


@contextmanager
def event_stream(client: httpx.Client, path: str) -> Iterator[Iterator[tuple[str, Any]]]:
    """The (event, data) pairs of an SSE stream, as they arrive."""
    with client.stream("GET", path, timeout=httpx.Timeout(20.0, read=15.0)) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")

        def events() -> Iterator[tuple[str, Any]]:
            name, data = "", ""
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and name:
                    yield name, json.loads(data)
                    name, data = "", ""

        yield events()


def next_of(events: Iterator[tuple[str, Any]], kind: str, timeout_s: float = 10.0) -> Any:
    """The data of the next `kind` event (others skipped)."""
    deadline = time.monotonic() + timeout_s
    for name, data in events:
        if name == kind:
            return data
        assert time.monotonic() < deadline, f"no {kind} event in {timeout_s} s"
    raise AssertionError(f"the stream ended before a {kind} event")
