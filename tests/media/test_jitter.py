"""Inbound reorder buffer: order, loss, duplicates, late packets, wrap."""

from __future__ import annotations

import pytest

from ivr.media.jitter import ReorderBuffer


def run(buffer: ReorderBuffer[int], seqs: list[int]) -> list[int]:
    out: list[int] = []
    for s in seqs:
        out += buffer.push(s & 0xFFFF, s)
    return out


def test_in_order_passes_straight_through() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert buffer.push(10, 10) == [10]
    assert buffer.push(11, 11) == [11]
    assert buffer.pending == 0


def test_reordered_packets_come_out_in_order() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert run(buffer, [1, 3, 4, 2, 5, 7, 6]) == [1, 2, 3, 4, 5, 6, 7]
    assert buffer.stats.lost == buffer.stats.late == buffer.stats.duplicate == 0


def test_gives_up_on_a_lost_packet_after_depth() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert run(buffer, [1, 3, 4, 5]) == [1]
    assert buffer.push(6, 6) == [3, 4, 5, 6]
    assert buffer.stats.lost == 1
    # The lost packet turning up afterwards is late, not replayed.
    assert buffer.push(2, 2) == []
    assert buffer.stats.late == 1


def test_duplicates_dropped_and_counted() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert run(buffer, [1, 2, 2, 4, 4, 3, 1]) == [1, 2, 3, 4]
    assert buffer.stats.duplicate == 3
    assert buffer.stats.late == 0


def test_sequence_wrap() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    seqs = [65533, 65534, 65536, 65535, 65537, 65538]
    assert run(buffer, seqs) == sorted(seqs)
    assert buffer.stats.lost == 0
    # Keep going for more than one full cycle of sequence numbers.
    more = list(range(65539, 65539 + 70000))
    assert run(buffer, more) == more


def test_flush_releases_held_packets() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert run(buffer, [1, 3, 5]) == [1]
    assert buffer.flush() == [3, 5]
    assert buffer.stats.lost == 2
    assert buffer.push(6, 6) == [6]


def test_big_jump_is_a_restart_not_loss() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert run(buffer, [100, 101, 30000, 30001]) == [100, 101, 30000, 30001]
    assert buffer.stats.lost == 0
    assert buffer.stats.resets == 1


def test_depth_zero_never_waits() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=0)
    assert run(buffer, [1, 3, 2, 4]) == [1, 3, 4]
    assert buffer.stats.lost == 1
    assert buffer.stats.late == 1
    with pytest.raises(ValueError):
        ReorderBuffer(depth=-1)


def test_restart_for_a_new_sender() -> None:
    buffer: ReorderBuffer[int] = ReorderBuffer(depth=3)
    assert run(buffer, [500, 502]) == [500]
    assert buffer.restart() == [502]
    # A new SSRC may start just below the old sequence: not late, a fresh start.
    assert run(buffer, [498, 499]) == [498, 499]
    assert buffer.stats.late == 0
    assert buffer.stats.resets == 1
