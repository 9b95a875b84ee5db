"""Outbound registration (RFC 3261 §10) to a PBX or SIP trunk that owns the hotline's number.

Optional: tongdai needs no registrar to answer calls. When the number lives on a PBX, the
worker registers its contact there, answers digest challenges (401/407), refreshes before the
binding expires and retries with a growing delay when the registrar fails or is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ivr.settings import RegisterSettings
from ivr.sip.auth import AuthError, DigestClient
from ivr.sip.dialog import Peer, new_branch, new_tag
from ivr.sip.message import Headers, Request, Response, SipParseError, parse_uri
from ivr.sip.timers import Scheduler, SipTimers
from ivr.sip.transaction import ClientTransaction, TransactionTable

log = logging.getLogger(__name__)

MIN_RETRY_S = 5.0
MAX_RETRY_S = 300.0


@dataclass
class RegistrationState:
    """What the registration looks like now (for logs, metrics and tests)."""

    registered: bool = False
    expires_s: int = 0
    last_status: int | None = None
    attempts: int = 0
    failures: int = 0


class Registration:
    """Keeps one binding alive at a registrar."""

    def __init__(
        self,
        settings: RegisterSettings,
        *,
        send: Callable[[bytes, Peer], None],
        scheduler: Scheduler,
        table: TransactionTable,
        timers: SipTimers,
        local_host: Callable[[str], str],
        local_port: Callable[[], int],
        user_agent: str = "tongdai",
    ) -> None:
        uri = parse_uri(settings.registrar)
        if not uri.is_sip or not uri.host:
            raise ValueError(f"registrar must be a sip: URI, got {settings.registrar!r}")
        transport = (uri.param("transport") or "udp").lower()
        self.settings = settings
        self.peer = Peer(transport, uri.host.strip("[]"), uri.port or 5060)
        self._domain = uri.host if uri.port is None else f"{uri.host}:{uri.port}"
        self._send = send
        self._scheduler = scheduler
        self._table = table
        self._timers = timers
        self._local_host = local_host
        self._local_port = local_port
        self._user_agent = user_agent
        self._digest = DigestClient(settings.username, settings.password, realm=settings.realm)
        self._call_id = f"{secrets.token_hex(8)}@tongdai"
        self._tag = new_tag()
        self._cseq = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.state = RegistrationState()

    def start(self) -> None:
        """Register now and keep the binding refreshed."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="register")

    async def stop(self, *, unregister: bool = True) -> None:
        """Stop refreshing; remove the binding (Expires: 0) when it was registered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if unregister and self.state.registered:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._register(expires=0), 5)
            self.state.registered = False

    async def _run(self) -> None:
        retry = MIN_RETRY_S
        while True:
            status = await self._register(expires=self.settings.expires_s)
            if status is not None and 200 <= status < 300:
                retry = MIN_RETRY_S
                # refresh ahead of expiry (RFC 3261 §10.3 suggests well before it ends)
                await asyncio.sleep(max(1.0, self.state.expires_s * 0.8))
            else:
                self.state.failures += 1
                log.warning("registration at %s failed (%s); retry in %.0f s",
                            self.settings.registrar, status or "no answer", retry)  # fmt: skip
                await asyncio.sleep(retry)
                retry = min(retry * 2, MAX_RETRY_S)

    async def _register(self, *, expires: int) -> int | None:
        """One REGISTER, answering at most two challenges. Returns the final status."""
        authorization: tuple[str, str] | None = None
        for _ in range(3):
            response = await self._transaction(expires, authorization)
            self.state.attempts += 1
            if response is None:
                self.state.registered = False
                self.state.last_status = None
                return None
            self.state.last_status = response.status
            if response.status in (401, 407):
                try:
                    authorization = self._digest.authorize(
                        response, method="REGISTER", uri=self._request_uri()
                    )
                except AuthError as exc:
                    log.warning("registrar challenge not answerable: %s", exc)
                    return response.status
                continue
            if 200 <= response.status < 300:
                self.state.registered = expires > 0
                self.state.expires_s = _granted_expires(response, expires)
                log.info("registered at %s for %d s", self.settings.registrar, self.state.expires_s)
            else:
                self.state.registered = False
            return response.status
        return self.state.last_status

    def _request_uri(self) -> str:
        return f"sip:{self._domain}"

    async def _transaction(
        self, expires: int, authorization: tuple[str, str] | None
    ) -> Response | None:
        self._cseq += 1
        host = self._local_host(self.peer.host)
        port = self._local_port()
        aor = f"<sip:{self.settings.username}@{self._domain}>"
        h = Headers()
        h.add(
            "Via",
            f"SIP/2.0/{self.peer.transport.upper()} {host}:{port};branch={new_branch()};rport",
        )
        h.add("Max-Forwards", "70")
        h.add("From", f"{aor};tag={self._tag}")
        h.add("To", aor)
        h.add("Call-ID", self._call_id)
        h.add("CSeq", f"{self._cseq} REGISTER")
        h.add(
            "Contact",
            f"<sip:{self.settings.username}@{host}:{port};transport={self.peer.transport}>",
        )
        h.add("Expires", str(expires))
        h.add("User-Agent", self._user_agent)
        if authorization is not None:
            h.add(*authorization)
        request = Request("REGISTER", self._request_uri(), h)
        done: asyncio.Future[Response | None] = asyncio.get_running_loop().create_future()

        def on_response(resp: Response) -> None:
            if resp.status >= 200 and not done.done():
                done.set_result(resp)

        def on_timeout() -> None:
            if not done.done():
                done.set_result(None)

        tx = ClientTransaction(
            request,
            send=lambda data: self._send(data, self.peer),
            scheduler=self._scheduler,
            reliable=self.peer.reliable,
            timers=self._timers,
            on_response=on_response,
            on_timeout=on_timeout,
            on_terminated=self._table.drop_client,
        )
        self._table.client[tx.key] = tx
        tx.start()
        return await done


def _granted_expires(response: Response, asked: int) -> int:
    """The binding time the registrar granted: Contact ;expires=, else Expires, else ours."""
    for contact in response.headers.get_all("Contact"):
        marker = "expires="
        low = contact.lower()
        if marker in low:
            value = low.split(marker, 1)[1].split(";", 1)[0].strip().strip(">")
            if value.isdigit():
                return int(value)
    value = (response.headers.get("Expires") or "").strip()
    try:
        return int(value) if value.isdigit() else asked
    except (ValueError, SipParseError):
        return asked
