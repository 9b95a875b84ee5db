"""The registrar for officers' softphones (RFC 3261 §10): REGISTER in, one response out.

Pure logic over an injected :class:`~ivr.sip.bindings.CredentialSource`, an injected
:class:`~ivr.sip.bindings.BindingStore` and an injected wall clock; no sockets, no timers.

- Digest authentication with MD5 and SHA-256 (RFC 7616, RFC 8760; offered in the order of
  ``digest_algorithms``, an algorithm left out is refused),
  ``qop=auth``, checked against the stored HA1, never a password. Nonces are stateless: a
  timestamp signed with the ``nonce_secret`` every worker shares, so any worker can check one.
- A REGISTER without credentials gets 401; wrong credentials, an unknown user or a user name that
  is not the number being registered get 403. Unknown and known users are challenged alike, so
  the directory cannot be enumerated.
- Failed attempts from one source address are counted; past ``ban_failures`` within
  ``ban_window_s`` (or four times as many REGISTERs without credentials: a flood) the source is
  answered 403 for ``ban_s`` without a database look-up.
- Expiry: below ``min_expires_s`` → 423 Interval Too Brief with Min-Expires; above
  ``max_expires_s`` → shortened. ``Expires: 0`` removes a contact, ``Contact: *`` all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ivr.officer_settings import RegistrarSettings
from ivr.sip.auth import AuthError, parse_challenge
from ivr.sip.bindings import Binding, BindingChange, BindingStore, Credentials, CredentialSource
from ivr.sip.dialog import Peer, new_tag
from ivr.sip.message import (
    Request,
    Response,
    SipParseError,
    bounded_int,
    make_response,
    parse_cseq,
    parse_name_addr,
    parse_uri,
)

log = logging.getLogger(__name__)

CHALLENGES_PER_FAILURE = 4  # unauthenticated REGISTERs allowed per failed attempt allowed
MAX_EXPIRES_TEXT = 2**31 - 1

_HASH: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}


class FailureBan:
    """Counts failed attempts per source host and bans a host that fails too often.

    Bounded: beyond ``max_sources`` tracked hosts the oldest entries are forgotten, so a flood
    from many addresses cannot grow memory without limit.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        ban_s: float,
        max_sources: int,
        clock: Callable[[], float],
    ) -> None:
        self._limit = limit
        self._window = window_s
        self._ban = ban_s
        self._max = max_sources
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._banned: dict[str, float] = {}

    @classmethod
    def of(
        cls, settings: RegistrarSettings, clock: Callable[[], float], *, scale: int = 1
    ) -> FailureBan:
        """A ban after ``scale * ban_failures`` events in the settings' window."""
        return cls(
            limit=scale * settings.ban_failures,
            window_s=settings.ban_window_s,
            ban_s=settings.ban_s,
            max_sources=settings.max_tracked_sources,
            clock=clock,
        )

    def banned(self, host: str) -> bool:
        """True while `host` is banned."""
        until = self._banned.get(host)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._banned[host]
        return False

    def fail(self, host: str) -> bool:
        """Count one failure; True when it bans the host."""
        now = self._clock()
        events = self._failures.pop(host, None) or deque()
        self._failures[host] = events  # re-inserted: dict order is least recently failed first
        events.append(now)
        while events and events[0] <= now - self._window:
            events.popleft()
        while len(self._failures) > self._max:
            del self._failures[next(iter(self._failures))]
        if len(events) < self._limit:
            return False
        del self._failures[host]
        self._banned[host] = now + self._ban
        while len(self._banned) > self._max:
            del self._banned[next(iter(self._banned))]
        log.warning("registrar: %s banned for %.0f s after repeated failures", host, self._ban)
        return True


@dataclass(frozen=True)
class _Digest:
    """The fields of an Authorization header the check needs."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str
    qop: str | None
    nc: str
    cnonce: str


class Registrar:
    """Answers REGISTER requests for the officers of the directory."""

    def __init__(
        self,
        settings: RegistrarSettings,
        *,
        credentials: CredentialSource,
        store: BindingStore,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self._store = store
        self._clock = clock
        self.ban = FailureBan.of(settings, clock)  # wrong credentials, unknown users
        self.flood = FailureBan.of(settings, clock, scale=CHALLENGES_PER_FAILURE)  # no credentials
        self._secret = settings.nonce_secret.encode()

    async def handle(self, req: Request, peer: Peer) -> Response:
        """The final response to one REGISTER. Never raises on peer input."""
        if self.ban.banned(peer.host) or self.flood.banned(peer.host):
            return self._reply(req, 403, "Forbidden (too many failed attempts)")
        try:
            return await self._register(req, peer)
        except SipParseError as exc:
            return self._reply(req, exc.status or 400, str(exc)[:80] or None)

    async def _register(self, req: Request, peer: Peer) -> Response:
        aor = parse_uri(parse_name_addr(req.headers.get("To") or "").uri)
        if not aor.user:
            return self._reply(req, 404, "Not Found (no user in To)")
        digest = self._digest(req)
        if digest is None:
            self.flood.fail(peer.host)
            return self._challenge(req)
        freshness = self._nonce_state(digest.nonce)
        if freshness == "forged" or digest.realm != self.settings.realm:
            self.ban.fail(peer.host)
            return self._challenge(req)
        if freshness == "stale":
            return self._challenge(req, stale=True)
        if digest.username != aor.user:
            self.ban.fail(peer.host)
            return self._reply(req, 403, "Forbidden (not your number)")
        creds = await self._credentials.credentials(digest.username)
        if creds is None or not self._valid(digest, creds, req.method):
            self.ban.fail(peer.host)
            log.info("registrar: failed REGISTER for %s from %s", _mask(aor.user), peer.host)
            return self._reply(req, 403, "Forbidden (wrong credentials)")
        return await self._bind(req, peer, digest.username)

    # -- authentication ------------------------------------------------------------------------
    def _digest(self, req: Request) -> _Digest | None:
        for value in req.headers.lines("Authorization"):
            try:
                params = parse_challenge(value).params
            except AuthError:
                continue
            algorithm = params.get("algorithm", "MD5").upper()
            if algorithm not in _HASH or "response" not in params:
                continue
            return _Digest(
                username=params.get("username", ""),
                realm=params["realm"],
                nonce=params["nonce"],
                uri=params.get("uri", ""),
                response=params["response"].lower(),
                algorithm=algorithm,
                qop=params.get("qop", "").lower() or None,
                nc=params.get("nc", ""),
                cnonce=params.get("cnonce", ""),
            )
        return None

    def new_nonce(self) -> str:
        """A nonce any worker sharing the secret can check: ``<hex time>.<signature>``."""
        stamp = f"{int(self._clock()):x}"
        return f"{stamp}.{self._sign(stamp)}"

    def _sign(self, stamp: str) -> str:
        message = f"{stamp}:{self.settings.realm}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def _nonce_state(self, nonce: str) -> str:
        stamp, _, signature = nonce.partition(".")
        if not hmac.compare_digest(signature, self._sign(stamp)):
            return "forged"
        try:
            issued = int(stamp, 16)
        except ValueError:
            return "forged"
        age = self._clock() - issued
        return "fresh" if -5 <= age <= self.settings.nonce_ttl_s else "stale"

    def _valid(self, digest: _Digest, creds: Credentials, method: str) -> bool:
        secret = creds.ha1.get(digest.algorithm)
        if (
            digest.algorithm not in self.settings.digest_algorithms
            or not secret
            or creds.realm != digest.realm
        ):
            return False
        digest_of = _HASH[digest.algorithm]
        ha2 = digest_of(f"{method}:{digest.uri}".encode())
        if digest.qop == "auth":
            text = f"{secret}:{digest.nonce}:{digest.nc}:{digest.cnonce}:auth:{ha2}"
        elif digest.qop is None:  # RFC 2069 phones
            text = f"{secret}:{digest.nonce}:{ha2}"
        else:
            return False  # auth-int is not offered
        return hmac.compare_digest(digest_of(text.encode()), digest.response)

    def _challenge(self, req: Request, *, stale: bool = False) -> Response:
        nonce = self.new_nonce()
        headers = [
            (
                "WWW-Authenticate",
                f'Digest realm="{self.settings.realm}", nonce="{nonce}", '
                f'algorithm={algorithm}, qop="auth"' + (", stale=true" if stale else ""),
            )
            for algorithm in self.settings.digest_algorithms
        ]
        return make_response(req, 401, to_tag=new_tag(), headers=headers)

    # -- bindings ------------------------------------------------------------------------------
    async def _bind(self, req: Request, peer: Peer, username: str) -> Response:
        now = self._clock()
        contacts = req.headers.get_all("Contact")
        if not contacts:  # a query: the current bindings
            return self._ok(req, await self._store.bindings(username, now=now), now)
        default = _expires(req.headers.get("Expires"), self.settings.default_expires_s)
        call_id = req.headers.get("Call-ID") or ""
        cseq, _ = parse_cseq(req.headers.get("CSeq") or "")
        if any(c.strip() == "*" for c in contacts):
            if len(contacts) != 1 or default != 0:
                return self._reply(req, 400, "Bad Request (* needs Expires: 0 alone)")
            change = BindingChange(username, remove_all=True, max_devices=self._max)
            return self._ok(req, await self._store.apply(change, now=now), now)
        upsert: list[Binding] = []
        remove: list[str] = []
        for value in contacts:
            addr = parse_name_addr(value)
            parse_uri(addr.uri)  # a malformed contact is a 400, not a stored binding
            expires = _expires(addr.param("expires"), default)
            if expires == 0:
                remove.append(addr.uri)
                continue
            if expires < self.settings.min_expires_s:
                return self._reply(
                    req, 423, headers=[("Min-Expires", str(self.settings.min_expires_s))]
                )
            expires = min(expires, self.settings.max_expires_s)
            upsert.append(
                Binding(
                    username=username,
                    contact=addr.uri,
                    source=f"{peer.transport}:{peer.host}:{peer.port}",
                    call_id=call_id,
                    cseq=cseq,
                    registered_at=now,
                    expires_at=now + expires,
                    user_agent=(req.headers.get("User-Agent") or "")[:255],
                )
            )
        if await self._out_of_order(username, call_id, cseq, now):
            return self._reply(req, 500, "Server Internal Error (CSeq out of order)")
        change = BindingChange(username, upsert=upsert, remove=remove, max_devices=self._max)
        bindings = await self._store.apply(change, now=now)
        log.info("registrar: %s has %d device(s)", _mask(username), len(bindings))
        return self._ok(req, bindings, now)

    @property
    def _max(self) -> int:
        return self.settings.max_devices

    async def _out_of_order(self, username: str, call_id: str, cseq: int, now: float) -> bool:
        """RFC 3261 §10.3 step 7: a REGISTER older than the one that made a binding is refused."""
        return any(
            b.call_id == call_id and b.cseq > cseq
            for b in await self._store.bindings(username, now=now)
        )

    def _ok(self, req: Request, bindings: list[Binding], now: float) -> Response:
        headers = [("Contact", f"<{b.contact}>;expires={b.remaining_s(now)}") for b in bindings]
        return make_response(req, 200, to_tag=new_tag(), headers=headers)

    def _reply(
        self,
        req: Request,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        return make_response(req, status, reason, to_tag=new_tag(), headers=headers or [])


def _expires(text: str | None, default: int) -> int:
    if text is None:
        return default
    value = bounded_int(text.strip(), MAX_EXPIRES_TEXT)
    if value is None:
        raise SipParseError(f"bad expires value {text[:20]!r}", status=400)
    return value


def _mask(username: str) -> str:
    """An extension in logs: the last two characters only (it may be a personal number)."""
    return "*" * max(0, len(username) - 2) + username[-2:]
