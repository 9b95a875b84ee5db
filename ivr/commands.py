"""``tongdai serve``: the IVR worker and the web app, started together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add ``serve`` to the top-level parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help="answer calls (SIP/RTP) and serve the web app"
    )
    p.add_argument(
        "--app",
        choices=["hotline", "digits"],
        default="hotline",
        help="hotline: the published menu tree; digits: greet and read back the keys pressed",
    )
    p.add_argument("--sip-host", help="SIP listen address (default from settings)")
    p.add_argument("--sip-port", type=int, help="SIP port, UDP and TCP (default 5060)")
    p.add_argument("--web-port", type=int, help="web app port (default 8000)")
    p.add_argument("--no-web", action="store_true", help="do not start the web app")
    p.add_argument("--answer-delay-ms", type=int, default=0, help="ring this long before answering")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from config.settings import load_settings

    settings = load_settings()
    if args.sip_host:
        settings.sip.host = args.sip_host
    if args.sip_port is not None:
        settings.sip.port = args.sip_port
    if args.web_port is not None:
        settings.web.port = args.web_port
    web: subprocess.Popen[bytes] | None = None
    if not args.no_web:
        web = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "server:create_app", "--factory",
                "--host", settings.web.host, "--port", str(settings.web.port),
                "--log-level", "warning",
            ]
        )  # fmt: skip
        log.info("web app on http://%s:%s", settings.web.host, settings.web.port)
    try:
        asyncio.run(_run_ivr(settings, args.app, args.answer_delay_ms / 1000))
    except KeyboardInterrupt:
        pass
    finally:
        if web is not None:
            web.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                web.wait(5)
    return 0


async def _run_ivr(settings: Any, app: str, answer_delay_s: float) -> None:
    from ivr.hotline import build_hotline

    hotline = await build_hotline(settings, app=app)
    from ivr.worker import Worker

    worker = Worker(
        sip=settings.sip,
        media=settings.media,
        on_call=hotline.on_call,
        sink=hotline.sink,
        answer_delay_s=answer_delay_s,
    )
    await worker.start()
    print(
        f"tongdai: answering calls on sip:hotline@{settings.sip.host}:{worker.port} "
        f"(udp, tcp), app={app}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await worker.stop()
    await hotline.close()
