"""Distribution strategies, positions, the wait estimate and its Vietnamese sentence."""

from __future__ import annotations

from ivr.queue.distribution import choose_officers, position
from ivr.queue.estimate import estimated_wait_s, position_sentence, wait_minutes
from ivr.queue.model import EntryKind, EntryState, OfficerState, Presence, QueueEntry
from ivr.queue.store import plan_turn


def officer(
    ext: str, state: OfficerState, idle: float, offered: float = 0.0, **kw: float
) -> Presence:
    return Presence(ext, "d", state, since=0.0, idle_since=idle, last_offered_at=offered, **kw)  # type: ignore[arg-type]


def entry(
    id_: int,
    ticket: float,
    kind: EntryKind = EntryKind.CALL,
    state: EntryState = EntryState.WAITING,
) -> QueueEntry:
    return QueueEntry(id_, "d", f"c{id_}", "0912345678", kind, state, ticket, ticket)


TEAM = [
    officer("a", OfficerState.AVAILABLE, idle=50, offered=10),
    officer("b", OfficerState.AVAILABLE, idle=20, offered=30),
    officer("c", OfficerState.ON_CALL, idle=0),
    officer("d", OfficerState.WRAP_UP, idle=5, wrap_until=100),
    officer("e", OfficerState.ON_BREAK, idle=1),
]


def test_longest_idle_round_robin_and_ring_all() -> None:
    assert choose_officers(TEAM, "longest_idle", now=60) == ["b"]
    assert choose_officers(TEAM, "round_robin", now=60) == ["a"]
    assert choose_officers(TEAM, "ring_all", now=60) == ["b", "a"]
    # the wrap-up runs out at 100: d is then free, idle since the end of its wrap-up
    assert choose_officers(TEAM, "ring_all", now=100) == ["b", "a", "d"]
    assert choose_officers(TEAM[2:], "longest_idle", now=60) == []


def test_position_counts_callbacks_and_skips_served_entries() -> None:
    entries = [
        entry(1, 10.0, state=EntryState.CONNECTED),
        entry(2, 20.0, kind=EntryKind.CALLBACK),
        entry(3, 30.0),
        entry(4, 15.0, kind=EntryKind.MESSAGE, state=EntryState.DONE),
    ]
    assert [position(entries, n) for n in (1, 2, 3, 4)] == [0, 1, 2, 0]


def test_a_callback_at_the_head_takes_the_free_officer_first() -> None:
    entries = [entry(2, 20.0, kind=EntryKind.CALLBACK), entry(3, 30.0)]
    turn = plan_turn(entries, TEAM, 3, "longest_idle", now=60)
    assert turn.callbacks == [(2, "b")]
    assert turn.ring == ["a"]
    one_free = [TEAM[1], TEAM[2]]
    turn = plan_turn(entries, one_free, 3, "longest_idle", now=60)
    assert (turn.callbacks, turn.ring) == ([(2, "b")], [])


def test_not_my_turn_behind_a_waiting_call() -> None:
    entries = [entry(1, 10.0), entry(2, 20.0)]
    assert plan_turn(entries, TEAM, 2, "ring_all", now=60).ring == []
    assert plan_turn(entries, TEAM, 1, "ring_all", now=60).ring == ["b", "a"]


def test_estimate_from_recent_handle_times() -> None:
    assert estimated_wait_s(1, [], 1, default_handle_s=240) == 120
    assert estimated_wait_s(3, [100, 140], 2, default_handle_s=240) == 150
    assert estimated_wait_s(3, [100, 140], 0, default_handle_s=240) == 300
    assert [wait_minutes(s) for s in (5, 60, 80, 100, 150)] == [1, 1, 1, 2, 3]


def test_the_sentence_callers_hear() -> None:
    assert position_sentence(3, 110) == (
        "Quý vị đang ở vị trí thứ 3, thời gian chờ dự kiến khoảng 2 phút."
    )
