"""Dossier status from a provincial one-stop / integration-platform HTTP API.

The API is expected to answer (paths relative to ``base_url``, bearer ``token``):

* ``GET dossiers/{code}``: 200 with one JSON object, or 404 when there is no such dossier;
* ``GET dossiers?tail=YYMMDDXXXX``: 200 with a JSON array (or an object whose ``items`` or
  ``data`` is the array).

Field names differ between platforms: ``field_map`` maps tongdai's names (those of
:mod:`integrations.dossier_import`) to the API's, with dots for nested keys, e.g.
``{"code": "MaHoSo", "status": "TrangThaiHoSo", "received_on": "NgayTiepNhan"}``.
``status_map`` maps the API's status values to the national codes 1-10; without one, the API
must send those codes.

Documented behaviour, each a :class:`~integrations.base.SourceUnavailable` with a stable reason:

==============================  =====================  ========  ====================
What happens                    reason                 retried   counts for breaker
==============================  =====================  ========  ====================
no answer in ``timeout_s``      ``timeout``            yes       yes
connection refused / reset      ``unreachable``        yes       yes
HTTP 5xx                        ``http-5xx`` (code)    yes       yes
HTTP 4xx other than 404         ``http-4xx`` (code)    no        yes
body is not the JSON expected   ``malformed-reply``    no        yes
a status not in ``status_map``  ``unknown-status``     no        no (the API is up)
a record missing a field        ``malformed-record``   no        no
breaker open                    ``breaker-open``       no request is made
==============================  =====================  ========  ====================

Retries wait ``backoff_s``, then twice that, and so on. The breaker opens after
``breaker_failures`` failed lookups in a row, lets one trial lookup through after
``breaker_reset_s`` (half-open), and closes on its success. Answers, including "not found",
are cached for ``cache_ttl_s``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import Dossier, DossierSource, DossierStatus, SourceUnavailable
from integrations.dossier_codes import DossierCodeError, normalize_code
from integrations.dossier_import import RecordError, dossier_from_record
from integrations.dossiers_db import DatabaseDossierSource
from integrations.settings import HttpDossierSettings, IntegrationSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
CACHE_MAX_ENTRIES = 10_000


class BreakerState(enum.StrEnum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Stops calling a failing API for a while, then tries one request before trusting it again.

    ``clock`` returns seconds (monotonic); tests inject their own.
    """

    def __init__(self, failures: int, reset_s: float, clock: Clock = time.monotonic) -> None:
        self._threshold = max(1, failures)
        self._reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self.state = BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether a request may go out now (in half-open, only one at a time)."""
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self._reset_s:
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_running = False
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_running:
                return False
            self._trial_running = True
        return True

    def record_success(self) -> None:
        """The API answered: close."""
        if self.state is not BreakerState.CLOSED:
            log.info("dossier API breaker closed")
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._trial_running = False

    def record_failure(self) -> None:
        """The API failed: count, and open at the threshold (at once when half-open)."""
        self._failures += 1
        self._trial_running = False
        if self.state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            if self.state is not BreakerState.OPEN:
                log.warning("dossier API breaker open after %d failures", self._failures)
            self.state = BreakerState.OPEN
            self._opened_at = self._clock()

    def release(self) -> None:
        """A permitted request ended with neither verdict (e.g. a bad record): free the trial."""
        self._trial_running = False


class TtlCache:
    """A small cache whose entries expire ``ttl_s`` after they were stored."""

    def __init__(self, ttl_s: float, clock: Clock, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` when a fresh entry exists, else ``(False, None)``."""
        item = self._items.get(key)
        if item is None:
            return False, None
        stored_at, value = item
        if self._clock() - stored_at >= self._ttl_s:
            del self._items[key]
            return False, None
        return True, value

    def put(self, key: str, value: Any) -> None:
        """Store ``value``; the oldest entry goes when the cache is full."""
        if self._ttl_s <= 0:
            return
        self._items[key] = (self._clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)


class _Failure(Exception):
    def __init__(self, reason: str, detail: str = "", *, retry: bool, counts: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.retry = retry
        self.counts = counts


class HttpDossierSource:
    """A :class:`~integrations.base.DossierSource` over a provincial one-stop HTTP API."""

    name = "dossier-api"

    def __init__(
        self,
        settings: HttpDossierSettings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not settings.base_url:
            raise ValueError("integrations.http.base_url is not set")
        self._settings = settings
        headers = {"Accept": "application/json"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        self._client = client or httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s),
        )
        self._sleep = sleep
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s, clock)
        self._cache = TtlCache(settings.cache_ttl_s, clock)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    async def get(self, code: str) -> Dossier | None:
        """The dossier with this code, or None when the API says 404."""
        code = normalize_code(code)
        key = "code:" + code
        hit, value = self._cache.get(key)
        if hit:
            return value  # type: ignore[no-any-return]
        body = await self._request(f"dossiers/{quote(code, safe='')}", {})
        dossier = None if body is None else self._record(body)
        self._cache.put(key, dossier)
        return dossier

    async def find_by_tail(self, tail: str) -> list[Dossier]:
        """Dossiers whose code ends with ``tail`` (``YYMMDDXXXX``)."""
        if len(tail) != 10 or not tail.isdigit():
            return []
        key = "tail:" + tail
        hit, value = self._cache.get(key)
        if hit:
            return list(value)
        body = await self._request("dossiers", {"tail": tail})
        if body is None:  # 404 on a search: nothing found
            items: Any = []
        elif isinstance(body, dict):
            items = body.get("items", body.get("data"))
        else:
            items = body
        if not isinstance(items, list):
            self.breaker.record_failure()
            raise SourceUnavailable(self.name, "malformed-reply", "expected a list of dossiers")
        dossiers = [self._record(item) for item in items]
        self._cache.put(key, tuple(dossiers))
        return dossiers

    async def _request(self, path: str, params: Mapping[str, str]) -> Any:
        """The decoded JSON body, or None for a 404; retries, breaker bookkeeping."""
        if not self.breaker.allow():
            raise SourceUnavailable(self.name, "breaker-open")
        attempts = 1 + max(0, self._settings.retries)
        try:
            for attempt in range(attempts):
                try:
                    body = await self._once(path, params)
                except _Failure as failure:
                    if failure.retry and attempt + 1 < attempts:
                        await self._sleep(self._settings.backoff_s * 2**attempt)
                        continue
                    if failure.counts:
                        self.breaker.record_failure()
                    raise SourceUnavailable(self.name, failure.reason, failure.detail) from None
                self.breaker.record_success()
                return body
            raise AssertionError("unreachable")  # the loop always returns or raises
        finally:
            # Cancelled by the caller's own deadline, or no verdict: never leave a half-open
            # breaker waiting for a trial that will not report.
            self.breaker.release()

    async def _once(self, path: str, params: Mapping[str, str]) -> Any:
        try:
            response = await self._client.get(path, params=dict(params))
        except httpx.TimeoutException:
            raise _Failure("timeout", retry=True, counts=True) from None
        except httpx.HTTPError as exc:
            raise _Failure("unreachable", type(exc).__name__, retry=True, counts=True) from None
        if response.status_code == 404:
            return None
        if response.status_code >= 500:
            raise _Failure(f"http-{response.status_code}", retry=True, counts=True)
        if response.status_code != 200:
            raise _Failure(f"http-{response.status_code}", retry=False, counts=True)
        try:
            return response.json()
        except ValueError:
            raise _Failure("malformed-reply", "not JSON", retry=False, counts=True) from None

    def _record(self, item: Any) -> Dossier:
        if not isinstance(item, dict):
            self.breaker.record_failure()
            raise SourceUnavailable(self.name, "malformed-reply", "a dossier is not an object")
        record = map_record(item, self._settings.field_map)
        raw_status = record.get("status")
        status = map_status(raw_status, self._settings.status_map)
        if status is None:
            log.warning("dossier API sent an unknown status %r", raw_status)
            raise SourceUnavailable(self.name, "unknown-status", repr(raw_status)[:40])
        record["status"] = int(status)
        try:
            return dossier_from_record(record)
        except (RecordError, DossierCodeError) as exc:
            raise SourceUnavailable(self.name, "malformed-record", str(exc)[:120]) from None


def map_record(item: Mapping[str, Any], field_map: Mapping[str, str]) -> dict[str, Any]:
    """The API's object with tongdai's field names (unmapped names are taken as they are)."""
    out = {key: value for key, value in item.items() if key not in field_map.values()}
    for ours, theirs in field_map.items():
        value: Any = item
        for part in theirs.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        out[ours] = value
    return out


def map_status(value: Any, status_map: Mapping[str, int]) -> DossierStatus | None:
    """The national status code of an API status value, or None when it is unknown."""
    if isinstance(value, bool) or value is None:
        return None
    if status_map:
        code = status_map.get(str(value))
        if code is None:
            return None
    else:
        try:
            code = int(str(value))
        except ValueError:
            return None
    try:
        return DossierStatus(code)
    except ValueError:
        return None


def build_dossier_source(
    settings: IntegrationSettings, factory: sessionmaker[Session]
) -> DossierSource:
    """The dossier source named by ``settings.dossier_source`` (``db`` or ``http``)."""
    if settings.dossier_source == "db":
        return DatabaseDossierSource(factory)
    if settings.dossier_source == "http":
        return HttpDossierSource(settings.http)
    raise ValueError(f"unknown dossier_source {settings.dossier_source!r} (db | http)")
