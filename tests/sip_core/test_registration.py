"""Outbound REGISTER with digest authentication against a registrar on a real UDP socket.

The registrar here checks the digest with its own hashlib code (RFC 2617), independent of
ivr/sip/auth.py."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from ivr.events import MemorySink
from ivr.settings import MediaSettings, RegisterSettings, SipSettings
from ivr.worker import Worker
from tests.e2e.harness import free_port, media_range

pytestmark = pytest.mark.asyncio
REALM = "pbx.tongdai.test"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Registrar(asyncio.DatagramProtocol):
    def __init__(self, password: str) -> None:
        self.password = password
        self.requests: list[str] = []
        self.verified = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode()
        self.requests.append(text)
        head = {}
        for line in text.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                head.setdefault(k.strip().lower(), v.strip())
        copy = "".join(
            f"{name}: {head[name.lower()]}\r\n" for name in ("Via", "From", "To", "Call-ID", "CSeq")
        )
        auth = head.get("authorization")
        if auth is None:
            reply = (
                "SIP/2.0 401 Unauthorized\r\n" + copy
                + f'WWW-Authenticate: Digest realm="{REALM}", nonce="abc123", qop="auth", '
                "algorithm=MD5\r\nContent-Length: 0\r\n\r\n"
            )  # fmt: skip
        else:
            p = dict(re.findall(r'(\w+)="?([^",]+)"?', auth))
            ha1 = _md5(f"{p['username']}:{REALM}:{self.password}")
            ha2 = _md5(f"REGISTER:{p['uri']}")
            expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
            if p["response"] == expected:
                self.verified += 1
                expires = head.get("expires", "0")
                contact = head["contact"]
                reply = (
                    "SIP/2.0 200 OK\r\n" + copy
                    + f"Contact: {contact};expires={min(int(expires), 60)}\r\n"
                    "Content-Length: 0\r\n\r\n"
                )  # fmt: skip
            else:
                reply = "SIP/2.0 403 Forbidden\r\n" + copy + "Content-Length: 0\r\n\r\n"
        assert self.transport is not None
        self.transport.sendto(reply.encode(), addr)


async def _worker(registrar_port: int, password: str) -> Worker:
    lo, hi = media_range(10)
    sip = SipSettings(
        host="127.0.0.1",
        port=free_port(),
        registration=RegisterSettings(
            registrar=f"sip:127.0.0.1:{registrar_port}",
            username="1900",
            password=password,
            expires_s=600,
        ),
    )

    async def on_call(call: object) -> None:
        return None

    worker = Worker(
        sip=sip,
        media=MediaSettings(rtp_port_min=lo, rtp_port_max=hi),
        on_call=on_call,  # type: ignore[arg-type]
        sink=MemorySink(),
    )
    await worker.start()
    return worker


async def _registrar(password: str) -> tuple[Registrar, asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: Registrar(password), local_addr=("127.0.0.1", 0)
    )
    return proto, transport, transport.get_extra_info("sockname")[1]


async def _until(check: object, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)


async def test_register_answers_the_challenge_and_unregisters_on_stop() -> None:
    registrar, transport, port = await _registrar("s3cret")
    worker = await _worker(port, "s3cret")
    try:
        reg = worker.endpoint.registration
        assert reg is not None
        await _until(lambda: reg.state.registered)
        assert reg.state.registered and reg.state.expires_s == 60
        assert registrar.verified == 1
        first, second = registrar.requests[:2]
        assert "Authorization" not in first and "Authorization: Digest" in second
        assert re.search(r"Contact: <sip:1900@127\.0\.0\.1:\d+;transport=udp>", second)
    finally:
        await worker.stop()
        transport.close()
    last = registrar.requests[-1]
    assert "Expires: 0" in last  # the binding is removed on shutdown
    assert registrar.verified == 2


async def test_wrong_password_is_not_registered_and_retries_later() -> None:
    registrar, transport, port = await _registrar("right")
    worker = await _worker(port, "wrong")
    try:
        reg = worker.endpoint.registration
        assert reg is not None
        await _until(lambda: reg.state.failures >= 1)
        assert not reg.state.registered
        assert reg.state.last_status == 403
        assert registrar.verified == 0
    finally:
        await worker.stop()
        transport.close()
