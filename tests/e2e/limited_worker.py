"""A SIP worker for tests that need it in a process of its own (under a file limit, say).

``python -m tests.e2e.limited_worker PORT TCP_IDLE_S`` answers OPTIONS and calls on
127.0.0.1:PORT (UDP and TCP), logs to stderr, prints ``ready`` and runs until stdin closes."""

from __future__ import annotations

import asyncio
import logging
import sys

from ivr.call import Call
from ivr.events import MemorySink
from ivr.settings import MediaSettings, SipSettings, SourceLimitSettings
from ivr.worker import Worker


async def _hang_up(call: Call) -> None:
    await call.hangup()


async def main(port: int, tcp_idle_s: float) -> None:
    limits = SourceLimitSettings(tcp_idle_s=tcp_idle_s, tcp_message_s=tcp_idle_s)
    sip = SipSettings(host="127.0.0.1", port=port, limits=limits)
    media = MediaSettings(rtp_port_min=45000, rtp_port_max=45099)
    worker = Worker(sip=sip, media=media, on_call=_hang_up, sink=MemorySink())
    await worker.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the test closes our stdin
    await worker.stop()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
