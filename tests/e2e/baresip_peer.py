"""A headless baresip softphone for end-to-end tests, driven over its ``ctrl_tcp`` interface.

baresip runs in its own temporary configuration directory with no sound card: a WAV file with
a sine tone is its microphone (``aufile``), a virtual device is its loudspeaker (``aubridge``) and
the ``sndfile`` filter records what it hears and what it sends as WAV files. Only G.711 is loaded,
so the call negotiates PCMU or PCMA with telephone-event, the way a desk phone would.

Commands (``dial``, ``sndcode``, ``hangup``) and events (``CALL_ESTABLISHED``, ``CALL_CLOSED``...)
travel as netstring-framed JSON on a loopback TCP port. baresip's own output (with a SIP trace)
is kept so a failing test can show what the softphone saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import shutil
import signal
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 10.0  # baresip loads its modules and opens the control port
COMMAND_TIMEOUT_S = 5.0  # one control command answered
STOP_TIMEOUT_S = 3.0  # a polite SIGTERM before SIGKILL
MODULE_DIRS = (  # where Debian and source builds put baresip's modules
    Path("/usr/lib/baresip/modules"),
    Path("/usr/lib/x86_64-linux-gnu/baresip/modules"),
    Path("/usr/local/lib/baresip/modules"),
)
REQUIRED_MODULES = ("g711", "aufile", "aubridge", "sndfile", "account", "menu", "ctrl_tcp")
MICROPHONE_S = 30.0  # length of the tone baresip sends; longer than any test call
MAX_NETSTRING_BYTES = 1_000_000  # a control message larger than this is a protocol error


class BaresipError(Exception):
    """baresip could not be started, refused a command, or did not report an expected event.

    The message ends with the tail of baresip's output so a failing test explains itself.
    """


@dataclass(frozen=True)
class BaresipEvent:
    """One event reported by baresip (``type`` such as ``CALL_CLOSED``, ``param`` its detail)."""

    type: str
    param: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TracedMessage:
    """One SIP message from baresip's trace (``-s``): who sent it to whom, and what it was."""

    transport: str  # "UDP" or "TCP"
    source: str  # "127.0.0.1:5060"
    destination: str
    first_line: str  # "BYE sip:... SIP/2.0" or "SIP/2.0 200 OK"
    cseq: str  # "42864 BYE"

    @property
    def method(self) -> str:
        """The method this message belongs to (from CSeq), e.g. ``BYE``."""
        return self.cseq.rsplit(" ", 1)[-1]

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0 ")


_TRACE = re.compile(r"#\r?\n(UDP|TCP|TLS) (\S+) -> (\S+)\r?\n(.*?)\r?\n\r?\n", re.DOTALL)
_CSEQ = re.compile(r"^CSeq:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)


def parse_sip_trace(output: str) -> list[TracedMessage]:
    """The SIP messages in baresip's trace output, in order (bodies are left out)."""
    messages: list[TracedMessage] = []
    for match in _TRACE.finditer(output):
        transport, source, destination, head = match.groups()
        head = head.replace("\r\n", "\n")
        cseq = _CSEQ.search(head)
        messages.append(
            TracedMessage(
                transport=transport,
                source=source,
                destination=destination,
                first_line=head.split("\n", 1)[0].strip(),
                cseq=cseq.group(1) if cseq else "",
            )
        )
    return messages


def encode_netstring(payload: bytes) -> bytes:
    """Frame ``payload`` as a netstring: ``<length>:<payload>,``."""
    return str(len(payload)).encode() + b":" + payload + b","


def decode_netstrings(buffer: bytearray) -> list[bytes]:
    """Remove and return every complete netstring at the start of ``buffer``.

    An incomplete trailing netstring stays in the buffer; a malformed one raises BaresipError.
    """
    out: list[bytes] = []
    while True:
        colon = buffer.find(b":")
        if colon < 0:
            if len(buffer) > 20:  # a length prefix never needs that many bytes
                raise BaresipError(f"malformed netstring length: {bytes(buffer[:20])!r}")
            return out
        digits = bytes(buffer[:colon])
        if not digits.isdigit():
            raise BaresipError(f"malformed netstring length: {digits[:20]!r}")
        length = int(digits)
        if length > MAX_NETSTRING_BYTES:
            raise BaresipError(f"netstring too long: {length} bytes")
        end = colon + 1 + length
        if len(buffer) < end + 1:
            return out
        if buffer[end : end + 1] != b",":
            raise BaresipError("netstring not terminated by ','")
        out.append(bytes(buffer[colon + 1 : end]))
        del buffer[: end + 1]


def find_module_dir(candidates: tuple[Path, ...] = MODULE_DIRS) -> Path | None:
    """The first directory holding every module the headless softphone needs, or None."""
    for directory in candidates:
        if all((directory / f"{name}.so").is_file() for name in REQUIRED_MODULES):
            return directory
    return None


def write_config(
    directory: Path,
    *,
    sip_port: int,
    ctrl_port: int,
    rtp_ports: tuple[int, int],
    module_dir: Path,
    transport: str = "udp",
    codecs: tuple[str, ...] = (),
    account: str = "<sip:tester@127.0.0.1>;regint=0;answermode=manual",
    tone_hz: float = 440.0,
) -> None:
    """Write a minimal ``config`` and ``accounts`` for a loopback softphone into ``directory``.

    The default account needs no registrar (``regint=0``): calls go straight to the dialled
    address; an officer's phone passes its own (``auth_pass``, ``regint``, ``answermode``).
    ``codecs`` (e.g. ``("PCMA",)``) limits what baresip offers; empty offers PCMU and PCMA.
    """
    if transport not in ("udp", "tcp"):
        raise BaresipError(f"unsupported SIP transport {transport!r} (udp or tcp)")
    lo, hi = rtp_ports
    write_tone(directory / "microphone.wav", hz=tone_hz)
    config = f"""\
poll_method\t\tepoll
net_interface\t\t127.0.0.1
sip_listen\t\t127.0.0.1:{sip_port}
sip_trans_def\t\t{transport}
audio_source\t\taufile,{directory / "microphone.wav"}
audio_player\t\taubridge,speaker
audio_alert\t\taubridge,alert
rtp_ports\t\t{lo}-{hi}
rtp_timeout\t\t0
snd_path\t\t{directory}
module_path\t\t{module_dir}
module\t\t\tg711.so
module\t\t\taufile.so
module\t\t\taubridge.so
module\t\t\tsndfile.so
module_app\t\taccount.so
module_app\t\tmenu.so
module_app\t\tctrl_tcp.so
ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}
"""
    (directory / "config").write_text(config, encoding="ascii")
    if codecs:
        account += ";audio_codecs=" + ",".join(codecs)
    (directory / "accounts").write_text(account + "\n", encoding="ascii")
    (directory / "contacts").write_text("", encoding="ascii")


def write_tone(
    path: Path, *, hz: float = 440.0, seconds: float = MICROPHONE_S, rate: int = 8000
) -> None:
    """A mono 16-bit WAV sine tone: the softphone's microphone (``aufile`` needs the line rate)."""
    frames = bytearray()
    for n in range(int(rate * seconds)):
        sample = int(8000 * math.sin(2 * math.pi * hz * n / rate))
        frames += sample.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


class BaresipPeer:
    """One baresip process and its control connection. Use ``async with BaresipPeer(...)``."""

    def __init__(
        self,
        *,
        sip_port: int,
        ctrl_port: int,
        rtp_ports: tuple[int, int],
        module_dir: Path,
        transport: str = "udp",
        codecs: tuple[str, ...] = (),
        executable: str = "baresip",
        account: str | None = None,
        tone_hz: float = 440.0,
    ) -> None:
        self.sip_port = sip_port
        self.transport = transport
        self.codecs = codecs
        self.account = account
        self.tone_hz = tone_hz
        self.ctrl_port = ctrl_port
        self.rtp_ports = rtp_ports
        self.module_dir = module_dir
        self.executable = executable
        self.directory = Path(tempfile.mkdtemp(prefix="baresip-"))
        self.events: list[BaresipEvent] = []
        self._output = bytearray()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._ctrl_task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._event_arrived = asyncio.Event()
        self._token = 0
        self._ctrl_error: BaseException | None = None

    # -- life cycle ----------------------------------------------------------------------------
    async def __aenter__(self) -> BaresipPeer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start baresip with a SIP trace and connect to its control port."""
        write_config(
            self.directory,
            sip_port=self.sip_port,
            ctrl_port=self.ctrl_port,
            rtp_ports=self.rtp_ports,
            module_dir=self.module_dir,
            transport=self.transport,
            codecs=self.codecs,
            tone_hz=self.tone_hz,
            **({"account": self.account} if self.account else {}),
        )
        self._proc = await asyncio.create_subprocess_exec(
            self.executable, "-f", str(self.directory), "-s",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.directory,
        )  # fmt: skip
        self._reader_task = asyncio.create_task(self._read_output())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while True:
            if self._proc.returncode is not None:
                await asyncio.sleep(0.1)  # let the reader collect the last words
                raise self._error(f"baresip exited with status {self._proc.returncode}")
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if loop.time() > deadline:
                    raise self._error(
                        f"baresip control port {self.ctrl_port} not open after {START_TIMEOUT_S} s"
                    ) from None
                await asyncio.sleep(0.1)
        self._ctrl_task = asyncio.create_task(self._read_control(reader))

    async def stop(self) -> None:
        """Stop baresip (SIGTERM, then SIGKILL) and remove its directory. Idempotent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in (self._ctrl_task, self._reader_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- what baresip says ---------------------------------------------------------------------
    @property
    def output(self) -> str:
        """Everything baresip printed so far (log lines and the SIP trace)."""
        return self._output.decode(errors="replace")

    def sip_messages(self) -> list[TracedMessage]:
        """Every SIP message baresip sent or received so far, from its trace."""
        return parse_sip_trace(self.output)

    async def wait_sip(
        self, first_line: str, method: str, timeout_s: float, *, destination: str | None = None
    ) -> TracedMessage:
        """The first traced message whose first line starts with ``first_line`` and whose CSeq
        method is ``method`` (optionally sent to ``destination``), waiting up to ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            for message in self.sip_messages():
                if (
                    message.first_line.startswith(first_line)
                    and message.method == method
                    and (destination is None or message.destination == destination)
                ):
                    return message
            if loop.time() > deadline:
                raise self._error(f"no {first_line!r} for {method} within {timeout_s} s")
            await asyncio.sleep(0.05)

    def recordings(self) -> dict[str, Path]:
        """WAV files written by the ``sndfile`` filter: ``"dec"`` is what baresip heard
        (decoded from the line), ``"enc"`` what it sent."""
        found: dict[str, Path] = {}
        for path in sorted(self.directory.glob("dump-*.wav")):
            kind = path.stem.rsplit("-", 1)[-1]
            found[kind] = path
        return found

    async def wait_event(self, event_type: str, timeout_s: float) -> BaresipEvent:
        """The first event of ``event_type`` reported so far or within ``timeout_s`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            for event in self.events:
                if event.type == event_type:
                    return event
            if self._ctrl_error is not None:
                raise self._error(f"control connection failed: {self._ctrl_error!r}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [e.type for e in self.events]
                raise self._error(f"no {event_type} event within {timeout_s} s (saw {seen})")
            self._event_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_arrived.wait(), remaining)

    # -- commands ------------------------------------------------------------------------------
    async def command(self, name: str, params: str = "") -> str:
        """Run one control command; return its response text or raise BaresipError."""
        if self._writer is None:
            raise self._error(f"command {name!r} before baresip was started")
        self._token += 1
        token = str(self._token)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        message = {"command": name, "params": params, "token": token}
        self._writer.write(encode_netstring(json.dumps(message).encode()))
        await self._writer.drain()
        try:
            response = await asyncio.wait_for(future, COMMAND_TIMEOUT_S)
        except TimeoutError:
            raise self._error(f"command {name!r} not answered in {COMMAND_TIMEOUT_S} s") from None
        finally:
            self._responses.pop(token, None)
        if not response.get("ok", False):
            raise self._error(f"command {name} {params!r} refused: {response.get('data')!r}")
        return str(response.get("data", ""))

    async def dial(self, uri: str) -> None:
        """Call ``uri`` (e.g. ``sip:hotline@127.0.0.1:5060``) over the peer's transport."""
        if self.transport != "udp" and "transport=" not in uri:
            uri += f";transport={self.transport}"
        await self.command("dial", uri)

    async def send_digits(self, digits: str) -> None:
        """Press keys on the current call (sent as RFC 4733 telephone-events)."""
        await self.command("sndcode", digits)

    async def hangup(self) -> None:
        """Hang up the current call (BYE once established)."""
        await self.command("hangup")

    # -- internals -----------------------------------------------------------------------------
    def _error(self, message: str) -> BaresipError:
        tail = self.output[-4000:]
        return BaresipError(f"{message}\n--- baresip output (tail) ---\n{tail}")

    async def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while chunk := await self._proc.stdout.read(4096):
            self._output += chunk

    async def _read_control(self, reader: asyncio.StreamReader) -> None:
        buffer = bytearray()
        try:
            while chunk := await reader.read(4096):
                buffer += chunk
                for raw in decode_netstrings(buffer):
                    self._dispatch(json.loads(raw))
        except (BaresipError, ValueError, OSError) as exc:
            self._ctrl_error = exc
            self._event_arrived.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("response"):
            future = self._responses.get(str(message.get("token", "")))
            if future is not None and not future.done():
                future.set_result(message)
        elif message.get("event"):
            event = BaresipEvent(
                type=str(message.get("type", "")),
                param=str(message.get("param", "")),
                fields=message,
            )
            self.events.append(event)
            self._event_arrived.set()
