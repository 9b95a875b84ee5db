"""Key-to-ring latency: a caller presses 0 and the registered officer's phone is INVITEd.

The whole hotline as ``make run`` builds it (the default menu tree, the sample database, the
call log, espeak-ng prompts, the registrar and the bridge; tests/e2e/hotline_fixture), officer
1001 of the hotline's own department registered from a real baresip (digest, auto-answer).
``--calls`` sipp callers one after the other: each presses 0 two seconds into the greeting
(an RFC 4733 event), is queued, its officer rung and bridged, and hangs up two seconds after
the key. Before each call the officer is made available again (no wrap-up wait in the figure).

Measured on the wire (tcpdump on lo, kernel times): from the first packet of the caller's key
event to the INVITE leaving for the officer's phone; beside it what the process saw (the key
as the dialog received it to the dial starting). Printed p50 / p95 / max; the goal is ring
within 300 ms p95 of the key. Timings are printed, never asserted.

    TONGDAI_TESTDATA=../shared/testdata .venv/bin/python -m bench.key_to_ring [--calls 20]

Needs sipp, baresip and tcpdump (Debian sip-tester, baresip, tcpdump) and root (tcpdump).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script by make bench
from bench.calls import Capture, udp_packets
from db import create_engine_from_url, session_factory, unit_of_work
from integrations.officers import save_officer
from ivr.events import DigitReceived
from ivr.queue.model import OfficerState
from ivr.queue.store_db import DbQueueStore
from tests.e2e.harness import dtmf_scenario, run_sipp
from tests.e2e.hotline_fixture import prepare_database, serve_officers, start_hotline
from tests.officers.phones import officer_phone

PASSWORD = "b1m4t-1001"
KEY_AFTER_MS = 2000
HANG_UP_AFTER_KEY_MS = 2000
EVENT_PT = 101  # sipp's RFC 2833 pcaps


def key_to_invite_ms(pcap: Path, sip_port: int) -> list[float]:
    """For each INVITE our SIP port sent, the time since the latest key event started (the
    first RTP packet of an RFC 4733 event, marker bit set) before it."""
    key_at: float | None = None
    delays: list[float] = []
    for when, sport, _, data, start, end in udp_packets(pcap):
        if sport == sip_port:
            if data[start:end].startswith(b"INVITE ") and key_at is not None:
                delays.append(1000 * (when - key_at))
                key_at = None
            continue
        if end - start >= 12 and data[start] >> 6 == 2:  # RTP version 2
            marker, payload_type = data[start + 1] >> 7, data[start + 1] & 0x7F
            if payload_type == EVENT_PT and marker:
                key_at = when
    return delays


def closed(officer: object) -> int:
    """Calls the officer's baresip has seen end."""
    return sum(e.type == "CALL_CLOSED" for e in officer.events)  # type: ignore[attr-defined]


def spread(values: list[float]) -> str:
    if not values:
        return "none measured"
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 / p95 / max {p50:.1f} / {p95:.1f} / {max(values):.1f} ms ({len(values)} calls)"


async def run(calls: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-key-to-ring-"))
    url = prepare_database(workdir / "hotline.db")
    engine = create_engine_from_url(url)
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        save_officer(
            session, department_id="tong-dai", name="Nguyễn Văn An", extension="1001",
            realm="tongdai", sip_password=PASSWORD,
        )  # fmt: skip
    running = await start_hotline(url, workdir / "prompts")
    hotline = running.hotline
    assert hotline.registrar is not None and hotline.bridge is not None
    serve_officers(running)
    queue = DbQueueStore(factory)
    capture = Capture(
        workdir / "wire.pcap", (0, 0), [], [], snaplen=256,
        bpf=f"udp and (src port {running.port} or udp[9] & 0x7f = {EVENT_PT})",
    )  # fmt: skip
    scenario = dtmf_scenario(
        workdir / "zero.xml", [(KEY_AFTER_MS, "0")], hangup_after_ms=HANG_UP_AFTER_KEY_MS
    )
    failed = unrung = 0
    seen: list[float] = []
    try:
        async with officer_phone(running.port, "1001", PASSWORD, answer="auto") as officer:
            await officer.wait_sip("SIP/2.0 200", "REGISTER", 10)
            await asyncio.to_thread(capture.start)
            for n in range(calls):
                await queue.set_state("1001", "tong-dai", OfficerState.AVAILABLE, now=time.time())
                keys_before = len(running.sink.of(DigitReceived))
                result = await run_sipp(scenario, running.port, timeout_s=30)
                failed += result.returncode != 0
                # the officer's leg ends after the caller's BYE: wait for it before the next
                deadline = time.monotonic() + 10
                while closed(officer) <= n and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                zero = [
                    e
                    for e in running.sink.of(DigitReceived)[keys_before:]
                    if e.digit == "0"  # type: ignore[attr-defined]
                ]
                if zero and len(hotline.bridge.dialled_at) == len(seen) + 1:
                    seen.append(1000 * (hotline.bridge.dialled_at[-1] - zero[0].at.timestamp()))
                else:
                    unrung += 1
            await asyncio.to_thread(capture.stop)
    finally:
        await running.stop()
        engine.dispose()
    wire = key_to_invite_ms(capture.path, running.port)
    print(f"calls {calls}, sipp failures {failed}, calls whose key rang nobody {unrung}")
    print(f"key -> INVITE on the wire: {spread(wire)}")
    print(f"key received -> dial started, in the process: {spread(seen)}")
    answers = [1000 * s for s in hotline.bridge.ring_times_s]
    print(f"officer INVITE -> 200 (baresip answers at once): {spread(answers)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.calls))


if __name__ == "__main__":
    main()
