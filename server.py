"""The web app: admin API and pages, officer console, metrics. Composition only.

Build it with :func:`create_app`; nothing is created at import time.
"""

from __future__ import annotations

from fastapi import FastAPI

import menus.api
from config.settings import Settings, load_settings
from telemetry.web_endpoints import count_requests, web_router


def create_app(settings: Settings | None = None) -> FastAPI:
    """Compose the FastAPI app from each package's routers."""
    settings = settings or load_settings()
    app = FastAPI(title="tongdai", version="0.1.0")
    app.state.settings = settings
    app.include_router(menus.api.router)
    app.include_router(web_router(settings))
    count_requests(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
