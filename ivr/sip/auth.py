"""HTTP Digest authentication for SIP clients (RFC 2617, RFC 7616, RFC 3261 §22). Pure code.

Used by the outbound REGISTER to a PBX or SIP trunk: read the WWW-Authenticate or
Proxy-Authenticate challenge of a 401/407, answer with Authorization or Proxy-Authorization.
MD5, MD5-sess, SHA-256 and SHA-256-sess; qop `auth` (preferred) or `auth-int`, or none (RFC 2069).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.sip.message import Response

__all__ = [
    "AuthError",
    "Challenge",
    "DigestClient",
    "authorization",
    "digest_response",
    "ha1",
    "parse_challenge",
]


class AuthError(ValueError):
    """A challenge that cannot be read or answered."""


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
_STRENGTH = {"MD5": 0, "MD5-SESS": 0, "SHA-256": 1, "SHA-256-SESS": 1}
_PARAM = re.compile(r'\s*([A-Za-z0-9\-_.]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s"]*)\s*(,|$)', re.DOTALL)


@dataclass(frozen=True)
class Challenge:
    """A parsed Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    params: dict[str, str] = field(default_factory=dict)

    @property
    def base_algorithm(self) -> str:
        """`MD5` or `SHA-256`, without the `-sess` suffix."""
        return self.algorithm.upper().removesuffix("-SESS")

    @property
    def session(self) -> bool:
        """Whether this is a `-sess` algorithm (HA1 bound to the nonce and cnonce)."""
        return self.algorithm.upper().endswith("-SESS")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL)
    return value


def parse_challenge(value: str) -> Challenge:
    """Parse a `WWW-Authenticate`/`Proxy-Authenticate` value of the Digest scheme."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise AuthError(f"unsupported authentication scheme {scheme[:30]!r}")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match or match.end() == pos:
            raise AuthError(f"malformed challenge near {rest[pos : pos + 30]!r}")
        params[match.group(1).lower()] = _unquote(match.group(2))
        pos = match.end()
    if "realm" not in params or "nonce" not in params:
        raise AuthError("challenge without realm or nonce")
    algorithm = params.get("algorithm", "MD5")
    if algorithm.upper() not in _STRENGTH:
        raise AuthError(f"unsupported digest algorithm {algorithm[:30]!r}")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        params=params,
    )


def _hash(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8"))


def ha1(username: str, realm: str, password: str, *, algorithm: str = "MD5") -> str:
    """H(username:realm:password), the credential a server may store instead of the
    password."""
    base = algorithm.upper().removesuffix("-SESS")
    if base not in _HASHES:
        raise AuthError(f"unsupported digest algorithm {algorithm!r}")
    return _hash(base, f"{username}:{realm}:{password}")


def digest_response(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    qop: str | None,
    cnonce: str = "",
    nonce_count: int = 1,
    body: bytes = b"",
) -> str:
    """The `response=` value (RFC 7616 §3.4.1)."""
    algorithm = challenge.base_algorithm
    secret = ha1(username, challenge.realm, password, algorithm=algorithm)
    if challenge.session:
        secret = _hash(algorithm, f"{secret}:{challenge.nonce}:{cnonce}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + _HASHES[algorithm](body)
    ha2 = _hash(algorithm, a2)
    if qop is None:
        return _hash(algorithm, f"{secret}:{challenge.nonce}:{ha2}")
    nc = f"{nonce_count:08x}"
    return _hash(algorithm, f"{secret}:{challenge.nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str | None = None,
    nonce_count: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization/Proxy-Authorization header value answering `challenge`."""
    if challenge.qop and not {"auth", "auth-int"} & set(challenge.qop):
        raise AuthError(f"no supported qop in {challenge.qop}")
    qop = None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    if cnonce is None:
        cnonce = secrets.token_hex(8)
    response = digest_response(
        challenge,
        username=username,
        password=password,
        method=method,
        uri=uri,
        qop=qop,
        cnonce=cnonce,
        nonce_count=nonce_count,
        body=body,
    )
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    if qop is not None:
        parts += [f"qop={qop}", f"nc={nonce_count:08x}", f"cnonce={_quote(cnonce)}"]
    return "Digest " + ", ".join(parts)


class DigestClient:
    """Answers the challenges of one registrar or trunk, counting nonce uses (`nc`)."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        realm: str | None = None,
        new_cnonce: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.username = username
        self._password = password
        self.realm = realm
        self._new_cnonce = new_cnonce
        self._nonce: str | None = None
        self._count = 0

    def authorize(
        self, response: Response, *, method: str, uri: str, body: bytes = b""
    ) -> tuple[str, str]:
        """(header name, value) answering a 401 or 407; raises `AuthError` when no challenge
        can be answered (wrong realm, unknown scheme or algorithm)."""
        if response.status == 401:
            source, target = "WWW-Authenticate", "Authorization"
        elif response.status == 407:
            source, target = "Proxy-Authenticate", "Proxy-Authorization"
        else:
            raise AuthError(f"response {response.status} is not a challenge")
        usable: list[Challenge] = []
        for value in response.headers.lines(source):
            try:
                challenge = parse_challenge(value)
            except AuthError:
                continue
            if self.realm is None or challenge.realm == self.realm:
                usable.append(challenge)
        if not usable:
            raise AuthError(f"no usable {source} challenge")
        best = max(usable, key=lambda c: _STRENGTH[c.algorithm.upper()])
        if best.nonce != self._nonce:
            self._nonce, self._count = best.nonce, 0
        self._count += 1
        value = authorization(
            best,
            username=self.username,
            password=self._password,
            method=method,
            uri=uri,
            cnonce=self._new_cnonce(),
            nonce_count=self._count,
            body=body,
        )
        return target, value
