"""The registrar's request→response logic on an in-memory store and a virtual clock."""

from __future__ import annotations

import asyncio

import pytest

from integrations.officers import sip_ha1, sip_ha1_sha256
from ivr.officer_settings import RegistrarSettings
from ivr.sip.auth import DigestClient, parse_challenge
from ivr.sip.bindings import Credentials, MemoryBindings
from ivr.sip.dialog import Peer
from ivr.sip.message import Request, Response, parse
from ivr.sip.registrar import Registrar

REALM = "tongdai"
PHONE = Peer("udp", "192.0.2.7", 5062)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def register_request(
    user: str = "1001",
    *,
    contact: str | None = "<sip:1001@192.0.2.7:5062>",
    expires: int | None = 600,
    cseq: int = 1,
    call_id: str = "reg-1@192.0.2.7",
    authorization: str | None = None,
    to_user: str | None = None,
) -> Request:
    lines = [
        f"REGISTER sip:{REALM} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-{cseq}-{call_id[:5]}",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{REALM}>;tag=ph1",
        f"To: <sip:{to_user or user}@{REALM}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "User-Agent: softphone/1.0",
    ]
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines += ["Content-Length: 0", "", ""]
    msg = parse("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def make(settings: RegistrarSettings | None = None) -> tuple[Registrar, MemoryBindings, Clock]:
    password = "mật khẩu"
    creds = Credentials(
        "1001",
        REALM,
        {
            "MD5": sip_ha1("1001", REALM, password),
            "SHA-256": sip_ha1_sha256("1001", REALM, password),
        },
    )
    store = MemoryBindings(
        [creds, Credentials("1002", REALM, {"MD5": sip_ha1("1002", REALM, "x")})]
    )
    clock = Clock()
    registrar = Registrar(
        settings or RegistrarSettings(realm=REALM, nonce_secret="s" * 32),
        credentials=store,
        store=store,
        clock=clock,
    )
    return registrar, store, clock


def handle(registrar: Registrar, req: Request, peer: Peer = PHONE) -> Response:
    return asyncio.run(registrar.handle(req, peer))


def register(
    registrar: Registrar,
    *,
    password: str = "mật khẩu",
    user: str = "1001",
    realm: str | None = None,
    peer: Peer = PHONE,
    prefer_md5: bool = False,
    **fields: object,
) -> Response:
    """The challenge, then the REGISTER answering it (like a phone)."""
    first = handle(registrar, register_request(user, **fields), peer)  # type: ignore[arg-type]
    assert first.status == 401
    if prefer_md5:
        md5 = [v for v in first.headers.lines("WWW-Authenticate") if "MD5" in v]
        first.headers.set("WWW-Authenticate", md5[0])
    client = DigestClient(user, password, realm=realm)
    _, value = client.authorize(first, method="REGISTER", uri=f"sip:{REALM}")
    second = dict(fields, authorization=value, cseq=2)
    return handle(registrar, register_request(user, **second), peer)  # type: ignore[arg-type]


def test_challenge_offers_the_configured_algorithms_in_order() -> None:
    registrar, _, _ = make()
    resp = handle(registrar, register_request())
    assert resp.status == 401
    challenges = [parse_challenge(v) for v in resp.headers.lines("WWW-Authenticate")]
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert all(c.realm == REALM and c.qop == ("auth",) for c in challenges)
    assert challenges[0].nonce.count(".") == 1


@pytest.mark.parametrize("prefer_md5", [False, True])
def test_registers_with_sha256_or_md5(prefer_md5: bool) -> None:
    registrar, store, clock = make()
    resp = register(registrar, prefer_md5=prefer_md5)  # DigestClient takes the strongest
    assert resp.status == 200
    assert resp.headers.get_all("Contact") == ["<sip:1001@192.0.2.7:5062>;expires=600"]
    (binding,) = asyncio.run(store.bindings("1001", now=clock.now))
    assert binding.source == "udp:192.0.2.7:5062"
    assert binding.contact == "sip:1001@192.0.2.7:5062"
    assert binding.user_agent == "softphone/1.0"


def test_an_algorithm_not_offered_is_refused() -> None:
    settings = RegistrarSettings(realm=REALM, nonce_secret="s" * 32, digest_algorithms=["SHA-256"])
    registrar, _, _ = make(settings)
    assert register(registrar).status == 200
    first = handle(registrar, register_request())
    assert [parse_challenge(v).algorithm for v in first.headers.lines("WWW-Authenticate")] == [
        "SHA-256"
    ]
    first.headers.set(
        "WWW-Authenticate", first.headers.lines("WWW-Authenticate")[0].replace("SHA-256", "MD5")
    )
    _, value = DigestClient("1001", "mật khẩu").authorize(
        first, method="REGISTER", uri=f"sip:{REALM}"
    )
    assert handle(registrar, register_request(authorization=value, cseq=3)).status == 403


def test_wrong_password_is_403_and_stores_nothing() -> None:
    registrar, store, clock = make()
    resp = register(registrar, password="sai")
    assert (resp.status, resp.reason) == (403, "Forbidden (wrong credentials)")
    assert asyncio.run(store.bindings("1001", now=clock.now)) == []


def test_unknown_user_is_challenged_like_a_known_one_then_403() -> None:
    registrar, store, _ = make()
    resp = register(registrar, user="9999", contact="<sip:9999@192.0.2.7:5062>")
    assert resp.status == 403
    assert store.rows == {}


def test_nobody_registers_a_number_that_is_not_theirs() -> None:
    registrar, store, _ = make()
    first = handle(registrar, register_request("1002"))
    _, value = DigestClient("1001", "mật khẩu").authorize(
        first, method="REGISTER", uri=f"sip:{REALM}"
    )
    resp = handle(registrar, register_request("1002", authorization=value))
    assert (resp.status, resp.reason) == (403, "Forbidden (not your number)")
    assert store.rows == {}


def test_a_nonce_from_another_secret_is_challenged_again() -> None:
    registrar, _, _ = make()
    other, _, _ = make(RegistrarSettings(realm=REALM, nonce_secret="t" * 32))
    first = handle(other, register_request())
    _, value = DigestClient("1001", "mật khẩu").authorize(
        first, method="REGISTER", uri=f"sip:{REALM}"
    )
    assert handle(registrar, register_request(authorization=value, cseq=2)).status == 401


def test_stale_nonce_gets_a_stale_challenge() -> None:
    registrar, _, clock = make()
    first = handle(registrar, register_request())
    _, value = DigestClient("1001", "mật khẩu").authorize(
        first, method="REGISTER", uri=f"sip:{REALM}"
    )
    clock.now += 301
    resp = handle(registrar, register_request(authorization=value, cseq=2))
    assert resp.status == 401
    assert all(parse_challenge(v).stale for v in resp.headers.lines("WWW-Authenticate"))


def test_too_brief_is_423_with_min_expires_and_too_long_is_shortened() -> None:
    registrar, _, _ = make()
    brief = register(registrar, expires=30)
    assert brief.status == 423
    assert brief.headers.get("Min-Expires") == "60"
    long = register(registrar, expires=86_400)
    assert long.status == 200
    assert long.headers.get_all("Contact") == ["<sip:1001@192.0.2.7:5062>;expires=3600"]


def test_bindings_expire_with_the_clock() -> None:
    registrar, store, clock = make()
    assert register(registrar, expires=60).status == 200
    clock.now += 59
    assert len(asyncio.run(store.bindings("1001", now=clock.now))) == 1
    clock.now += 2
    assert asyncio.run(store.bindings("1001", now=clock.now)) == []


def test_several_devices_then_unregister_one_then_all() -> None:
    registrar, store, clock = make()
    desk = Peer("udp", "192.0.2.8", 5060)
    assert register(registrar, call_id="a@x").status == 200
    both = register(registrar, call_id="b@y", peer=desk, contact="<sip:1001@192.0.2.8>")
    assert both.status == 200
    assert len(both.headers.get_all("Contact")) == 2
    one = register(registrar, call_id="b@y", peer=desk, contact="<sip:1001@192.0.2.8>", expires=0)
    assert one.headers.get_all("Contact") == ["<sip:1001@192.0.2.7:5062>;expires=600"]
    assert register(registrar, call_id="a@x", contact="*", expires=0).status == 200
    assert asyncio.run(store.bindings("1001", now=clock.now)) == []
    star_with_expiry = register(registrar, call_id="a@x", contact="*", expires=60)
    assert star_with_expiry.status == 400


def test_device_cap_drops_the_least_recently_refreshed() -> None:
    settings = RegistrarSettings(realm=REALM, nonce_secret="s" * 32, max_devices=2)
    registrar, store, clock = make(settings)
    for n in range(3):
        clock.now += 1
        resp = register(registrar, call_id=f"{n}@x", contact=f"<sip:1001@192.0.2.{10 + n}>")
        assert resp.status == 200
    contacts = [b.contact for b in asyncio.run(store.bindings("1001", now=clock.now))]
    assert contacts == ["sip:1001@192.0.2.11", "sip:1001@192.0.2.12"]


def test_query_without_contact_lists_bindings() -> None:
    registrar, _, _ = make()
    assert register(registrar).status == 200
    query = register(registrar, contact=None, expires=None)
    assert query.headers.get_all("Contact") == ["<sip:1001@192.0.2.7:5062>;expires=600"]


def test_repeated_failures_ban_the_source_without_looking_anyone_up() -> None:
    registrar, store, clock = make()
    for _ in range(5):
        assert register(registrar, password="sai").status == 403
    lookups = store.lookups
    banned = handle(registrar, register_request())
    assert (banned.status, banned.reason) == (403, "Forbidden (too many failed attempts)")
    assert store.lookups == lookups
    # another source is not affected, and the ban lifts
    assert register(registrar, peer=Peer("udp", "192.0.2.99", 5060)).status == 200
    clock.now += 301
    assert register(registrar).status == 200


def test_a_flood_of_unauthenticated_registers_is_banned_too() -> None:
    registrar, _, _ = make()
    statuses = [handle(registrar, register_request(cseq=n)).status for n in range(30)]
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {403}


def test_malformed_expires_is_400() -> None:
    registrar, _, _ = make()
    first = handle(registrar, register_request())
    _, value = DigestClient("1001", "mật khẩu").authorize(
        first, method="REGISTER", uri=f"sip:{REALM}"
    )
    req = register_request(authorization=value, contact="<sip:1001@192.0.2.7>;expires=abc")
    assert handle(registrar, req).status == 400
