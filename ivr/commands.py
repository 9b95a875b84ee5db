"""``tongdai serve``: the IVR worker and the web app, started together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from config.settings import Settings

if TYPE_CHECKING:  # imported late at run time: after the metrics directory is named
    from telemetry.node_operations import NodeOperations

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
    p.add_argument("--metrics-port", type=int, help="port of /metrics, /healthz, /readyz (0: none)")
    p.add_argument("--answer-delay-ms", type=int, default=0, help="ring this long before answering")
    p.add_argument(
        "--workers",
        type=int,
        help="IVR worker processes behind one SIP port, calls dispatched by Call-ID; "
        "0: one per CPU core (default: the workers setting)",
    )
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from config.private_files import restrict_data_files
    from config.settings import load_settings, worker_count

    settings = load_settings()
    restrict_data_files(settings)  # database, prompts, logs: owner-only from here on
    if args.sip_host:
        settings.sip.host = args.sip_host
    if args.sip_port is not None:
        settings.sip.port = args.sip_port
    if args.web_port is not None:
        settings.web.port = args.web_port
    if args.metrics_port is not None:
        settings.node.http_port = args.metrics_port
    if args.workers is not None:
        settings.workers = args.workers
    if not settings.node.id:  # stable across restarts, so a restarted node knows its calls
        import socket

        settings.node.id = f"{socket.gethostname()}:{settings.sip.port}"
    if settings.node.log_format == "json":
        from telemetry.json_logs import use_json_logs

        use_json_logs()
    _check_ports(settings, web=not args.no_web)
    from telemetry.multiprocess import prepare_directory, remove_directory

    metrics_dir = prepare_directory(settings.data_dir)  # before prometheus_client is imported
    from telemetry.node_operations import NodeOperations

    node = NodeOperations(settings)
    web: subprocess.Popen[bytes] | None = None
    workers = worker_count(settings)
    settings.workers = workers  # resolved: the hotline knows when it sits behind the dispatcher
    try:
        node.start()  # the health endpoint, then the database (waits while it is unreachable)
        if not args.no_web:
            web = _start_web(settings)
        if workers > 1:
            _run_dispatched(settings, args.app, args.answer_delay_ms / 1000, workers, node)
        else:
            asyncio.run(
                _run_ivr(settings, args.app, args.answer_delay_ms / 1000, on_bound=node.sip_bound)
            )
    except KeyboardInterrupt:
        pass
    finally:
        if web is not None:
            web.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                web.wait(5)
        node.close()
        remove_directory(metrics_dir)
    return 0


def _check_ports(settings: Settings, *, web: bool) -> None:
    """Refuse at once, in one line, a SIP or web port another process holds."""
    from ivr.sip.port_probe import require_free

    sip = settings.sip
    require_free(sip.host, sip.port, sip.transports, what="SIP port",
                 fix="stop the other process or set TONGDAI_SIP__PORT (or --sip-port)")  # fmt: skip
    if web:
        require_free(settings.web.host, settings.web.port, ["tcp"], what="web app port",
                     fix="set TONGDAI_WEB__PORT (or --web-port), or --no-web")  # fmt: skip


def _start_web(settings: Settings) -> subprocess.Popen[bytes]:
    """The web app in its own process, with its own metrics (not the node's files)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    web = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "server:create_app", "--factory",
            "--host", settings.web.host, "--port", str(settings.web.port),
            "--log-level", "warning",
        ],
        env=env,
    )  # fmt: skip
    log.info("web app on http://%s:%s", settings.web.host, settings.web.port)
    return web


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


def _run_dispatched(
    settings: Settings, app: str, answer_delay_s: float, workers: int, node: NodeOperations
) -> None:
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
    started = [context.Event() for _ in pairs]  # set by each worker once it takes calls
    for index, (_, worker_end) in enumerate(pairs):
        process = context.Process(
            target=_worker_main,
            args=(
                worker_settings(settings, index, workers),
                app,
                answer_delay_s,
                worker_end,
                started[index],
            ),
            name=f"worker-{index}",
            daemon=True,
        )
        process.start()
        processes.append(process)
    try:
        asyncio.run(_run_dispatcher(settings, [end for end, _ in pairs], processes, node, started))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(5)


def _worker_main(
    settings: Settings, app: str, answer_delay_s: float, sock: Any, started: Any
) -> None:
    from ivr.sip.relay import RelayTransport

    def relay(on_data: Any) -> RelayTransport:
        return RelayTransport(on_data, sock=sock, public_port=settings.sip.port,
                              host=settings.sip.host)  # fmt: skip

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_ivr(settings, app, answer_delay_s, transport=relay, on_bound=started.set))


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM on the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _run_dispatcher(
    settings: Settings,
    sockets: list[Any],
    processes: list[Any],
    node: NodeOperations,
    started: list[Any],
) -> None:
    from ivr.priority import apply_priority, settle_garbage_collector
    from ivr.sip.relay import Dispatcher

    apply_priority(settings.media.priority)  # every SIP message of every call passes here
    dispatcher = Dispatcher(sockets, settings.sip.limits)
    await _bind_sip(dispatcher.start(settings.sip.host, settings.sip.port, settings.sip.transports),
                    settings)  # fmt: skip
    # What start-up built (settings, the web and metrics imports) is frozen out of the full
    # collections, which otherwise held up relaying for 60 ms at a time under calls.
    settle_garbage_collector()
    stop = _stop_on_signals()
    ready = False
    while not stop.is_set():
        if not all(p.is_alive() for p in processes):
            log.error("a worker process died: stopping")
            break
        if not ready:  # ready once every worker reads its share of the messages
            ready = all(event.is_set() for event in started)
            if ready:
                node.sip_bound()
                # Said only now: a call relayed to a worker still loading its model or its
                # prompts waits in the socket pair, and its INVITE is retransmitted.
                print(
                    f"tongdai: dispatching sip:hotline@{settings.sip.host}:{settings.sip.port} "
                    f"to {len(processes)} workers",
                    flush=True,
                )
            else:
                up = sum(event.is_set() for event in started)
                node.readiness.failed("sip", f"workers starting ({up} of {len(started)})")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 if ready else 0.2)
    log.info("messages relayed per worker: %s", dispatcher.relayed)
    await dispatcher.close()


async def _bind_sip(start: Any, settings: Settings) -> None:
    """Await ``start`` (which binds the SIP port); a bind failure becomes one line."""
    from config.operator_errors import bind_problem

    try:
        await start
    except OSError as exc:
        sip = settings.sip
        fix = "stop the other process or set TONGDAI_SIP__PORT"
        raise bind_problem(exc, what="SIP port", host=sip.host, port=sip.port, fix=fix) from None


async def _run_ivr(
    settings: Settings,
    app: str,
    answer_delay_s: float,
    *,
    transport: Any = None,
    on_bound: Callable[[], None] | None = None,
) -> None:
    from ivr.hotline import build_hotline
    from ivr.priority import apply_priority, settle_garbage_collector
    from ivr.worker import Worker
    from telemetry.worker_telemetry import worker_telemetry

    apply_priority(settings.media.priority)
    telemetry = worker_telemetry()
    hotline = await build_hotline(settings, app=app, sinks=[telemetry.sink])

    worker = Worker(
        sip=settings.sip,
        media=settings.media,
        on_call=hotline.on_call,
        sink=hotline.sink,
        answer_delay_s=answer_delay_s,
        transport=transport,
    )
    hotline.attach(worker.endpoint)
    await _bind_sip(worker.start(), settings)
    hotline.start_outbound()
    telemetry.start(worker, hotline)
    await hotline.warmed()  # ready (and "answering calls") once its prompts are rendered
    # Before saying so: the full collection takes 50-250 ms, a stall of every call's media
    # clock and of every INVITE if it ran once calls arrive.
    settle_garbage_collector()
    if on_bound is not None:
        on_bound()
    print(
        f"tongdai: answering calls on sip:hotline@{settings.sip.host}:{worker.port} "
        f"(udp, tcp), app={app}",
        flush=True,
    )
    stop = _stop_on_signals()
    await stop.wait()
    await telemetry.stop()
    await worker.stop()
    await hotline.close()
