"""Digest authentication (ivr.sip.auth) against the RFC example vectors."""

from __future__ import annotations

import hashlib
import re

import pytest

from ivr.sip.auth import (
    AuthError,
    DigestClient,
    authorization,
    digest_response,
    ha1,
    parse_challenge,
)
from ivr.sip.message import Headers, Response

# RFC 2617 §3.5
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
# RFC 7616 §3.9.1 (note the lower-case "of" in this RFC's password)
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def params_of(header: str) -> dict[str, str]:
    assert header.startswith("Digest ")
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}


def test_rfc2617_example_vector() -> None:
    challenge = parse_challenge(RFC2617_CHALLENGE)
    assert challenge.qop == ("auth", "auth-int") and challenge.algorithm == "MD5"
    assert challenge.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
    header = authorization(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="0a4f113b",
        nonce_count=1,
    )
    fields = params_of(header)
    assert fields["response"] == "6629fae49393a05397450978507c4ef1"
    assert (fields["qop"], fields["nc"], fields["cnonce"]) == ("auth", "00000001", "0a4f113b")
    assert fields["opaque"] == challenge.opaque and fields["uri"] == "/dir/index.html"


@pytest.mark.parametrize(
    ("alg", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_example_vectors(alg: str, expected: str) -> None:
    challenge = parse_challenge(RFC7616_CHALLENGE.format(alg=alg))
    response = digest_response(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        cnonce=RFC7616_CNONCE,
    )
    assert response == expected


def test_ha1_helper() -> None:
    # RFC 2617 §3.5: HA1 = MD5("Mufasa:testrealm@host.com:Circle Of Life")
    assert (
        ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"
    )
    with pytest.raises(AuthError):
        ha1("a", "b", "c", algorithm="SHA-512-256")


def test_rfc2069_challenge_without_qop_and_sess_variant() -> None:
    plain = parse_challenge('Digest realm="r", nonce="n"')
    header = authorization(plain, username="u", password="p", method="REGISTER", uri="sip:r")
    fields = params_of(header)
    assert "qop" not in fields and "nc" not in fields
    ha = ha1("u", "r", "p")
    ha2 = hashlib.md5(b"REGISTER:sip:r").hexdigest()
    assert fields["response"] == hashlib.md5(f"{ha}:n:{ha2}".encode()).hexdigest()
    sess = parse_challenge('Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"')
    assert sess.session and sess.base_algorithm == "MD5"
    a = digest_response(
        sess, username="u", password="p", method="M", uri="x", qop="auth", cnonce="c1"
    )
    b = digest_response(
        sess, username="u", password="p", method="M", uri="x", qop="auth", cnonce="c2"
    )
    assert a != b


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="x"',
        "NoOneKnowsThisScheme opaque-data=here",
        'Digest realm="x"',
        'Digest nonce="x"',
        'Digest realm="x", nonce="y", algorithm=SHA-1',
        'Digest realm="x", nonce="y" junk',
        'Digest realm="unterminated, nonce="y"',
    ],
)
def test_bad_challenges(value: str) -> None:
    with pytest.raises(AuthError):
        parse_challenge(value)


def test_client_answers_401_and_407_and_counts_nonce_uses() -> None:
    cnonces = iter(["c1", "c2", "c3"])
    client = DigestClient("1001", "secret", realm="pbx", new_cnonce=lambda: next(cnonces))
    challenge = Headers(
        [
            ("WWW-Authenticate", 'Digest realm="pbx", nonce="abc", qop="auth", algorithm=MD5'),
            ("WWW-Authenticate", 'Digest realm="pbx", nonce="abc", qop="auth", algorithm=SHA-256'),
        ]
    )
    resp = Response(401, "Unauthorized", challenge)
    name, value = client.authorize(resp, method="REGISTER", uri="sip:pbx")
    fields = params_of(value)
    assert (
        name == "Authorization" and fields["algorithm"] == "SHA-256" and fields["nc"] == "00000001"
    )
    _, again = client.authorize(resp, method="REGISTER", uri="sip:pbx")
    assert params_of(again)["nc"] == "00000002"
    proxy = Response(
        407,
        "Proxy Authentication Required",
        Headers([("Proxy-Authenticate", 'Digest realm="pbx", nonce="new"')]),
    )
    name, value = client.authorize(proxy, method="INVITE", uri="sip:x@pbx")
    assert name == "Proxy-Authorization" and "nc=" not in value
    with pytest.raises(AuthError):
        client.authorize(
            Response(
                401,
                "Unauthorized",
                Headers([("WWW-Authenticate", 'Digest realm="other", nonce="n"')]),
            ),
            method="REGISTER",
            uri="sip:pbx",
        )
    with pytest.raises(AuthError):
        client.authorize(Response(403, "Forbidden", Headers()), method="REGISTER", uri="sip:pbx")
