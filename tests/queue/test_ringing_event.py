"""The queue tells the event sink whose phones ring for which call, and after how long in line:
the officer console's screen-pop is built on that event."""

from __future__ import annotations

import dataclasses

from ivr.events import MemorySink, OfficerRinging
from ivr.queue.model import OfficerState
from ivr.queue.store import MemoryQueueStore
from ivr.queue.waiting import QueueResult
from tests.queue.test_waiting import DEPT, FakeOfficers, caller, door, officer
from tests.runtime.fake_channel import FakeChannel, FakePrompts, run_virtual


def test_each_ring_is_an_officer_ringing_event_with_the_wait() -> None:
    store, prompts, sink = MemoryQueueStore(), FakePrompts(), MemorySink()
    # 1001 lets it ring out, 1002 answers: two rings, two events, in that order.
    phones = FakeOfficers({"1002"}, ring_s=3.0)
    d = dataclasses.replace(door(store, phones, prompts, ring_timeout_s=10.0), sink=sink)
    channel = FakeChannel([], prompts=prompts, call_id="call-7", caller="0911000007")

    async def scenario() -> QueueResult | str:
        await officer(store, "1001", OfficerState.AVAILABLE)  # idle the longest: rung first
        await officer(store, "1002", OfficerState.AVAILABLE, at_s=1.0)
        return await caller(d, channel, at_s=5.0)

    result = run_virtual(scenario())
    assert isinstance(result, QueueResult) and result.officer == "1002"
    rings = [e for e in sink.events if isinstance(e, OfficerRinging)]
    assert [(e.call_id, e.officer, e.department) for e in rings] == [
        ("call-7", "1001", DEPT),
        ("call-7", "1002", DEPT),
    ]
    assert rings[0].waited_s < 1.0  # rung at once
    assert 10.0 <= rings[1].waited_s < 12.0  # after 1001's ring timed out
    assert rings[0].kind == "officer-ringing"
