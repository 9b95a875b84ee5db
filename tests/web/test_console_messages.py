"""Voice messages in the officer console, on a real uvicorn process: a message left through the
real message box (queue entry in the served database, WAV in the messages folder the app is
configured with) is listed for its department's officer with a player whose source is an
authenticated route; that officer gets the WAV, a viewer, an anonymous client and an officer of
another department do not; "handled" (with the CSRF token) takes it off the list and is kept
in the call's timeline. In headless Chromium the player loads the audio (CSP and the session
cookie as a browser has them)."""

from __future__ import annotations

import asyncio
import io
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from db import create_engine_from_url, session_factory
from ivr.events import CallStarted, VoiceMessageLeft
from ivr.queue.messages import LeftMessage, VoiceMessageBox
from ivr.queue.model import EntryState
from ivr.queue.store_db import DbQueueStore
from ivr.queue.tables import QueueEntryRow
from speech.audio import read_wav
from tests.web.console_support import csrf_of, sign_in, write_events
from tests.web.served import ServedWeb, served_web
from tests.web_access import TEST_PASSWORD, ensure_user
from web.roles import Role

OFFICER_LOGIN, OFFICER_EXT = "mai.vo", "1001"  # sample officer of tong-dai
OTHER_LOGIN = "ha.nguyen"  # sample officer of so-cong-thuong
DEPARTMENT = "tong-dai"
CALLER = "0987654321"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def messages_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("messages") / "voice"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, messages_dir: Path) -> Iterator[ServedWeb]:
    with served_web(
        tmp_path_factory.mktemp("console-messages"),
        TONGDAI_SPEECH__MESSAGES_DIR=str(messages_dir),
    ) as served:
        engine = create_engine_from_url(served.database_url)
        for login in (OFFICER_LOGIN, OTHER_LOGIN):
            ensure_user(session_factory(engine), login, Role.OFFICER)
        engine.dispose()
        yield served


def _leave(web: ServedWeb, directory: Path, pcm: bytes, call_id: str) -> LeftMessage:
    engine = create_engine_from_url(web.database_url)
    try:
        box = VoiceMessageBox(DbQueueStore(session_factory(engine)), directory)
        return asyncio.run(box.leave(DEPARTMENT, call_id=call_id, caller=CALLER, pcm=pcm))
    finally:
        engine.dispose()


def _state(web: ServedWeb, entry_id: int) -> tuple[str, str | None]:
    engine = create_engine_from_url(web.database_url)
    try:
        with session_factory(engine)() as session:
            row = session.get(QueueEntryRow, entry_id)
            assert row is not None
            return row.state, row.assigned_to
    finally:
        engine.dispose()


def test_the_officer_hears_the_message_others_are_refused_handled_takes_it_off(
    web: ServedWeb, messages_dir: Path, speech_dir: Path
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_5.wav", 8000)
    left = _leave(web, messages_dir, pcm, f"msg-{time.monotonic_ns()}")
    audio_url = f"/console/messages/{left.entry_id}/audio"

    with sign_in(web.base, OFFICER_LOGIN) as officer:
        page = officer.get("/console")
        assert page.status_code == 200
        row = re.search(rf'<tr data-message="{left.entry_id}">(.*?)</tr>', page.text, re.S)
        assert row, "the message is not listed"
        assert f'<audio controls preload="none" src="{audio_url}"' in row.group(1)
        assert CALLER in row.group(1)  # officers may see personal data
        seconds = len(pcm) / 2 / 8000
        assert f"0:{int(seconds):02d}" in row.group(1)
        assert "<script>" not in page.text  # the player needs no script (CSP)

        heard = officer.get(audio_url)
        assert heard.status_code == 200
        assert heard.headers["content-type"] == "audio/wav"
        assert heard.headers["cache-control"] == "no-store"
        assert "etag" not in heard.headers and "last-modified" not in heard.headers
        with wave.open(io.BytesIO(heard.content)) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            served = wav.readframes(wav.getnframes())
        assert np.array_equal(np.frombuffer(served, dtype="<i2"), np.frombuffer(pcm, dtype="<i2"))

    with sign_in(web.base, "viewer") as viewer:
        assert viewer.get(audio_url).status_code == 403
    with sign_in(web.base, OTHER_LOGIN) as other:  # an officer of another department
        assert other.get(audio_url).status_code == 404
        assert f'data-message="{left.entry_id}"' not in other.get("/console").text
        token = csrf_of(other, "/console")
        refused = other.post(
            f"/console/messages/{left.entry_id}/handled", data={"csrf_token": token}
        )
        assert refused.status_code == 404
    with httpx.Client(base_url=web.base, timeout=10.0) as anonymous:
        assert anonymous.get(audio_url, follow_redirects=False).status_code in (303, 401)
    with sign_in(web.base, "admin") as admin:  # admins run the system: they may listen
        assert admin.get(audio_url).status_code == 200
    assert _state(web, left.entry_id) == (EntryState.WAITING.value, None)

    with sign_in(web.base, OFFICER_LOGIN) as officer:
        no_token = officer.post(f"/console/messages/{left.entry_id}/handled")
        assert no_token.status_code == 403
        token = csrf_of(officer, "/console")
        done = officer.post(
            f"/console/messages/{left.entry_id}/handled", data={"csrf_token": token}
        )
        assert done.status_code == 303, done.text
        assert _state(web, left.entry_id) == (EntryState.DONE.value, OFFICER_EXT)
        page = officer.get(done.headers["location"])
        assert "Đã xử lý lời nhắn." in page.text
        assert f'data-message="{left.entry_id}"' not in page.text
        again = officer.post(
            f"/console/messages/{left.entry_id}/handled", data={"csrf_token": token}
        )
        assert again.status_code == 404


def test_the_call_timeline_shows_the_message_and_who_handled_it(
    web: ServedWeb, messages_dir: Path
) -> None:
    call_id = f"timeline-{time.monotonic_ns()}"
    left = _leave(web, messages_dir, b"\x10\x27" * 8000, call_id)
    write_events(
        web.database_url,
        [
            CallStarted(
                call_id=call_id, caller=CALLER, callee="hotline", codec="PCMA", remote_media="x"
            ),
            VoiceMessageLeft(
                call_id=call_id,
                node_id="voice_message",
                department=DEPARTMENT,
                entry_id=left.entry_id,
                duration_s=left.duration_s,
            ),
        ],
    )
    with sign_in(web.base, OFFICER_LOGIN) as officer:
        page = officer.get(f"/calls/{call_id}")
        assert page.status_code == 200
        assert "voice-message-left" in page.text
        assert f"entry_id: {left.entry_id}" in page.text and "duration_s: 1.0" in page.text
        token = csrf_of(officer, "/console")
        handled = f"/console/messages/{left.entry_id}/handled"
        assert officer.post(handled, data={"csrf_token": token}).status_code == 303
        page = officer.get(f"/calls/{call_id}")
        assert "voice-message-handled" in page.text and f"by: {OFFICER_LOGIN}" in page.text


def test_a_message_whose_audio_is_gone_is_listed_without_a_player(
    web: ServedWeb, messages_dir: Path, speech_dir: Path
) -> None:
    pcm, _ = read_wav(speech_dir / "call8k_4.wav", 8000)
    left = _leave(web, messages_dir, pcm, f"gone-{time.monotonic_ns()}")
    (messages_dir / f"message-{left.entry_id}.wav").unlink()
    with sign_in(web.base, OFFICER_LOGIN) as officer:
        page = officer.get("/console")
        row = re.search(rf'<tr data-message="{left.entry_id}">(.*?)</tr>', page.text, re.S)
        assert row and "không còn tệp âm thanh" in row.group(1)
        assert officer.get(f"/console/messages/{left.entry_id}/audio").status_code == 404


def test_the_message_plays_in_chromium_and_handled_takes_it_off(
    web: ServedWeb, messages_dir: Path, speech_dir: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    assert CHROMIUM.exists(), "Debian's chromium is needed for the browser tests"
    pcm, _ = read_wav(speech_dir / "call8k_3.wav", 8000)
    left = _leave(web, messages_dir, pcm, f"browser-{time.monotonic_ns()}")
    row = f'tr[data-message="{left.entry_id}"]'
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(locale="vi-VN")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{web.base}/login?next=/console")
            page.fill("#username", OFFICER_LOGIN)
            page.fill("#password", TEST_PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{web.base}/console")
            # the browser fetches the audio over the signed-in session and decodes it
            duration = page.eval_on_selector(
                f"{row} audio",
                """(audio) => new Promise((resolve, reject) => {
                    audio.addEventListener("loadedmetadata", () => resolve(audio.duration));
                    audio.addEventListener("error", () => reject(new Error("audio error")));
                    audio.load();
                })""",
            )
            assert abs(duration - len(pcm) / 16000) < 0.05, duration
            page.click(f"{row} button[type=submit]")
            page.wait_for_selector("text=Đã xử lý lời nhắn.")
            assert page.query_selector(row) is None
            assert errors == []
        finally:
            browser.close()
    assert _state(web, left.entry_id) == (EntryState.DONE.value, OFFICER_EXT)
