""" "Call back now" end to end over loopback: the officer's registered baresip rings and
answers, a sipp UAS stands for the trunk and the citizen behind it, the two are bridged.

The first test goes through everything an officer touches: the console (a real uvicorn on the
same SQLite file, signed in as the officer) shows the button, refuses another department's
officer and a second click, and its feed reports each step; the hotline (in this process)
claims the request, rings the officer, INVITEs the callback's number at the trunk (sipp checks
the Request-URI itself), and relays audio both ways (sipp echoes the officer's 880 Hz tone,
which the officer hears back). The second test takes the request straight from the requests
table on SQLite and PostgreSQL and lets the citizen's side answer 486 (after challenging the
INVITE for digest credentials, which sipp verifies) or 404.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_officer
from ivr.bridge.officer_line import BridgeLine
from ivr.calllog.tables import CallbackRow, CallEventRow
from ivr.events import CallbackRequested, CallStarted
from ivr.officer_settings import RegistrarSettings
from ivr.outbound.callback_call import CallbackCaller
from ivr.outbound.claim_loop import ClaimLoop
from ivr.outbound.requests import DbOutboundCalls
from ivr.outbound.tables import OutboundCallRow
from ivr.queue.model import OfficerState
from ivr.queue.store_db import DbQueueStore
from ivr.registrar_db import DbRegistry
from ivr.settings import TrunkSettings
from ivr.sip.registrar import Registrar
from tests.e2e.harness import free_port, media_range, start_ivr
from tests.e2e.hotline_fixture import start_hotline
from tests.officers.conftest import REALM
from tests.officers.phones import officer_phone
from tests.officers.test_bridge_e2e import OFFICER_HZ, near, tones_heard
from tests.officers.test_outbound_requests import callback_id_of, logged_callback
from tests.support import need
from tests.web.console_support import CSRF_FIELD, write_events
from tests.web.served import served_web
from tests.web_access import TEST_PASSWORD, ensure_user
from web.roles import Role

pytestmark = pytest.mark.e2e
PASSWORD = "b1m4t-1001"
LOGIN = "mai.vo"  # officer 1001 of tong-dai in the sample departments
OTHER_LOGIN = "phuc.le"  # officer 2201 of so-tn-mt: another department
NUMBER = "0912345678"

UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="trunk">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^INVITE sip:{number}@127\\.0\\.0\\.1:[0-9]+ SIP/2\\.0" search_in="msg"
            check_it="true" assign_to="1"/>
    </action>
  </recv>
{challenge}
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{number}@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="300"/>
{answer}
{refused}
  <Reference variables="1,2"/>
</scenario>
"""
CHALLENGE = """  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag00[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="trunk.example", nonce="5e7a1c0ffee", algorithm=MD5
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="2" username="{user}" password="{password}"/>
    </action>
  </recv>
  <nop hide="true" test="2" next="authorized"/>
  <send>
    <![CDATA[
      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <nop hide="true" next="refused"/>
  <label id="authorized"/>"""
TRUNK_USER, TRUNK_PASSWORD = "tongdai-1900", "trunk-secret"
ANSWER_200 = """  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:citizen@[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=citizen 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE" timeout="20000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="500"/>"""
ANSWER_REFUSED = """  <send>
    <![CDATA[
      SIP/2.0 {status} {reason}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <timewait milliseconds="300"/>"""


@dataclass
class Trunk:
    """A sipp UAS on loopback standing for the trunk (and the citizen behind it)."""

    port: int
    proc: asyncio.subprocess.Process
    workdir: Path

    async def result(self, timeout_s: float = 20.0) -> tuple[int, str]:
        _, err = await asyncio.wait_for(self.proc.communicate(), timeout_s)
        errors = self.workdir / "errors.log"
        text = errors.read_text(errors="replace") if errors.exists() else ""
        return self.proc.returncode or 0, err.decode(errors="replace")[-1500:] + text[-1500:]

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def start_trunk(status: int = 200, reason: str = "OK", *, challenge: bool = False) -> Trunk:
    """sipp answering `status` (200: with SDP, echoing RTP, until our BYE); with `challenge`
    it first asks for digest credentials and refuses (403) an INVITE that does not carry
    them right."""
    sipp = shutil.which("sipp")
    need(sipp, "sipp is not installed (Debian package sip-tester)")
    assert sipp is not None
    workdir = Path(tempfile.mkdtemp(prefix="sipp-trunk-"))
    answer = ANSWER_200 if status == 200 else ANSWER_REFUSED.format(status=status, reason=reason)
    scenario = workdir / "trunk.xml"
    asked = CHALLENGE.replace("{user}", TRUNK_USER).replace("{password}", TRUNK_PASSWORD)
    text = UAS.replace(
        "{challenge}",
        asked
        if challenge
        else '  <nop hide="true"><action><assign assign_to="2" value="1"/></action></nop>',
    )
    text = text.replace("{refused}", '  <label id="refused"/>' if challenge else "")
    scenario.write_text(text.replace("{number}", NUMBER).replace("{answer}", answer))
    port = free_port()
    args = [
        sipp, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
        "-mp", str(media_range(10)[0]), "-rtp_echo", "-m", "1", "-nostdin",
        "-timeout", "30s", "-timeout_error", "-trace_err",
        "-error_file", str(workdir / "errors.log"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=workdir, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(0.3)  # sipp binds its port
    return Trunk(port, proc, workdir)


async def signed_in(client: httpx.AsyncClient, login: str) -> str:
    """Sign `client` in as `login`; the console's CSRF token."""
    page = await client.get("/login")
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    answer = await client.post(
        "/login", data={"username": login, "password": TEST_PASSWORD, "csrf_token": match[1]}
    )
    assert answer.status_code == 303, answer.text
    console = await client.get("/console")
    assert console.status_code == 200, console.text
    token = CSRF_FIELD.search(console.text)
    assert token
    return token[1]


async def call_steps(client: httpx.AsyncClient, out: list[dict[str, Any]],
                     connected: asyncio.Event) -> None:  # fmt: skip
    """The feed's ``callback-call`` events until one is final."""
    async with client.stream("GET", "/console/events") as answer:
        assert answer.status_code == 200
        name = ""
        async for line in answer.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
                if name == "hello":
                    connected.set()
            elif line.startswith("data: ") and name == "callback-call":
                out.append(json.loads(line[6:]))
                if out[-1]["state"] in ("done", "failed"):
                    return


async def test_call_back_now_rings_the_officer_then_bridges_the_citizen(tmp_path: Path) -> None:
    trunk = await start_trunk()
    env = {"TONGDAI_SIP__TRUNK__URI": f"sip:127.0.0.1:{trunk.port}"}
    with served_web(tmp_path / "web", **env) as web:
        engine = create_engine_from_url(web.database_url)
        factory = session_factory(engine)
        ensure_user(factory, LOGIN, Role.OFFICER)
        ensure_user(factory, OTHER_LOGIN, Role.OFFICER)
        with unit_of_work(factory) as session:
            save_officer(
                session, department_id="tong-dai", name="Võ Thị Mai", extension="1001",
                realm="tongdai", sip_password=PASSWORD, web_login=LOGIN,
            )  # fmt: skip
        write_events(web.database_url, [
            CallStarted(call_id="call-cb", caller=NUMBER, callee="1900", codec="PCMA",
                        remote_media="127.0.0.1:40002"),
            CallbackRequested(call_id="call-cb", node_id="callback", department="tong-dai",
                              number=NUMBER),
        ])  # fmt: skip
        ref = callback_id_of(factory, "call-cb")
        path = f"/console/callbacks/menu/{ref}/call"
        running = await start_hotline(
            web.database_url, tmp_path / "prompts",
            trunk=TrunkSettings(uri=f"sip:127.0.0.1:{trunk.port}", ring_timeout_s=8,
                                officer_ring_timeout_s=8),
        )  # fmt: skip
        hotline = running.hotline
        hotline.attach(running.worker.endpoint)
        hotline.start_outbound()
        running.settings.registrar.digest_algorithms = ["MD5"]  # baresip 1.0: MD5 only
        steps: list[dict[str, Any]] = []
        try:
            async with (
                officer_phone(
                    running.port, "1001", PASSWORD, answer="auto", tone_hz=OFFICER_HZ
                ) as officer,
                httpx.AsyncClient(base_url=web.base, timeout=30.0) as console,
                httpx.AsyncClient(base_url=web.base, timeout=30.0) as other,
            ):
                await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
                token = await signed_in(console, LOGIN)
                assert path in (await console.get("/console")).text
                # another department's officer: the callback does not exist for them
                other_token = await signed_in(other, OTHER_LOGIN)
                assert path not in (await other.get("/console")).text
                refused = await other.post(path, data={"csrf_token": other_token})
                assert refused.status_code == 404
                assert (await console.post(path, data={})).status_code == 403  # no CSRF token
                connected = asyncio.Event()
                feed = asyncio.create_task(call_steps(console, steps, connected))
                await asyncio.wait_for(connected.wait(), 10)
                clicked = await console.post(path, data={"csrf_token": token})
                assert clicked.status_code == 303, clicked.text
                again = await console.post(path, data={"csrf_token": token})
                assert again.status_code == 409  # one call in flight per callback
                await officer.wait_event("CALL_ESTABLISHED", 10)  # the officer's phone first
                for _ in range(100):  # then the citizen answers: connected
                    if any(s["state"] == "connected" for s in steps):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(2.0)  # the conversation
                await officer.hangup()
                await officer.wait_event("CALL_CLOSED", 5)
                code, errors = await trunk.result()  # sipp got our BYE: either BYE ends both
                await asyncio.wait_for(feed, 10)
                heard = tones_heard(officer.recordings()["dec"])
                page = (await console.get("/console")).text
                corrected = await console.post(
                    f"/console/callbacks/menu/{ref}",
                    data={"outcome": "wrong-number", "csrf_token": token},
                )
        finally:
            await trunk.close()
            await running.stop()
        try:
            assert code == 0, errors  # the INVITE's Request-URI held the callback's number
            # the steps in their order (the feed polls SQLite every 0.5 s: a quick ring and
            # answer may fall between two polls), connected while they talked, then reached
            states = [s["state"] for s in steps]
            order = ["requested", "ringing-officer", "calling-citizen", "connected", "done"]
            assert states == sorted(states, key=order.index) and "connected" in states, states
            assert steps[-1]["state"] == "done" and steps[-1]["outcome"] == "reached"
            assert steps[-1]["label"] == "Đã liên lạc được"
            # audio both ways: the officer's tone went to the citizen's side and came back
            assert sum(1 for hz in heard if near(hz, OFFICER_HZ)) >= 4, heard
            outbound = hotline.outbound
            assert outbound is not None
            up, down = outbound.caller.relays[0]
            assert up.relayed > 25 and down.relayed > 25, (up.relayed, down.relayed)
            assert "Cuộc gọi lại qua tổng đài" in page and "Đã liên lạc được" in page
            assert corrected.status_code == 303, corrected.text
            with factory() as session:
                callback = session.get(CallbackRow, ref)
                assert callback is not None and callback.done_at is not None
                assert callback.done_by == LOGIN
                kinds = session.execute(
                    select(CallEventRow.kind, CallEventRow.payload)
                    .where(CallEventRow.call_id == "call-cb")
                    .order_by(CallEventRow.seq)
                ).all()
                done = [p for k, p in kinds if k == "callback-done"]
                assert [p["outcome"] for p in done] == ["reached", "wrong-number"]
                called = [p for k, p in kinds if k == "callback-called"]
                assert len(called) == 1 and called[0]["stage"] == "reached"
                assert called[0]["status"] == 200 and called[0]["talk_s"] > 1.0
                row = session.scalars(select(OutboundCallRow)).one()
                assert row.outcome == "wrong-number" and row.corrected_by == LOGIN
        finally:
            engine.dispose()


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [(486, "Busy Here", "no-answer"), (404, "Not Found", "wrong-number")],
)  # the busy trunk first challenges: the INVITE is sent again with digest credentials
async def test_a_busy_or_unknown_number_is_recorded_as_its_outcome(
    database: tuple[str, sessionmaker[Session]], status: int, reason: str, outcome: str
) -> None:
    url, factory = database
    with unit_of_work(factory) as session:  # baresip's account file is ASCII
        save_officer(
            session, department_id="so-cong-thuong", name="Nguyễn Văn An", extension="1001",
            realm=REALM, sip_password=PASSWORD,
        )  # fmt: skip
    logged_callback(url, "call-busy", NUMBER)
    ref = callback_id_of(factory, "call-busy")
    challenge = status == 486
    trunk = await start_trunk(status, reason, challenge=challenge)
    ivr = await start_ivr(_no_inbound)
    registry = DbRegistry(factory, realm=REALM)
    registrar = Registrar(
        RegistrarSettings(realm=REALM, digest_algorithms=["MD5"]),
        credentials=registry, store=registry, clock=time.time,
    )  # fmt: skip
    ivr.worker.endpoint.registrar = registrar.handle
    endpoint = ivr.worker.endpoint
    phones = BridgeLine(
        endpoint.dial, registry, from_uri=f"sip:hotline@127.0.0.1:{ivr.port}",
        whisper=_no_whisper, clock=time.time,
    )  # fmt: skip
    requests = DbOutboundCalls(factory)
    caller = CallbackCaller(
        phones=phones.ring_phones, dial=endpoint.dial, requests=requests,
        trunk=TrunkSettings(
            uri=f"sip:127.0.0.1:{trunk.port}", ring_timeout_s=8, officer_ring_timeout_s=8,
            username=TRUNK_USER if challenge else "", password=TRUNK_PASSWORD,
        ),
        from_uri=f"sip:1900@127.0.0.1:{ivr.port}",
        wrap_up_s=30.0,
    )  # fmt: skip
    loop = ClaimLoop(requests, caller, factory, node_id="node-a")
    loop.start()
    try:
        async with officer_phone(ivr.port, "1001", PASSWORD, answer="auto") as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            queue = DbQueueStore(factory)
            await queue.set_state("1001", "so-cong-thuong", OfficerState.AVAILABLE, now=time.time())
            started = time.monotonic()
            made = await requests.request(
                source="menu", ref=ref, call_id="call-busy", department_id="so-cong-thuong",
                officer="1001", requested_by="an.nguyen", now=time.time(), stale_after_s=600,
            )  # fmt: skip
            await officer.wait_event("CALL_ESTABLISHED", 10)
            await officer.wait_event("CALL_CLOSED", 10)  # hung up once the citizen's side refused
            code, errors = await trunk.result()
            for _ in range(50):
                row = await requests.get(made.id)
                if row is not None and not row.open:
                    break
                await asyncio.sleep(0.1)
            took_s = time.monotonic() - started
    finally:
        await loop.close()
        await trunk.close()
        await ivr.worker.stop()
    assert code == 0, errors
    assert row is not None and row.state == "done", row
    assert row.outcome == outcome and row.status == status
    print(f"request to outcome {1000 * took_s:.0f} ms")
    # marked on a call once they answered (the queue offers them no caller meanwhile): only
    # such an officer is put to wrap-up when the call back ends
    assert await _state(queue) is OfficerState.WRAP_UP
    with factory() as session:
        callback = session.get(CallbackRow, ref)
        assert callback is not None and callback.done_at is not None
        done = session.scalars(
            select(CallEventRow.payload).where(
                CallEventRow.call_id == "call-busy", CallEventRow.kind == "callback-done"
            )
        ).one()
        assert done["outcome"] == outcome and done["by"] == "an.nguyen"


async def _state(queue: DbQueueStore) -> OfficerState:
    snap = await queue.snapshot("so-cong-thuong", now=time.time(), history=0)
    return snap.officers[0].current(time.time())


async def _no_inbound(call: Any) -> None:
    raise AssertionError("no inbound call is expected")


async def _no_whisper(text: str) -> Any:
    raise AssertionError("no whisper in a callback")
