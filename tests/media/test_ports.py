"""RTP port allocation: even ports of the range, drawn at random, never handed out twice."""

from __future__ import annotations

import itertools

import pytest

from ivr.media.ports import PortAllocator, PortRangeError, PortsExhausted
from ivr.settings import MediaSettings


def test_even_ports_within_range_and_exhaustion() -> None:
    ports = PortAllocator(port_min=20001, port_max=20008)
    got = [ports.allocate() for _ in range(3)]
    assert sorted(got) == [20002, 20004, 20006]  # 20008 has no room for its RTCP neighbour
    assert ports.in_use == 3
    with pytest.raises(PortsExhausted):
        ports.allocate()


def test_double_release_is_harmless() -> None:
    ports = PortAllocator(port_min=30000, port_max=30005)  # 30000, 30002, 30004
    a = ports.allocate()
    ports.release(a)
    ports.release(a)
    ports.release(12345)
    assert ports.available == 3
    assert sorted(ports.allocate() for _ in range(3)) == [30000, 30002, 30004]
    with pytest.raises(PortsExhausted):
        ports.allocate()
    ports.release(30004)
    assert ports.allocate() == 30004


def test_ports_are_drawn_at_random() -> None:
    ports = PortAllocator(port_min=16000, port_max=20000)
    got = [ports.allocate() for _ in range(200)]
    assert len(set(got)) == 200 and all(p % 2 == 0 and 16000 <= p < 20000 for p in got)
    steps = {b - a for a, b in itertools.pairwise(got)}
    assert len(steps) > 150  # not a sequence: no fixed step from one call to the next
    assert got != sorted(got)


def test_from_settings() -> None:
    ports = PortAllocator.from_settings(MediaSettings(rtp_port_min=40000, rtp_port_max=40010))
    assert ports.available == 5
    assert ports.allocate() in range(40000, 40010, 2)


@pytest.mark.parametrize(("lo", "hi"), [(100, 200), (5000, 4000), (6000, 6000), (60000, 70000)])
def test_bad_ranges(lo: int, hi: int) -> None:
    with pytest.raises(PortRangeError):
        PortAllocator(port_min=lo, port_max=hi)
