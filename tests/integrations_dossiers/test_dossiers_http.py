"""The HTTP dossier adapter against a real HTTP server process (onestop_server.py)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import DossierStatus, SourceUnavailable
from integrations.dossier_codes import lookup
from integrations.dossiers_db import DatabaseDossierSource
from integrations.dossiers_http import (
    BreakerState,
    CircuitBreaker,
    HttpDossierSource,
    build_dossier_source,
    map_status,
)
from integrations.settings import HttpDossierSettings, IntegrationSettings

SERVER = Path(__file__).with_name("onestop_server.py")
TOKEN = "s3cret-token"
CODE = "000.00.14.H56-200203-0118"
FIELD_MAP = {
    "code": "MaHoSo",
    "procedure_code": "MaThuTuc",
    "procedure_name": "TenThuTuc",
    "applicant_name": "ChuHoSo.HoTen",
    "phone": "ChuHoSo.SoDienThoai",
    "received_on": "NgayTiepNhan",
    "due_on": "NgayHenTra",
    "status": "TrangThai",
    "processing_unit": "DonViXuLy",
}
STATUS_MAP = {"MOI": 1, "DANG_XU_LY": 4, "CHO_BO_SUNG": 5, "DA_TRA_KET_QUA": 10}
STARTUP_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of a running stand-in API (one process for the module)."""
    proc = subprocess.Popen([sys.executable, str(SERVER), TOKEN], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints its port once it listens
        assert line.startswith("PORT "), f"server did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=STARTUP_TIMEOUT_S)


def set_mode(server: str, mode: str) -> None:
    httpx.post(f"{server}/_mode/{mode}").raise_for_status()


def requests_seen(server: str) -> int:
    return int(httpx.get(f"{server}/_stats").json()["requests"])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Records backoff waits instead of sleeping, so tests stay fast."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_source(server: str, **overrides: Any) -> tuple[HttpDossierSource, FakeClock, Sleeps]:
    values: dict[str, Any] = {
        "base_url": f"{server}/api",
        "token": TOKEN,
        "timeout_s": 0.4,
        "retries": 0,
        "backoff_s": 0.1,
        "breaker_failures": 3,
        "breaker_reset_s": 30.0,
        "cache_ttl_s": 0.0,
        "field_map": FIELD_MAP,
        "status_map": STATUS_MAP,
    }
    values.update(overrides)
    clock, sleeps = FakeClock(), Sleeps()
    source = HttpDossierSource(HttpDossierSettings(**values), clock=clock, sleep=sleeps)
    return source, clock, sleeps


async def test_normal_answers_are_mapped(server: str) -> None:
    set_mode(server, "normal")
    source, _, _ = make_source(server)
    dossier = await source.get(CODE)
    assert dossier is not None
    assert dossier.code == CODE
    assert dossier.status is DossierStatus.SUPPLEMENT_REQUIRED
    assert dossier.applicant_name == "Công ty TNHH Biển Xanh"
    assert dossier.phone == "0912345678"
    assert dossier.received_on == date(2020, 2, 3)
    assert dossier.due_on == date(2020, 3, 2)
    assert dossier.supplements[0].content == "Bổ sung bản vẽ mặt bằng"
    assert await source.get("000.00.14.H56-200203-9999") is None  # 404
    both = await source.find_by_tail("2002030118")
    assert [d.status for d in both] == [DossierStatus.SUPPLEMENT_REQUIRED, DossierStatus.RETURNED]
    narrowed = await lookup(source, "000*00*15*56*200203*0118#")
    assert [d.code for d in narrowed] == ["000.00.15.H56-200203-0118"]
    assert source.breaker.state is BreakerState.CLOSED
    await source.aclose()


async def test_answers_are_cached_for_the_ttl(server: str) -> None:
    set_mode(server, "normal")
    source, clock, _ = make_source(server, cache_ttl_s=60.0)
    before = requests_seen(server)
    assert await source.get(CODE) == await source.get(CODE)
    assert await source.get("000.00.14.H56-200203-9999") is None
    assert await source.get("000.00.14.H56-200203-9999") is None  # "not found" is cached too
    assert requests_seen(server) == before + 2
    clock.now += 60.0
    await source.get(CODE)
    assert requests_seen(server) == before + 3
    await source.aclose()


async def test_slow_answers_time_out_after_retries(server: str) -> None:
    set_mode(server, "slow")
    source, _, sleeps = make_source(server, timeout_s=0.3, retries=1)
    before = requests_seen(server)
    with pytest.raises(SourceUnavailable) as info:
        await source.get(CODE)
    assert info.value.reason == "timeout"
    assert sleeps.waits == [0.1]
    set_mode(server, "normal")
    assert requests_seen(server) == before + 2
    await source.aclose()


async def test_server_errors_are_retried_with_backoff(server: str) -> None:
    set_mode(server, "error500")
    source, _, sleeps = make_source(server, retries=2)
    before = requests_seen(server)
    with pytest.raises(SourceUnavailable) as info:
        await source.find_by_tail("2002030118")
    assert info.value.reason == "http-500"
    assert requests_seen(server) == before + 3
    assert sleeps.waits == [0.1, 0.2]
    await source.aclose()


async def test_one_failure_then_success_is_hidden_by_a_retry(server: str) -> None:
    set_mode(server, "flaky")
    source, _, sleeps = make_source(server, retries=1)
    dossier = await source.get(CODE)
    assert dossier is not None and dossier.code == CODE
    assert sleeps.waits == [0.1]
    await source.aclose()


async def test_malformed_json_is_not_retried(server: str) -> None:
    set_mode(server, "malformed")
    source, _, sleeps = make_source(server, retries=2)
    before = requests_seen(server)
    with pytest.raises(SourceUnavailable) as info:
        await source.get(CODE)
    assert info.value.reason == "malformed-reply"
    assert requests_seen(server) == before + 1 and sleeps.waits == []
    await source.aclose()


async def test_unknown_status_codes_do_not_trip_the_breaker(server: str) -> None:
    set_mode(server, "unknown")
    source, _, _ = make_source(server, breaker_failures=2)
    for _ in range(4):
        with pytest.raises(SourceUnavailable) as info:
            await source.get(CODE)
        assert info.value.reason == "unknown-status"
        assert "TRANG_THAI_MOI_99" in info.value.detail
    assert source.breaker.state is BreakerState.CLOSED
    await source.aclose()


async def test_a_wrong_token_is_reported_and_not_retried(server: str) -> None:
    set_mode(server, "normal")
    source, _, sleeps = make_source(server, token="wrong", retries=2)
    with pytest.raises(SourceUnavailable) as info:
        await source.get(CODE)
    assert info.value.reason == "http-401" and sleeps.waits == []
    await source.aclose()


async def test_an_unreachable_api(server: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        source, _, _ = make_source(f"http://127.0.0.1:{port}", retries=1)
        with pytest.raises(SourceUnavailable) as info:
            await source.get(CODE)
    assert info.value.reason == "unreachable"
    await source.aclose()


async def test_breaker_opens_then_half_opens_and_closes(server: str) -> None:
    set_mode(server, "error500")
    source, clock, _ = make_source(server, breaker_failures=3, breaker_reset_s=30.0)
    for _ in range(3):
        with pytest.raises(SourceUnavailable, match="http-500"):
            await source.get(CODE)
    assert source.breaker.state is BreakerState.OPEN
    before = requests_seen(server)
    with pytest.raises(SourceUnavailable) as info:
        await source.get(CODE)
    assert info.value.reason == "breaker-open"
    assert requests_seen(server) == before  # an open breaker sends nothing

    clock.now += 31.0  # half-open: one trial goes through, fails, and reopens at once
    with pytest.raises(SourceUnavailable, match="http-500"):
        await source.get(CODE)
    assert source.breaker.state is BreakerState.OPEN
    with pytest.raises(SourceUnavailable, match="breaker-open"):
        await source.get(CODE)

    set_mode(server, "normal")
    clock.now += 29.0
    with pytest.raises(SourceUnavailable, match="breaker-open"):
        await source.get(CODE)  # not yet
    clock.now += 2.0
    assert await source.get(CODE) is not None  # the trial succeeds: closed again
    assert source.breaker.state is BreakerState.CLOSED
    assert await source.get(CODE) is not None
    await source.aclose()


def test_half_open_lets_a_single_trial_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failures=1, reset_s=5.0, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5.0
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # a second caller waits for the trial's verdict
    breaker.record_success()
    assert breaker.allow() and breaker.allow()


def test_status_mapping() -> None:
    assert map_status("CHO_BO_SUNG", STATUS_MAP) is DossierStatus.SUPPLEMENT_REQUIRED
    assert map_status("XYZ", STATUS_MAP) is None
    assert map_status(4, {}) is DossierStatus.PROCESSING
    assert map_status("10", {}) is DossierStatus.RETURNED
    assert map_status(11, {}) is None
    assert map_status(True, {}) is None
    assert map_status(None, {}) is None
    assert map_status("4", {"4": 99}) is None


def test_source_selection(factory: sessionmaker[Session], server: str) -> None:
    assert isinstance(build_dossier_source(IntegrationSettings(), factory), DatabaseDossierSource)
    http = IntegrationSettings(dossier_source="http", http=HttpDossierSettings(base_url=server))
    assert isinstance(build_dossier_source(http, factory), HttpDossierSource)
    with pytest.raises(ValueError, match="unknown dossier_source"):
        build_dossier_source(IntegrationSettings(dossier_source="ftp"), factory)
    with pytest.raises(ValueError, match="base_url"):
        HttpDossierSource(HttpDossierSettings())


async def test_a_cancelled_trial_does_not_wedge_the_breaker(server: str) -> None:
    set_mode(server, "error500")
    source, clock, _ = make_source(server, breaker_failures=1, timeout_s=1.0)
    with pytest.raises(SourceUnavailable, match="http-500"):
        await source.get(CODE)
    clock.now += 31.0
    set_mode(server, "slow")
    with pytest.raises(TimeoutError):  # the caller's own deadline cancels the half-open trial
        await asyncio.wait_for(source.get(CODE), 0.2)
    set_mode(server, "normal")
    assert await source.get(CODE) is not None
    assert source.breaker.state is BreakerState.CLOSED
    await source.aclose()
