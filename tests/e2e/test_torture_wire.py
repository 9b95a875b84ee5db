"""Acceptance: hostile SIP over real UDP. RFC 4475 torture messages each get the manifest's
handling; the 4527 PROTOS c07-sip datagrams crash and hang nothing; a normal call works after."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import re
import socket
import tarfile
from pathlib import Path

import pytest

from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.settings import SourceLimitSettings
from tests.e2e.harness import Capture, run_sipp, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

SCENARIOS = Path(__file__).parent / "scenarios"

# Final status a UAS-only IVR answers with; None = no answer (dropped). Derived from manifest.tsv.
EXPECTED: dict[str, set[int | None]] = {
    "wsinv.dat": {200, 488, 481},  # it carries a To tag: no such dialog
    "intmeth.dat": {405, 501},
    "esc01.dat": {200, 488},
    "escnull.dat": {405, 501},
    "esc02.dat": {405, 501},
    "lwsdisp.dat": {200},
    "longreq.dat": {200, 488},
    "dblreq.dat": {405, 501},
    "semiuri.dat": {200},
    "transports.dat": {200},
    "mpart01.dat": {405, 501},
    "unreason.dat": {None},
    "noreason.dat": {None},
    "badinv01.dat": {400, None},
    "clerr.dat": {400, None},
    "ncl.dat": {400, None},
    "scalar02.dat": {400},
    "scalarlg.dat": {None},
    "quotbal.dat": {400, None},
    "ltgtruri.dat": {400, None},
    "lwsruri.dat": {400, None},
    "lwsstart.dat": {400, None},
    "trws.dat": {400, 200},
    "escruri.dat": {400},
    "baddate.dat": {400, 200, 488},
    "regbadct.dat": {400, 405, 501},
    "badaspec.dat": {400, 200},
    "baddn.dat": {400, 200},
    "badvers.dat": {505},
    "mismatch01.dat": {400},
    "mismatch02.dat": {400},
    "bigcode.dat": {None},
    "badbranch.dat": {200},
    "insuf.dat": {400, None},
    "unkscm.dat": {416},
    "novelsc.dat": {416},
    "unksm2.dat": {405, 501},
    "bext01.dat": {420},
    "invut.dat": {415},
    "regaut01.dat": {405, 501, 403},
    "multi01.dat": {400},
    "mcl01.dat": {400},
    "bcast.dat": {None},
    "zeromf.dat": {200},
    "cparam01.dat": {405, 501},
    "cparam02.dat": {405, 501},
    "regescrt.dat": {405, 501},
    "sdp01.dat": {406},
    "inv2543.dat": {200, 488},
}


async def _idle(call: Call) -> None:
    with contextlib.suppress(CallerHungUp):
        while await call.next_digit(60) is not None:
            pass


def _call_id(data: bytes) -> bytes | None:
    for line in data.split(b"\r\n"):
        low = line.lower()
        if low.startswith(b"call-id:") or low.startswith(b"i:"):
            return line.split(b":", 1)[1].strip()
    return None


async def test_rfc4475_messages_get_the_manifest_handling(sip_dir: Path) -> None:
    folder = sip_dir / "rfc4475"
    with (folder / "manifest.tsv").open(encoding="utf-8") as f:
        manifest = list(csv.DictReader(f, delimiter="\t"))
    files = [row["file"] for row in manifest if row["file"] != "test.dat"]
    assert set(files) == set(EXPECTED), "every manifest entry has an expectation here"
    ivr = await start_ivr(_idle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    call_ids: dict[str, bytes | None] = {}
    try:
        # Responses go where each message's Via says (RFC 3261 §18.2.2: the source address,
        # the Via port), so they are read off the wire rather than from our socket.
        async with Capture(f"udp and src port {ivr.port}") as cap:
            for name in [*files, "test.dat"]:
                data = (folder / name).read_bytes()
                call_ids[name] = _call_id(data)
                sock.sendto(data, ("127.0.0.1", ivr.port))
                await asyncio.sleep(0.15)
            await asyncio.sleep(0.5)
        by_call: dict[bytes, list[int]] = {}
        for _, _, _, payload in cap.udp_packets():
            # the status line is read directly: some echo overlarge values our parser refuses
            status = re.match(rb"SIP/2\.0 (\d{3}) ", payload)
            cid = _call_id(payload)
            if status and cid is not None:
                by_call.setdefault(cid, []).append(int(status.group(1)))
        failures: list[str] = []
        for name in files:
            cid = call_ids[name]
            statuses = by_call.get(cid, []) if cid is not None else []
            finals = [s for s in statuses if s >= 200]
            final = finals[0] if finals else None
            if final not in EXPECTED[name]:
                failures.append(f"{name}: got {statuses}, expected final in {EXPECTED[name]}")
            if name == "dblreq.dat" and len(set(finals)) > 1:
                failures.append("dblreq.dat: the trailing octets were processed")
        assert not failures, "\n".join(failures)
        # The worker lives on: a normal exchange and a normal call succeed afterwards.
        result = await run_sipp(SCENARIOS / "options.xml", ivr.port, timeout_s=20)
        assert result.returncode == 0, result.stdout[-1500:]
        call = await run_sipp(SCENARIOS / "info.xml", ivr.port, timeout_s=20)
        assert call.returncode == 0, call.stdout[-1500:]
    finally:
        sock.close()
        await ivr.worker.stop()


async def _probe(sock: socket.socket, port: int, n: int, timeout_s: float = 10.0) -> bool:
    """Send an OPTIONS (retransmitted like a SIP client's, Timer E) and wait for its 200:
    proves the worker still answers after everything sent before it."""
    loop = asyncio.get_running_loop()
    local = sock.getsockname()[1]
    call_id = f"probe-{n}@127.0.0.1".encode()
    request = (
        b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-probe-%d;rport\r\n"
        b"From: <sip:probe@127.0.0.1>;tag=p%d\r\nTo: <sip:hotline@127.0.0.1>\r\n"
        b"Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        % (local, n, n, call_id)
    )
    deadline = loop.time() + timeout_s
    interval = 0.5
    while loop.time() < deadline:
        sock.sendto(request, ("127.0.0.1", port))
        resend_at = min(deadline, loop.time() + interval)
        interval = min(interval * 2, 4.0)
        while loop.time() < resend_at:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65536), resend_at - loop.time())
            except TimeoutError:
                break
            if _call_id(data) == call_id and data.startswith(b"SIP/2.0 200"):
                return True
    return False


async def test_protos_corpus_over_udp_then_a_normal_call(sip_dir: Path) -> None:
    archive = sip_dir / "protos-c07-sip-corpus.tar.xz"
    with tarfile.open(archive, "r|xz") as tar:  # streamed: no seeking in the xz stream
        cases = [
            tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.isfile() and m.name.endswith(".bin")
        ]
    assert len(cases) == 4527
    # Short SIP timers so the calls these INVITEs open (never ACKed) are released quickly. The
    # corpus is fired as fast as the worker answers, as if through a proxy in front: exempt
    # from the per-source flood limits (tests/e2e/test_source_limits.py covers those).
    limits = SourceLimitSettings(exempt=["127.0.0.1"])
    ivr = await start_ivr(_idle, max_calls=3000, media_size=3000, timer_t1_ms=50, limits=limits)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        for start in range(0, len(cases), 20):
            for data in cases[start : start + 20]:
                sock.sendto(data, ("127.0.0.1", ivr.port))
            # every 20 datagrams the worker must still answer: no crash, no hang
            assert await _probe(sock, ivr.port, start), f"no answer after case {start + 19}"
        stats = ivr.worker.endpoint.stats
        assert stats.received >= 4527
        assert stats.malformed > 500  # the parser refused the broken ones ...
        assert stats.rejected.get(400, 0) > 500  # ... and answered 400 where it could
        await asyncio.sleep(4.0)  # the unACKed calls time out (64*T1 = 3.2 s here)
        call = await run_sipp(SCENARIOS / "info.xml", ivr.port)
        assert call.returncode == 0, call.stdout[-1500:] + call.errors[-1500:]
    finally:
        sock.close()
        await ivr.worker.stop()
