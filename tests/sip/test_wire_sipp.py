"""The wire layer alone against a real peer: sipp's built-in UAC calls a bare UDP socket that
answers with `make_response`, `serialize` and `offer_answer.negotiate`; sipp must finish the
call."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest

from ivr.sip import offer_answer, sdp
from ivr.sip.message import (
    Request,
    SipMessage,
    make_response,
    parse,
    parse_name_addr,
    parse_via,
    serialize,
)
from ivr.sip.policy import check_request
from tests.support import need

SIPP_TIMEOUT_S = 15.0
RECV_TIMEOUT_S = 5.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def receive(sock: socket.socket) -> tuple[bytes, SipMessage, tuple[str, int]]:
    data, addr = sock.recvfrom(65535)
    return data, parse(data), addr


@pytest.mark.e2e
def test_sipp_uac_call_against_wire_layer() -> None:
    need(shutil.which("sipp"), "sipp is not installed")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(RECV_TIMEOUT_S)
    port = sock.getsockname()[1]
    command = [
        "sipp", "-sn", "uac", "-m", "1", "-d", "200", "-nostdin",
        "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
        "-timeout", f"{SIPP_TIMEOUT_S:.0f}s", "-timeout_error",
        f"127.0.0.1:{port}",
    ]  # fmt: skip
    sipp = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        raw, invite, peer = receive(sock)
        assert isinstance(invite, Request) and invite.method == "INVITE"
        assert check_request(invite) is None
        # sipp writes long-form headers but pads the Content-Length value with spaces: apart
        # from that padding the capture must survive byte for byte.
        assert serialize(invite) == re.sub(rb"Content-Length: +", b"Content-Length: ", raw)
        offer = sdp.parse(invite.body)
        answer = offer_answer.negotiate(offer, local_ip="127.0.0.1", local_port=free_udp_port())
        assert answer.codec.name == "PCMU"
        ok = make_response(
            invite,
            200,
            to_tag="wire1",
            headers=[("Contact", f"<sip:ivr@127.0.0.1:{port}>")],
            body=sdp.serialize(answer.description),
            content_type="application/sdp",
        )
        sock.sendto(serialize(ok), peer)

        _, ack, _ = receive(sock)
        while isinstance(ack, Request) and ack.method == "INVITE":  # retransmission
            sock.sendto(serialize(ok), peer)
            _, ack, _ = receive(sock)
        assert isinstance(ack, Request) and ack.method == "ACK"
        assert check_request(ack) is None
        assert parse_name_addr(ack.headers.get("To") or "").tag == "wire1"

        _, bye, _ = receive(sock)
        assert isinstance(bye, Request) and bye.method == "BYE"
        assert parse_via(bye.headers.get("Via") or "").branch
        sock.sendto(serialize(make_response(bye, 200)), peer)

        deadline = time.monotonic() + SIPP_TIMEOUT_S
        while sipp.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        stderr = sipp.stderr.read().decode(errors="replace") if sipp.stderr else ""
        assert sipp.returncode == 0, stderr[-2000:]
    finally:
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
        if sipp.stderr:
            sipp.stderr.close()
        sock.close()
