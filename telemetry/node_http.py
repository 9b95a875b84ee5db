"""A node's own HTTP endpoint: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

It runs on a daemon thread of the node's main process (a few requests a minute from a
scraper and a proxy), never on a worker's event loop. ``/metrics`` gathers every worker
process's metrics from the multiprocess directory (see :mod:`telemetry.multiprocess`).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from config.operator_errors import bind_problem
from telemetry.readiness import Readiness


def _handler(registry: CollectorRegistry, readiness: Readiness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                ready = readiness.ready
                body = {"status": "ready" if ready else "not ready", **readiness.report()}
                self._json(200 if ready else 503, body)
            else:
                self._json(404, {"detail": "not found"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            pass

    return Handler


class NodeHttp:
    """The endpoint, started on a daemon thread; :meth:`close` stops it."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 readiness: Readiness) -> None:  # fmt: skip
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(registry, readiness))
        except OSError as exc:
            raise bind_problem(
                exc, what="metrics and health port", host=host, port=port,
                fix="set TONGDAI_NODE__HTTP_PORT (or --metrics-port) to a free port",
            ) from None  # fmt: skip
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="node-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
