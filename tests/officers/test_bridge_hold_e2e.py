"""Hold across the bridge, from either side, with two real baresip phones over loopback.

One phone (the officer's baresip with an 880 Hz microphone, or the citizen's with 440 Hz) puts
the bridged call on hold (a re-INVITE with a=sendonly), then resumes it. tongdai answers the hold
as hold (a=recvonly) and stops sending to the holding phone; the other side hears the hold music
instead of the holding side; after the resume (answered sendrecv) the two hear each other again.
Checked from the listening phone's own recording (baresip stops recording its own calls on
hold, so the holding phone's is not used), from the SDP tongdai answered with and from the
packets tongdai sent to the holding phone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.events import HoldChanged
from ivr.queue.model import OfficerState
from ivr.sip.legs import Direction
from tests.officers.phones import caller_phone, officer_phone
from tests.officers.test_bridge_e2e import (
    CALLER_HZ,
    DEPT,
    OFFICER_HZ,
    PASSWORD,
    near,
    serve_queue,
    tones_heard,
)

pytestmark = pytest.mark.e2e
STEP_S = 0.25  # tones_heard's resolution
HOLD_S = 3.0
TALK_S = 2.5


def window(heard: list[float], start_s: float, end_s: float) -> list[float]:
    """The part of a recording between two offsets from its start (in seconds)."""
    return heard[int(start_s / STEP_S) : int(end_s / STEP_S)]


def is_music(hz: float) -> bool:
    return 150 < hz < 600 and not near(hz, CALLER_HZ)  # the arpeggio of ivr.queue.music


def answered_direction(output: str, after: int) -> str:
    """The a= direction of the first SDP answer tongdai sent (200 OK to INVITE) in a baresip's
    trace after character `after`."""
    text = output[after:]
    start = text.find("SIP/2.0 200 OK")
    while start >= 0:
        head_end = (
            text.find("\n\n", start) if "\r\n\r\n" not in text else text.find("\r\n\r\n", start)
        )
        head = text[start:head_end]
        if "INVITE" in head.split("CSeq:", 1)[-1].split("\n", 1)[0]:
            body = text[head_end : text.find("#", head_end) if "#" in text[head_end:] else None]
            for direction in ("sendrecv", "recvonly", "sendonly", "inactive"):
                if f"a={direction}" in body:
                    return direction
            return "sendrecv"  # no attribute: sendrecv (RFC 4566)
        start = text.find("SIP/2.0 200 OK", start + 1)
    return ""


@pytest.mark.parametrize("holder", ["officer", "citizen"])
async def test_hold_from_either_side_is_heard_as_music_and_resumes(
    database: tuple[str, sessionmaker[Session]], holder: str
) -> None:
    _, factory = database
    ivr, store, line, outcome, _ = await serve_queue(factory)
    marks: dict[str, float] = {}
    directions: dict[str, str] = {}
    sent_to_holder: dict[str, int] = {}
    try:
        async with (
            officer_phone(ivr.port, "1001", PASSWORD, answer="auto", tone_hz=OFFICER_HZ) as officer,
            caller_phone(tone_hz=CALLER_HZ) as citizen,
        ):
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await store.set_state("1001", DEPT, OfficerState.AVAILABLE, now=time.time())
            await citizen.dial(f"sip:hotline@127.0.0.1:{ivr.port}")
            await citizen.wait_event("CALL_ESTABLISHED", 5)
            marks["citizen up"] = time.monotonic()
            await officer.wait_event("CALL_ESTABLISHED", 5)
            marks["officer up"] = time.monotonic()
            await asyncio.sleep(1.0 + TALK_S)  # the whisper, then the conversation
            phone = officer if holder == "officer" else citizen
            side = Direction.OUTBOUND if holder == "officer" else Direction.INBOUND
            (leg,) = [x for x in ivr.worker.endpoint.legs.values() if x.direction is side]

            seen = len(phone.output)
            marks["hold"] = time.monotonic()
            await phone.command("hold")
            await asyncio.sleep(0.5)
            sent_to_holder["hold"] = leg.stream.stats.packets_out
            await asyncio.sleep(HOLD_S - 0.5)
            sent_to_holder["resume"] = leg.stream.stats.packets_out
            directions["hold"] = answered_direction(phone.output, seen)
            seen = len(phone.output)
            marks["resume"] = time.monotonic()
            await phone.command("resume")
            await asyncio.sleep(TALK_S)
            sent_to_holder["hang up"] = leg.stream.stats.packets_out
            directions["resume"] = answered_direction(phone.output, seen)

            marks["hang up"] = time.monotonic()
            await citizen.hangup()
            await citizen.wait_event("CALL_CLOSED", 5)
            await officer.wait_event("CALL_CLOSED", 5)
            await asyncio.sleep(0.5)
            listener = citizen if holder == "officer" else officer
            heard = tones_heard(listener.recordings()["dec"])
    finally:
        await ivr.worker.stop()

    # tongdai answered the hold as hold and the resume as a conversation
    assert directions == {"hold": "recvonly", "resume": "sendrecv"}, directions
    holds = [e.on_hold for e in ivr.sink.events if isinstance(e, HoldChanged)]
    assert holds == [True, False]
    # nothing sent to the holding phone while it held; a packet every 20 ms again after
    assert sent_to_holder["resume"] - sent_to_holder["hold"] <= 1, sent_to_holder
    assert sent_to_holder["hang up"] - sent_to_holder["resume"] >= 0.8 * TALK_S / 0.02

    other_hz = OFFICER_HZ if holder == "officer" else CALLER_HZ
    opened = marks["citizen up" if holder == "officer" else "officer up"]

    def at(start: str, end: str) -> list[float]:
        """What the listener heard between two marks, less a margin of 0.75 s on each side
        (the phones' own buffering, the bridge's watch period)."""
        return window(heard, marks[start] - opened + 0.75, marks[end] - opened - 0.75)

    def mostly(part: list[float], wanted: Callable[[float], bool]) -> bool:
        return bool(part) and sum(1 for hz in part if wanted(hz)) >= len(part) // 2

    before, during, after = at("officer up", "hold"), at("hold", "resume"), at("resume", "hang up")
    assert mostly(before, lambda hz: near(hz, other_hz)), heard
    assert during and not any(near(hz, other_hz) for hz in during), heard
    assert mostly(during, is_music), heard
    assert mostly(after, lambda hz: near(hz, other_hz)), heard
    # the bridge's account: how long each side held
    up, down = line.relays[0]  # caller->officer (the citizen's holds), officer->caller
    held_by_holder, held_by_other = (down, up) if holder == "officer" else (up, down)
    assert held_by_holder.held_s > 2.0 and held_by_other.held_s == 0.0
    assert getattr(outcome[0], "outcome", None) == "served"
