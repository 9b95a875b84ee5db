"""The web app: admin API and pages, officer console, metrics. Composition only.

Build it with :func:`create_app`; nothing is created at import time.
"""

from __future__ import annotations

import sys

from fastapi import FastAPI

from config.settings import Settings, load_settings
from telemetry.web_endpoints import count_requests, web_router
from web.app import install_web
from web.secret_key import SecretKeyError


def create_app(settings: Settings | None = None) -> FastAPI:
    """Compose the FastAPI app from each package's routers."""
    settings = settings or load_settings()
    # Our own /docs and /openapi.json (signed in, no script from a CDN) replace FastAPI's.
    app = FastAPI(title="tongdai", version="0.1.0", docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.settings = settings
    try:
        install_web(app, settings)
    except SecretKeyError as exc:
        print(f"tongdai: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    app.include_router(web_router(settings))
    count_requests(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
