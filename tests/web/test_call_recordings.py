"""A bridged conversation's recording in the call's timeline, on a real uvicorn process: the
recording written by the bridge's recorder into the folder the app is configured with, its
``bridge-recorded`` event stored by the call log. An admin and an officer of the call's
department get a player and the WAV; an officer of another department sees the event but gets
no player and a 404; a viewer 403; a name that is not the call's 404. The retention's purge
removes the file, and the route then says so."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core import g711
from db import create_engine_from_url, session_factory
from ivr.bridge.recording import BridgeRecorder, write_bridge_wav
from ivr.calllog.purge_schedule import purge_once
from ivr.events import BridgeRecorded, CallEnded, CallStarted
from tests.web.console_support import sign_in, write_events
from tests.web.served import ServedWeb, served_web
from tests.web_access import ensure_user
from web.roles import Role

OFFICER_LOGIN = "mai.vo"  # sample officer of tong-dai
OTHER_LOGIN = "ha.nguyen"  # sample officer of so-cong-thuong
DEPARTMENT = "tong-dai"
CALL_ID = "rec-7f3a@10.0.0.8"


@pytest.fixture(scope="module")
def recordings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recordings") / "calls"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, recordings_dir: Path) -> Iterator[ServedWeb]:
    with served_web(
        tmp_path_factory.mktemp("call-recordings"),
        TONGDAI_QUEUES__RECORDINGS_DIR=str(recordings_dir),
    ) as served:
        engine = create_engine_from_url(served.database_url)
        for login in (OFFICER_LOGIN, OTHER_LOGIN):
            ensure_user(session_factory(engine), login, Role.OFFICER)
        engine.dispose()
        yield served


def _record(directory: Path) -> tuple[str, bytes]:
    """A 2 s bridge through the recorder: caller 440 Hz (PCMA), officer 880 Hz (PCMU)."""
    t = np.arange(16000) / 8000
    caller = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
    officer = (np.sin(2 * np.pi * 880 * t) * 8000).astype("<i2").tobytes()
    tapes = BridgeRecorder(directory).start(0.0)
    a, u = g711.alaw_encode(caller), g711.ulaw_encode(officer)
    for i in range(0, len(a), 160):
        tapes.caller.add((i + 160) / 8000, i, 1, "PCMA", a[i : i + 160])
        tapes.officer.add((i + 160) / 8000, i, 2, "PCMU", u[i : i + 160])
    tapes.stop(2.0)
    recorded = write_bridge_wav(directory, tapes)
    return recorded.name, recorded.path.read_bytes()


def test_only_those_who_may_listen_hear_a_recording_and_the_purge_removes_it(
    web: ServedWeb, recordings_dir: Path
) -> None:
    name, wav = _record(recordings_dir)
    started = datetime.now(UTC) - timedelta(minutes=5)
    events = [
        CallStarted(call_id=CALL_ID, at=started, caller="0987654321", callee="1900",
                    codec="PCMA", remote_media="127.0.0.1:4000"),
        BridgeRecorded(call_id=CALL_ID, at=started + timedelta(seconds=40), officer="1001",
                       department=DEPARTMENT, recording=name, duration_s=2.0),
        CallEnded(call_id=CALL_ID, at=started + timedelta(seconds=41), reason="caller-bye",
                  duration_s=41.0),
    ]  # fmt: skip
    write_events(web.database_url, events)
    page_url = f"/calls/{CALL_ID.replace('@', '%40')}"
    audio_url = f"{page_url}/recordings/{name}"
    player = f'<audio class="recording" controls preload="none" src="{audio_url}"'

    for login in ("admin", OFFICER_LOGIN):
        with sign_in(web.base, login) as user:
            page = user.get(page_url)
            assert page.status_code == 200
            assert "bridge-recorded" in page.text and player in page.text, login
            heard = user.get(audio_url)
            assert heard.status_code == 200, login
            assert heard.headers["content-type"] == "audio/wav"
            assert heard.headers["cache-control"] == "no-store"
            assert "etag" not in heard.headers and "last-modified" not in heard.headers
            assert heard.content == wav
            with wave.open(io.BytesIO(heard.content)) as w:
                assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 8000, 16000)
    with sign_in(web.base, OTHER_LOGIN) as other:  # the event, no player, no audio
        page = other.get(page_url)
        assert "bridge-recorded" in page.text and "<audio" not in page.text
        assert other.get(audio_url).status_code == 404
    with sign_in(web.base, "viewer") as viewer:
        assert viewer.get(audio_url).status_code == 403
    with sign_in(web.base, "admin") as admin:
        assert admin.get(f"{page_url}/recordings/bridge-{'x' * 26}").status_code == 404
        assert admin.get(f"/calls/other-call/recordings/{name}").status_code == 404
        assert admin.get(f"{page_url}/recordings/..%2F..%2Fetc%2Fpasswd").status_code == 404

    engine = create_engine_from_url(web.database_url)
    try:  # the retention, a year on: the call and its recording go
        purge_once(
            session_factory(engine), retention_days=30, lockout_window_s=86400,
            now=datetime.now(UTC) + timedelta(days=365), recordings_dir=recordings_dir,
        )  # fmt: skip
    finally:
        engine.dispose()
    assert list(recordings_dir.iterdir()) == []
    with sign_in(web.base, "admin") as admin:
        assert admin.get(audio_url).status_code == 404
