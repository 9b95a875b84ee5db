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

from config.settings import Settings

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
    p.add_argument(
        "--workers",
        type=int,
        help="IVR worker processes behind one SIP port, calls dispatched by Call-ID; "
        "0: one per CPU core (default: the workers setting)",
    )
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from config.settings import load_settings, worker_count

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
    if args.workers is not None:
        settings.workers = args.workers
    workers = worker_count(settings)
    try:
        if workers > 1:
            _run_dispatched(settings, args.app, args.answer_delay_ms / 1000, workers)
        else:
            asyncio.run(_run_ivr(settings, args.app, args.answer_delay_ms / 1000))
    except KeyboardInterrupt:
        pass
    finally:
        if web is not None:
            web.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                web.wait(5)
    return 0


def worker_settings(settings: Settings, index: int, workers: int) -> Settings:
    """Worker ``index``'s settings: its slice of the RTP ports, of the call limit and of the
    recognition slots and threads (each worker loads its own model); only the first worker
    registers at a PBX."""
    own = settings.model_copy(deep=True)
    media = own.media
    span = (media.rtp_port_max - media.rtp_port_min + 1) // workers
    media.rtp_port_min = settings.media.rtp_port_min + index * span
    media.rtp_port_max = media.rtp_port_min + span - 1
    own.sip.max_calls = max(1, -(-settings.sip.max_calls // workers))
    own.speech.max_streams = max(1, -(-settings.speech.max_streams // workers))
    own.speech.asr_workers = max(1, settings.speech.asr_workers // workers)
    if index > 0:
        own.sip.registration = None
    return own


def _run_dispatched(settings: Settings, app: str, answer_delay_s: float, workers: int) -> None:
    """N worker processes, each with its own event loop, media clock and RTP ports, behind a
    dispatcher that owns the SIP port and hands every message to the worker owning its call."""
    import multiprocessing
    import socket

    from ivr.sip.relay import socket_pairs

    if settings.sip.port == 0:  # the workers must know the public port before they start
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((settings.sip.host, 0))
            settings.sip.port = probe.getsockname()[1]
    pairs = socket_pairs(workers)
    context = multiprocessing.get_context("fork")
    processes = []
    for index, (_, worker_end) in enumerate(pairs):
        process = context.Process(
            target=_worker_main,
            args=(worker_settings(settings, index, workers), app, answer_delay_s, worker_end),
            name=f"worker-{index}",
            daemon=True,
        )
        process.start()
        processes.append(process)
    try:
        asyncio.run(_run_dispatcher(settings, [end for end, _ in pairs], processes))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(5)


def _worker_main(settings: Settings, app: str, answer_delay_s: float, sock: Any) -> None:
    from ivr.sip.relay import RelayTransport

    def relay(on_data: Any) -> RelayTransport:
        return RelayTransport(on_data, sock=sock, public_port=settings.sip.port,
                              host=settings.sip.host)  # fmt: skip

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_ivr(settings, app, answer_delay_s, transport=relay))


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM on the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _run_dispatcher(settings: Settings, sockets: list[Any], processes: list[Any]) -> None:
    from ivr.priority import apply_priority
    from ivr.sip.relay import Dispatcher

    apply_priority(settings.media.priority)  # every SIP message of every call passes here
    dispatcher = Dispatcher(sockets)
    await dispatcher.start(settings.sip.host, settings.sip.port, settings.sip.transports)
    print(
        f"tongdai: dispatching sip:hotline@{settings.sip.host}:{settings.sip.port} "
        f"to {len(processes)} workers",
        flush=True,
    )
    stop = _stop_on_signals()
    while not stop.is_set():
        if not all(p.is_alive() for p in processes):
            log.error("a worker process died: stopping")
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    log.info("messages relayed per worker: %s", dispatcher.relayed)
    await dispatcher.close()


async def _run_ivr(
    settings: Settings, app: str, answer_delay_s: float, *, transport: Any = None
) -> None:
    from ivr.hotline import build_hotline
    from ivr.priority import apply_priority, settle_garbage_collector
    from ivr.worker import Worker

    apply_priority(settings.media.priority)
    hotline = await build_hotline(settings, app=app)

    worker = Worker(
        sip=settings.sip,
        media=settings.media,
        on_call=hotline.on_call,
        sink=hotline.sink,
        answer_delay_s=answer_delay_s,
        transport=transport,
    )
    await worker.start()
    settle_garbage_collector()
    print(
        f"tongdai: answering calls on sip:hotline@{settings.sip.host}:{worker.port} "
        f"(udp, tcp), app={app}",
        flush=True,
    )
    stop = _stop_on_signals()
    await stop.wait()
    await worker.stop()
    await hotline.close()
