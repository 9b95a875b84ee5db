"""The SIP UDP socket reads what is queued at each wake-up, so a busy loop cannot starve it.

asyncio reads one datagram per wake-up of a socket; under load (hundreds of RTP sockets ready
on every turn of the loop) SIP messages would wait one loop turn each. These tests queue
datagrams on a real socket while the loop is blocked, then let the loop turn.
"""

from __future__ import annotations

import asyncio
import socket
import time

from ivr.sip.dialog import Peer
from ivr.sip.transport import UDP_DRAIN_BUDGET, SipTransport


async def _turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def _queue(port: int, count: int) -> socket.socket:
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    for n in range(count):
        client.sendto(f"OPTIONS {n}\r\n\r\n".encode(), ("127.0.0.1", port))
    time.sleep(0.05)  # blocks the loop: everything is queued before it turns again
    return client


async def test_queued_datagrams_are_handled_in_one_loop_turn() -> None:
    got: list[tuple[bytes, Peer]] = []
    transport = SipTransport(lambda data, peer: got.append((data, peer)))
    await transport.start("127.0.0.1", 0, ["udp"])
    try:
        client = _queue(transport.port, 40)
        await _turns(3)  # one datagram per turn would have handled at most three
        assert len(got) == 40
        assert [data for data, _ in got] == [f"OPTIONS {n}\r\n\r\n".encode() for n in range(40)]
        assert {peer for _, peer in got} == {Peer("udp", "127.0.0.1", client.getsockname()[1])}
        client.close()
    finally:
        await transport.close()


async def test_a_wake_up_reads_at_most_the_budget_and_the_rest_follows() -> None:
    got: list[bytes] = []
    transport = SipTransport(lambda data, peer: got.append(data))
    await transport.start("127.0.0.1", 0, ["udp"])
    try:
        total = 2 * UDP_DRAIN_BUDGET + 10
        client = _queue(transport.port, total)
        for _ in range(5):  # until the loop has polled the socket once
            await _turns(1)
            if got:
                break
        assert len(got) == UDP_DRAIN_BUDGET + 1  # the wake-up's datagram and the budget
        await _turns(5)
        assert len(got) == total
        client.close()
    finally:
        await transport.close()


async def test_a_failing_handler_does_not_stop_the_datagrams_behind_it() -> None:
    got: list[bytes] = []

    def on_data(data: bytes, peer: Peer) -> None:
        if data.startswith(b"OPTIONS 3\r"):
            raise RuntimeError("handler bug")
        got.append(data)

    transport = SipTransport(on_data)
    await transport.start("127.0.0.1", 0, ["udp"])
    try:
        client = _queue(transport.port, 8)
        await _turns(3)
        assert len(got) == 7
        client.close()
    finally:
        await transport.close()
