"""Acceptance: hostile SIP over real UDP. RFC 4475 torture messages each get the manifest's
handling; the 4527 PROTOS c07-sip datagrams crash and hang nothing; a normal call works after."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import socket
import tarfile
from pathlib import Path

import pytest

from ivr.call import Call
from ivr.channel import CallerHungUp
from ivr.sip.message import Response, SipParseError, parse
from tests.e2e.harness import run_sipp, start_ivr

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]

SCENARIOS = Path(__file__).parent / "scenarios"

# Final status a UAS-only IVR answers with; None = no answer (dropped). Derived from manifest.tsv.
EXPECTED: dict[str, set[int | None]] = {
    "wsinv.dat": {200, 488},
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


async def _exchange(sock: socket.socket, port: int, data: bytes, wait_s: float) -> list[int]:
    """Send one datagram; the statuses of the responses with the same Call-ID until a final."""
    loop = asyncio.get_running_loop()
    want = _call_id(data)
    sock.sendto(data, ("127.0.0.1", port))
    statuses: list[int] = []
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        try:
            reply = await asyncio.wait_for(loop.sock_recv(sock, 65536), deadline - loop.time())
        except TimeoutError:
            break
        try:
            msg = parse(reply)
        except SipParseError:
            continue
        if isinstance(msg, Response) and (want is None or _call_id(reply) == want):
            statuses.append(msg.status)
            if msg.status >= 200:
                break
    return statuses


async def test_rfc4475_messages_get_the_manifest_handling(sip_dir: Path) -> None:
    folder = sip_dir / "rfc4475"
    with (folder / "manifest.tsv").open(encoding="utf-8") as f:
        manifest = list(csv.DictReader(f, delimiter="\t"))
    files = [row["file"] for row in manifest if row["file"] != "test.dat"]
    assert set(files) == set(EXPECTED), "every manifest entry has an expectation here"
    ivr = await start_ivr(_idle)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    failures: list[str] = []
    try:
        for name in [*files, "test.dat"]:
            data = (folder / name).read_bytes()
            expected = EXPECTED.get(name)
            statuses = await _exchange(sock, ivr.port, data, 1.0 if expected != {None} else 0.4)
            final = next((s for s in statuses if s >= 200), None)
            if expected is not None and final not in expected:
                failures.append(f"{name}: got {statuses}, expected final in {expected}")
            if name == "dblreq.dat" and len([s for s in statuses if s >= 200]) > 1:
                failures.append("dblreq.dat: the trailing octets were processed")
        assert not failures, "\n".join(failures)
        result = await run_sipp(SCENARIOS / "options.xml", ivr.port, timeout_s=20)
        assert result.returncode == 0, result.stdout[-1500:]
    finally:
        sock.close()
        await ivr.worker.stop()


async def test_protos_corpus_over_udp_then_a_normal_call(sip_dir: Path, speech_dir: Path) -> None:
    archive = sip_dir / "protos-c07-sip-corpus.tar.xz"
    with tarfile.open(archive) as tar:
        cases = [
            tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in sorted(tar.getmembers(), key=lambda m: m.name)
            if m.isfile() and m.name.endswith(".bin")
        ]
    assert len(cases) == 4527
    # Short SIP timers so the calls these INVITEs open (never ACKed) are released quickly.
    ivr = await start_ivr(_idle, max_calls=3000, media_size=3000, timer_t1_ms=50)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    received = 0
    try:
        for i, data in enumerate(cases):
            sock.sendto(data, ("127.0.0.1", ivr.port))
            if i % 20 == 19:
                await asyncio.sleep(0.005)  # let the worker breathe, like a real sender
                while True:
                    try:
                        sock.recv(65536)
                        received += 1
                    except BlockingIOError:
                        break
        await asyncio.sleep(0.5)
        stats = ivr.worker.endpoint.stats
        assert stats.received >= 4527 - 5  # (UDP on loopback may drop a handful under load)
        assert received > 0
        # Still alive and answering: OPTIONS right away, then a whole call once the no-ACK
        # calls have timed out (64*T1 = 3.2 s here).
        options = await run_sipp(Path(__file__).parent / "scenarios" / "options.xml", ivr.port)
        assert options.returncode == 0, options.stdout[-1500:]
        await asyncio.sleep(4.0)
        call = await run_sipp(Path(__file__).parent / "scenarios" / "info.xml", ivr.port)
        assert call.returncode == 0, call.stdout[-1500:] + call.errors[-1500:]
    finally:
        sock.close()
        await ivr.worker.stop()
    _ = (loop, speech_dir)
