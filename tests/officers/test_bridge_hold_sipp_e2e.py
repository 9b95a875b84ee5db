"""The other two ways to hold, across a bridge: a sipp caller holds with a=inactive, or with the
RFC 2543 connection address 0.0.0.0, then resumes; the officer is a registered baresip.

sipp checks tongdai's SDP answers itself (an ``ereg`` with ``check_it``: a=inactive or
a=recvonly for the hold, a=sendrecv for the resume), so its exit code says whether each was
answered correctly. The officer's own recording shows the hold music while the caller holds,
and none after the resume.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.events import HoldChanged
from ivr.queue.model import OfficerState
from tests.e2e.harness import run_sipp
from tests.officers.phones import officer_phone
from tests.officers.test_bridge_e2e import DEPT, OFFICER_HZ, PASSWORD, serve_queue, tones_heard
from tests.officers.test_bridge_hold_e2e import is_music, window

pytestmark = pytest.mark.e2e
HOLD_XML = Path(__file__).resolve().parent.parent / "e2e" / "scenarios" / "hold.xml"
CONNECTION = "c=IN IP[media_ip_type] [media_ip]"


def hold_scenario(path: Path, how: str) -> Path:
    """tests/e2e/scenarios/hold.xml with its hold re-INVITE made `how` ("inactive" or
    "0.0.0.0") and longer pauses: 3 s of call before the hold (the bridge is up by then), 3 s
    of hold, 3 s after the resume."""
    text = HOLD_XML.read_text()
    head, tail = text.split("a=sendonly", 1)
    if how == "inactive":
        text = head + "a=inactive" + tail
        text = text.replace('regexp="a=recvonly"', 'regexp="a=inactive"')
    else:  # RFC 2543: sendrecv towards 0.0.0.0 (we answer recvonly, RFC 3264 §8.4)
        cut = head.rindex(CONNECTION)
        head = head[:cut] + "c=IN IP4 0.0.0.0" + head[cut + len(CONNECTION) :]
        text = head + "a=sendrecv" + tail
    text = text.replace('<pause milliseconds="1000"/>', '<pause milliseconds="3000"/>')
    text = text.replace('<pause milliseconds="2000"/>', '<pause milliseconds="3000"/>')
    path.write_text(text)
    return path


@pytest.mark.parametrize("how", ["inactive", "0.0.0.0"])
async def test_a_caller_holding_with_inactive_or_0000_gives_the_officer_music(
    database: tuple[str, sessionmaker[Session]], tmp_path: Path, how: str
) -> None:
    _, factory = database
    ivr, store, line, outcome, _ = await serve_queue(factory)
    try:
        async with officer_phone(
            ivr.port, "1001", PASSWORD, answer="auto", tone_hz=OFFICER_HZ
        ) as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await store.set_state("1001", DEPT, OfficerState.AVAILABLE, now=time.time())
            caller = asyncio.create_task(
                run_sipp(hold_scenario(tmp_path / "hold.xml", how), ivr.port, timeout_s=40)
            )
            await officer.wait_event("CALL_ESTABLISHED", 10)
            result = await caller
            await officer.wait_event("CALL_CLOSED", 5)  # the caller's BYE ended both legs
            await asyncio.sleep(0.5)
            heard = tones_heard(officer.recordings()["dec"])
    finally:
        await ivr.worker.stop()

    assert result.returncode == 0, result.errors or result.stdout[-2000:]
    holds = [e.on_hold for e in ivr.sink.events if isinstance(e, HoldChanged)]
    assert holds == [True, False]
    # the officer's recording starts at its answer, about when the caller's 3 s begin: the
    # hold from about 3 s to 6 s, the resume until about 9 s (margins for the phones' timing)
    during, after = window(heard, 3.5, 5.5), window(heard, 6.75, 8.25)
    assert during and sum(1 for hz in during if is_music(hz)) >= len(during) // 2, heard
    assert after and not any(is_music(hz) for hz in after), heard
    up, _ = line.relays[0]  # caller -> officer: the caller's hold
    assert up.held_s > 2.0
    assert getattr(outcome[0], "outcome", None) == "served"
