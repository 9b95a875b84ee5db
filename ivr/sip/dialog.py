"""Dialog state (RFC 3261 §12) for calls we answer, and the in-dialog requests we send."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ivr.sip.message import Headers, Request, parse_cseq, parse_name_addr

MAGIC_COOKIE = "z9hG4bK"


def new_tag() -> str:
    """A local tag (§19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(6)


def new_branch() -> str:
    """A branch with the RFC 3261 magic cookie."""
    return MAGIC_COOKIE + secrets.token_hex(8)


@dataclass(frozen=True)
class Peer:
    """Where a message came from or goes to."""

    transport: str  # "udp" | "tcp"
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"

    def __str__(self) -> str:
        return f"{self.transport}:{self.host}:{self.port}"


@dataclass
class Dialog:
    """A confirmed or early dialog on the UAS side."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str  # our To header value, with our tag: From of our requests
    remote_party: str  # the caller's From header value, with its tag: To of our requests
    remote_target: str  # the caller's Contact URI
    route_set: list[str]
    remote_cseq: int
    peer: Peer  # where in-dialog requests go (the INVITE's source: right behind NAT too)
    local_contact: str
    local_cseq: int = field(default_factory=lambda: secrets.randbelow(10_000) + 1)

    @classmethod
    def from_invite(
        cls, invite: Request, *, local_tag: str, peer: Peer, local_contact: str
    ) -> Dialog:
        """Build the dialog state from an initial INVITE (§12.1.1)."""
        h = invite.headers
        from_value = h.get("From") or ""
        to_value = h.get("To") or ""
        remote_tag = parse_name_addr(from_value).tag or ""
        contacts = h.get_all("Contact")
        target = parse_name_addr(contacts[0]).uri if contacts else invite.uri
        cseq, _ = parse_cseq(h.get("CSeq") or "")
        local_party = to_value if parse_name_addr(to_value).tag else f"{to_value};tag={local_tag}"
        return cls(
            call_id=h.get("Call-ID") or "",
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_party=local_party,
            remote_party=from_value,
            remote_target=target,
            route_set=list(h.get_all("Record-Route")),
            remote_cseq=cseq,
            peer=peer,
            local_contact=local_contact,
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    def accepts_cseq(self, req: Request) -> bool:
        """A new in-dialog request must have a higher CSeq than the last (§12.2.2).
        ACK and CANCEL reuse the INVITE's number and are not checked here."""
        cseq, _ = parse_cseq(req.headers.get("CSeq") or "")
        if req.method in ("ACK", "CANCEL"):
            return True
        if cseq <= self.remote_cseq and req.method != "ACK":
            return False
        self.remote_cseq = cseq
        return True

    def make_request(
        self,
        method: str,
        *,
        via_host: str,
        via_port: int,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Request:
        """An in-dialog request from us (§12.2.1.1), loose routing assumed."""
        self.local_cseq += 1
        h = Headers()
        h.add(
            "Via",
            f"SIP/2.0/{self.peer.transport.upper()} {via_host}:{via_port}"
            f";branch={new_branch()};rport",
        )
        for route in self.route_set:
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", self.local_party)
        h.add("To", self.remote_party)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.local_cseq} {method}")
        h.add("Contact", self.local_contact)
        for name, value in extra or []:
            h.add(name, value)
        if content_type:
            h.add("Content-Type", content_type)
        return Request(method=method, uri=self.remote_target, headers=h, body=body)
