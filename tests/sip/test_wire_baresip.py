"""The wire layer alone against a real softphone: baresip dials a bare UDP socket; its INVITE
must round-trip byte for byte, our 200 (built by `make_response`, SDP by
`offer_answer.negotiate`) must be ACKed, and the BYE we build by hand must be answered 200."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from ivr.sip import offer_answer, sdp
from ivr.sip.message import (
    Headers,
    Request,
    Response,
    SipMessage,
    make_response,
    parse,
    parse_cseq,
    parse_name_addr,
    serialize,
)
from ivr.sip.policy import check_request, check_response
from tests.support import need

BARESIP_MODULES = Path("/usr/lib/baresip/modules")
BARESIP_LIFETIME_S = 15
RECV_TIMEOUT_S = 8.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def baresip_config(folder: Path, sip_port: int) -> None:
    """A headless baresip: sine-wave microphone, file speaker, no registration."""
    modules = ["g711", "ausine", "aufile", "account", "menu"]
    lines = [
        "poll_method poll",
        f"sip_listen 127.0.0.1:{sip_port}",
        "audio_source ausine,440",
        f"audio_player aufile,{folder / 'heard.wav'}",
        f"audio_alert aufile,{folder / 'alert.wav'}",
        f"module_path {BARESIP_MODULES}",
        *(f"module {name}.so" for name in modules),
    ]
    (folder / "config").write_text("\n".join(lines) + "\n")
    (folder / "accounts").write_text("<sip:tester@127.0.0.1>;regint=0\n")


def next_request(sock: socket.socket, method: str) -> tuple[bytes, Request, tuple[str, int]]:
    """The next request of `method`, skipping retransmissions of earlier ones."""
    while True:
        data, addr = sock.recvfrom(65535)
        msg: SipMessage = parse(data)
        if isinstance(msg, Request) and msg.method == method:
            return data, msg, addr


def next_response(sock: socket.socket) -> Response:
    while True:
        msg = parse(sock.recvfrom(65535)[0])
        if isinstance(msg, Response):
            return msg


@pytest.mark.e2e
def test_baresip_call_against_wire_layer(tmp_path: Path) -> None:
    need(shutil.which("baresip") and BARESIP_MODULES.is_dir(), "baresip is not installed")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(RECV_TIMEOUT_S)
    port = sock.getsockname()[1]
    baresip_config(tmp_path, free_udp_port())
    phone = subprocess.Popen(
        ["baresip", "-f", str(tmp_path), "-t", str(BARESIP_LIFETIME_S),
         "-e", f"/dial sip:1900@127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        raw, invite, peer = next_request(sock, "INVITE")
        assert serialize(invite) == raw  # a real softphone's INVITE, byte for byte
        assert check_request(invite) is None
        offer = sdp.parse(invite.body)
        assert sdp.serialize(offer) == invite.body
        answer = offer_answer.negotiate(offer, local_ip="127.0.0.1", local_port=free_udp_port())
        assert answer.codec.name in ("PCMU", "PCMA") and answer.dtmf_payload_type is not None

        contact = f"<sip:ivr@127.0.0.1:{port}>"
        ok = make_response(
            invite,
            200,
            to_tag="wire2",
            headers=[("Contact", contact)],
            body=sdp.serialize(answer.description),
            content_type="application/sdp",
        )
        sock.sendto(serialize(ok), peer)
        _, ack, _ = next_request(sock, "ACK")
        assert check_request(ack) is None
        assert parse_name_addr(ack.headers.get("To") or "").tag == "wire2"

        # Hang up from our side: a BYE inside the dialog, built from the wire API only.
        bye = Request(
            "BYE",
            parse_name_addr(invite.headers.get("Contact") or "").uri,
            Headers(
                [
                    ("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKwire2bye;rport"),
                    ("Max-Forwards", "70"),
                    ("From", ok.headers.get("To") or ""),
                    ("To", invite.headers.get("From") or ""),
                    ("Call-ID", invite.headers.get("Call-ID") or ""),
                    ("CSeq", "1 BYE"),
                ]
            ),
        )
        sock.sendto(serialize(bye), peer)
        reply = next_response(sock)
        assert reply.status == 200 and check_response(reply) is None
        assert parse_cseq(reply.headers.get("CSeq") or "") == (1, "BYE")
    finally:
        # baresip lingers for seconds on SIGTERM while its SIP stack drains; the call is over
        # and nothing of it is checked after this point, so it is killed outright.
        phone.kill()
        phone.wait()
        sock.close()
