"""``/metrics`` and ``/readyz`` for the web app (its own process and its own metrics)."""

from __future__ import annotations

import functools
import time
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

from telemetry.database_check import checking_engine, database_problem


class WebMetrics:
    """Requests served by the web app, by route template and status."""

    def __init__(self) -> None:
        self.requests = Counter("tongdai_web_requests", "Web requests, by route and status",
                                ["route", "status"])  # fmt: skip
        self.latency = Histogram("tongdai_web_request_seconds", "Web request time", ["route"])


def web_router(settings: Any) -> APIRouter:
    """The routes; ``/readyz`` checks the database on each request (a few a minute)."""
    router = APIRouter()
    engine = checking_engine(settings.database_url, settings.node.database_timeout_s)

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @router.get("/readyz", include_in_schema=False)
    def readyz(response: Response) -> dict[str, str]:
        problem = database_problem(engine)
        response.status_code = 200 if problem is None else 503
        return {"status": "ready" if problem is None else "not ready",
                "database": problem or "ok"}  # fmt: skip

    return router


@functools.cache
def web_metrics() -> WebMetrics:
    """The process's one :class:`WebMetrics` (the default registry refuses a second)."""
    return WebMetrics()


def count_requests(app: FastAPI) -> None:
    """Middleware counting every request into :class:`WebMetrics`."""
    web = web_metrics()

    @app.middleware("http")
    async def _count(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        web.requests.labels(name, str(response.status_code)).inc()
        web.latency.labels(name).observe(time.perf_counter() - started)
        return response
