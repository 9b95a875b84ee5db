"""The call log written by a separate process, so database work never holds the media
process's interpreter lock.

A :class:`~ivr.calllog.DbCallLog` thread inside the media process shares the interpreter lock
with the event loop: while it builds a batch of rows, the loop waits for the lock, and when the
loop runs at a raised priority (see :mod:`ivr.priority`) it may wait behind a writer that the
kernel has set aside, for tens of milliseconds: callers hear the gap. :class:`CallLogProcess`
keeps the same sink interface but only pickles events, in batches, onto a Unix socket; the
process at the other end (``python -m ivr.calllog.writer_process``) runs the ``DbCallLog`` writer.

``emit()`` never blocks and never raises: events wait in memory while the socket is full, up
to ``max_pending``, after which they are dropped and counted, as the in-process writer does.
When the media process ends, the writer sees the socket close, writes what it has and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import pickle
import select
import socket
import subprocess
import sys
import time
from collections import deque
from typing import Any

from ivr.events import CallEvent

log = logging.getLogger(__name__)

BATCH_EVENTS = 200  # events per message at most
SEND_DELAY_S = 0.05  # events wait this long for company before they are sent
MAX_PENDING = 50_000  # events held while the writer is slow, then new ones are dropped
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
DROP_LOG_INTERVAL_S = 10.0
BACKPRESSURE_PAUSE_S = 0.05
_MAX_MESSAGE = 4 * 1024 * 1024


class CallLogProcess:
    """:class:`ivr.events.EventSink` that hands events to a writer process."""

    def __init__(
        self,
        database_url: str,
        *,
        node_id: str = "",
        send_delay_s: float = SEND_DELAY_S,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._url = database_url
        self._node_id = node_id
        self._send_delay_s = send_delay_s
        self._max_pending = max_pending
        self._pending: deque[CallEvent] = deque()
        self._sock: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._last_drop_log = float("-inf")
        self.sent = 0
        """Events handed to the writer process."""
        self.dropped = 0
        """Events dropped because the writer fell too far behind, or after close."""

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer process (idempotent)."""
        if self._process is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ivr.calllog.writer_process", "--fd", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=None,
            )
        with contextlib.suppress(OSError):
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _MAX_MESSAGE)
        # The address goes over the socket, not the command line, where `ps` would show a
        # password in it.
        ours.send(pickle.dumps(("database", (self._url, self._node_id))))
        ours.setblocking(False)
        self._sock = ours

    @property
    def pid(self) -> int | None:
        """The writer process's id, once started."""
        return self._process.pid if self._process is not None else None

    def emit(self, event: CallEvent) -> None:
        """Queue the event for the writer; never blocks and never raises."""
        if self._closed or self._sock is None:
            self._drop(event)
            return
        if len(self._pending) >= self._max_pending:
            self._drop(event)
            return
        self._pending.append(event)
        if len(self._pending) >= BATCH_EVENTS:
            self._send_some()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a script, a test): send at once
                self._send_some()
                return
            self._timer = loop.call_later(self._send_delay_s, self._on_timer)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Send everything pending and wait until the writer has stored it; False on timeout
        or when the writer is gone. Blocks: call it off the event loop or at shutdown."""
        deadline = time.monotonic() + timeout_s
        if not self._send_all(deadline):
            return False
        return self._request("flush", deadline)

    def close(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Write what is pending, then stop the writer. Later events are dropped."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        process, sock = self._process, self._sock
        if process is None or sock is None:
            return
        deadline = time.monotonic() + timeout_s
        if not (self._send_all(deadline) and self._request("close", deadline)):
            log.warning("call log writer did not finish in %.1f s", timeout_s)
        sock.close()
        self._sock = None
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    # --- sending ------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        self._send_some()
        if self._pending and not self._closed:  # the socket was full: try again shortly
            self._timer = asyncio.get_running_loop().call_later(self._send_delay_s, self._on_timer)

    def _send_some(self) -> None:
        """Send pending events in batches until the socket is full (never waits)."""
        sock = self._sock
        while self._pending and sock is not None:
            batch = [self._pending[i] for i in range(min(BATCH_EVENTS, len(self._pending)))]
            try:
                sock.send(pickle.dumps(("events", batch), protocol=pickle.HIGHEST_PROTOCOL))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # the writer is gone: nothing more can be logged
                log.error("call log writer unreachable (%s): events are dropped", exc)
                for event in list(self._pending):
                    self._drop(event)
                self._pending.clear()
                self._closed = True
                return
            for _ in batch:
                self._pending.popleft()
            self.sent += len(batch)

    def _send_all(self, deadline: float) -> bool:
        while self._pending:
            if self._sock is None:
                return False
            self._send_some()
            if self._pending and not self._wait(select.POLLOUT, deadline):
                return False
        return self._sock is not None

    def _request(self, what: str, deadline: float) -> bool:
        sock = self._sock
        if sock is None:
            return False
        try:
            while True:
                try:
                    sock.send(pickle.dumps((what, None)))
                    break
                except (BlockingIOError, InterruptedError):
                    if not self._wait(select.POLLOUT, deadline):
                        return False
            while True:
                if not self._wait(select.POLLIN, deadline):
                    return False
                try:
                    reply = sock.recv(_MAX_MESSAGE)
                except (BlockingIOError, InterruptedError):
                    continue
                return reply == what.encode()
        except OSError:
            return False

    def _wait(self, events: int, deadline: float) -> bool:
        sock = self._sock
        if sock is None:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        poller = select.poll()
        poller.register(sock, events)
        return bool(poller.poll(remaining * 1000))

    def _drop(self, event: CallEvent) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_S:
            self._last_drop_log = now
            log.warning(
                "call log dropped %s events so far, writer behind or closed (last: %s)",
                self.dropped,
                event.kind,
            )


# --- the writer process -------------------------------------------------------------------------


def serve(sock: socket.socket, database_url: str, node_id: str = "") -> int:
    """Receive batches on ``sock`` and write them with a DbCallLog (calls carried by
    ``node_id``) until told to close or the other end goes away. Returns a process exit code."""
    from db import create_engine_from_url, session_factory
    from ivr.calllog.sink import DbCallLog

    engine = create_engine_from_url(database_url)
    writer = DbCallLog(session_factory(engine), node_id=node_id)
    writer.start()
    try:
        while True:
            try:
                data = sock.recv(_MAX_MESSAGE)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:  # the media process closed its end or died
                break
            kind, body = _load(data)
            if kind == "events":
                # While the database is down the writer holds what it has; read no more than it
                # can hold, so the rest waits (and is counted if dropped) in the media process.
                while writer.room < len(body):
                    time.sleep(BACKPRESSURE_PAUSE_S)
                for event in body:
                    writer.emit(event)
            elif kind in ("flush", "close"):
                writer.flush(STOP_TIMEOUT_S)
                with contextlib.suppress(OSError):
                    sock.send(kind.encode())
                if kind == "close":
                    break
    finally:
        writer.close()
        engine.dispose()
    return 0


def _load(data: bytes) -> tuple[str, Any]:
    try:
        kind, body = pickle.loads(data)  # from our own process, over a socketpair
    except Exception as exc:
        log.error("call log writer got an unreadable message (%s)", exc)
        return "", None
    return str(kind), body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="tongdai call-log writer (started by tongdai)")
    parser.add_argument("--fd", type=int, required=True, help="socket inherited from the parent")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s calllog-writer %(name)s: %(message)s"
    )
    sock = socket.socket(fileno=args.fd)
    first = _read_database(sock)
    if first is None:
        return 2
    return serve(sock, *first)


def _read_database(sock: socket.socket) -> tuple[str, str] | None:
    """The database address and the node id, sent first."""
    kind, body = _load(sock.recv(_MAX_MESSAGE))
    if kind != "database" or not (
        isinstance(body, tuple) and len(body) == 2 and all(isinstance(x, str) for x in body)
    ):
        log.error("call log writer expected the database address first")
        return None
    return body[0], body[1]


if __name__ == "__main__":
    sys.exit(main())
