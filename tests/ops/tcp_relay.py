"""A TCP relay in front of PostgreSQL that the tests open and cut: the database "goes away"
(every connection through it closed, new ones refused) and "comes back", as when the server
restarts, without touching the server other tests share."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class TcpRelay:
    """Listens on a free loopback port once :meth:`open`; :meth:`cut` ends it all."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def open(self) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

        self._call(start())

    def cut(self) -> None:
        """Refuse new connections and close every open one (a server restart)."""

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._call(stop())

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self._writers -= {writer, up_writer}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()

        async def finish() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._call(finish())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def url_through(url: str, relay: TcpRelay, host: str, port: int) -> str:
    """``url`` with the server's address replaced by the relay's."""
    changed = url.replace(f"{host}:{port}", f"127.0.0.1:{relay.port}")
    assert changed != url, f"{host}:{port} not found in {url}"
    return changed
