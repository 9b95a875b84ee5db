"""Press 0 on the default tree with a queue: the runtime waits in line, the officer who answers
hears the call's summary; a department with nobody signed in keeps the REFER."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from ivr.events import TransferRequested, TransferResult
from ivr.officer_settings import QueueSettings
from ivr.queue.model import OfficerState
from ivr.queue.music import default_music
from ivr.queue.store import MemoryQueueStore
from ivr.queue.waiting import QueueDoor
from ivr.runtime.deps import RuntimeDeps
from ivr.runtime.queueing import spoken_code
from tests.queue.test_waiting import FakeOfficers
from tests.runtime.fake_channel import Press
from tests.runtime.fakes import TARGETS, Backends, call


@dataclass
class QueuedBackends(Backends):
    store: MemoryQueueStore = field(default_factory=MemoryQueueStore)
    phones: FakeOfficers = field(default_factory=lambda: FakeOfficers({"1001"}, talk_s=20))

    def deps(self) -> RuntimeDeps:
        door = QueueDoor(
            store=self.store,
            settings=QueueSettings(),
            prompts=self.prompts,
            music=default_music(),
            officers=self.phones,
            clock=lambda: asyncio.get_running_loop().time(),
        )
        return replace(super().deps(), queue=door)


OVERDUE_THEN_OFFICER = [Press("1"), Press("2503039011#"), Press("1"), Press("0")]


def test_press_zero_waits_in_line_and_the_officer_hears_the_summary() -> None:
    backends = QueuedBackends()
    asyncio.run(backends.store.set_state("1001", "tong-dai", OfficerState.AVAILABLE, now=0))
    r = call(OVERDUE_THEN_OFFICER, backends=backends)
    [request] = r.of(TransferRequested)
    assert isinstance(request, TransferRequested) and request.target == "queue:tong-dai"
    [result] = r.of(TransferResult)
    assert isinstance(result, TransferResult) and result.ok
    assert r.context.outcome == "transferred"
    assert r.channel.transfers == []  # no REFER
    [whisper] = backends.phones.whispers
    assert whisper.startswith("Cuộc gọi về hồ sơ 2503039011, Đang xử lý, quá hạn 10 ngày làm việc")
    assert r.channel.heard("chuyển")  # the transfer sentence, played while the phone rang


def test_nobody_signed_in_keeps_the_refer() -> None:
    backends = QueuedBackends()
    r = call(OVERDUE_THEN_OFFICER, backends=backends)
    assert r.channel.transfers[0][0] == TARGETS["tong-dai"]
    assert backends.phones.rung == []


def test_spoken_code() -> None:
    assert spoken_code("000.00.14.H56-250303-9005") == "0014562503039005"[-10:]
    assert spoken_code("2503039005") == "2503039005"
    assert spoken_code("BN-12") == "BN-12"
