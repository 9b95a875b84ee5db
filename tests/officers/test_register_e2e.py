"""baresip registers to a real worker as an officer: digest over UDP, bindings in the database."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.call import Call
from ivr.officer_settings import RegistrarSettings
from ivr.registrar_db import DbRegistry
from ivr.sip.registrar import Registrar
from tests.e2e.harness import RunningIvr, start_ivr
from tests.officers.conftest import PASSWORD, REALM
from tests.officers.phones import officer_phone

pytestmark = pytest.mark.e2e
ASCII_PASSWORD = "b1m4t-1001"


class OffsetClock:
    """Wall time plus an offset a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def _hang_up(call: Call) -> None:
    await call.hangup()


async def serve(
    factory: sessionmaker[Session], clock: OffsetClock, **settings: object
) -> tuple[RunningIvr, DbRegistry]:
    registry = DbRegistry(factory, realm=REALM)
    ivr = await start_ivr(_hang_up)
    # baresip 1.0 (libre) abandons a registration when any challenge is SHA-256: MD5 only.
    registrar = Registrar(
        RegistrarSettings(realm=REALM, digest_algorithms=["MD5"], **settings),  # type: ignore[arg-type]
        credentials=registry,
        store=registry,
        clock=clock,
    )
    ivr.worker.endpoint.registrar = registrar.handle
    return ivr, registry


def set_password(factory: sessionmaker[Session], password: str) -> None:
    from db import unit_of_work
    from integrations.officers import save_officer

    with unit_of_work(factory) as session:
        save_officer(
            session,
            department_id="so-cong-thuong",
            name="Nguyễn Văn An",
            extension="1001",
            realm=REALM,
            sip_password=password,
        )


async def test_baresip_registers_expires_and_unregisters(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    _, factory = database
    assert PASSWORD  # the fixture's officer; baresip's account file wants ASCII
    set_password(factory, ASCII_PASSWORD)
    clock = OffsetClock()
    ivr, registry = await serve(factory, clock)
    try:
        async with officer_phone(ivr.port, "1001", ASCII_PASSWORD) as phone:
            await phone.wait_sip("SIP/2.0 200", "REGISTER", 10)
            (binding,) = await registry.bindings("1001", now=clock())
            assert binding.contact.startswith("sip:1001-")  # baresip's per-instance user part
            assert binding.contact.endswith(f"@127.0.0.1:{phone.sip_port}")
            assert binding.source == f"udp:127.0.0.1:{phone.sip_port}"
            assert 590 <= binding.expires_at - time.time() <= 600
            statuses = [m.first_line for m in phone.sip_messages() if m.method == "REGISTER"]
            assert statuses[:2] == [
                f"REGISTER sip:127.0.0.1:{ivr.port};transport=udp SIP/2.0",
                "SIP/2.0 401 Unauthorized",
            ]
            assert "SIP/2.0 200 OK" in statuses
            clock.offset = 601  # the phone fell silent for longer than its registration
            assert await registry.bindings("1001", now=clock()) == []
            clock.offset = 0
        # baresip unregisters (Expires: 0) when it shuts down
        assert await registry.bindings("1001", now=clock()) == []
    finally:
        await ivr.worker.stop()


@pytest.mark.parametrize(("user", "password"), [("1001", "sai-mat-khau"), ("9999", "x")])
async def test_wrong_password_and_unknown_user_fail(
    database: tuple[str, sessionmaker[Session]], user: str, password: str
) -> None:
    _, factory = database
    set_password(factory, ASCII_PASSWORD)
    clock = OffsetClock()
    ivr, registry = await serve(factory, clock)
    try:
        async with officer_phone(ivr.port, user, password) as phone:
            await phone.wait_sip("SIP/2.0 403", "REGISTER", 10)
            finals = [
                m.first_line
                for m in phone.sip_messages()
                if m.method == "REGISTER" and not m.is_request
            ]
            assert finals[:2] == [
                "SIP/2.0 401 Unauthorized",
                "SIP/2.0 403 Forbidden (wrong credentials)",
            ]
        assert await registry.bindings(user, now=clock()) == []
    finally:
        await ivr.worker.stop()


async def test_register_flood_is_banned_and_others_still_register(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    _, factory = database
    set_password(factory, ASCII_PASSWORD)
    clock = OffsetClock()
    ivr, _ = await serve(factory, clock, ban_failures=3)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.0.2", 0))
    flood.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        port = flood.getsockname()[1]
        answers: list[str] = []
        for n in range(40):
            request = (
                f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.2:{port};branch=z9hG4bK-flood-{n}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=f{n}\r\n"
                f"To: <sip:1001@127.0.0.1>\r\nCall-ID: flood-{n}@127.0.0.2\r\n"
                f"CSeq: 1 REGISTER\r\nContact: <sip:1001@127.0.0.2:{port}>\r\n"
                f"Content-Length: 0\r\n\r\n"
            )
            await loop.sock_sendto(flood, request.encode(), ("127.0.0.1", ivr.port))
            data = await asyncio.wait_for(loop.sock_recv(flood, 4096), 2)
            answers.append(data.split(b"\r\n", 1)[0].decode())
        assert answers[:12] == ["SIP/2.0 401 Unauthorized"] * 12  # 4 × ban_failures challenges
        assert set(answers[12:]) == {"SIP/2.0 403 Forbidden (too many failed attempts)"}
        async with officer_phone(ivr.port, "1001", ASCII_PASSWORD) as phone:
            await phone.wait_sip("SIP/2.0 200", "REGISTER", 10)  # 127.0.0.1 is not banned
    finally:
        flood.close()
        await ivr.worker.stop()
