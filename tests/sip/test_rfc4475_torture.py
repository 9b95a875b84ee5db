"""Every RFC 4475 torture message gets the handling its manifest line asks of a UAS.

A request's outcome is the status of the parser's `SipParseError`, else the status of
`check_request`, else "accept". A response's outcome is "accept" or "drop" (never answered).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ivr.sip.message import Request, SipParseError, parse, parse_name_addr, parse_uri
from ivr.sip.policy import check_request, check_response

ACCEPT = "accept"
DROP = "drop"

# file -> outcomes the manifest allows (read from its expected_handling column).
EXPECTED: dict[str, set[int | str]] = {
    "wsinv.dat": {ACCEPT},
    "intmeth.dat": {405, 501},
    "esc01.dat": {ACCEPT},
    "escnull.dat": {405, 501},  # REGISTER: parsed fine, not a method an IVR serves
    "esc02.dat": {405, 501},
    "lwsdisp.dat": {ACCEPT},
    "longreq.dat": {ACCEPT},
    "dblreq.dat": {405, 501},  # the REGISTER only
    "semiuri.dat": {ACCEPT},
    "transports.dat": {ACCEPT},
    "mpart01.dat": {405, 501},  # MESSAGE
    "unreason.dat": {ACCEPT},
    "noreason.dat": {ACCEPT},
    "badinv01.dat": {400, DROP},
    "clerr.dat": {400, DROP},
    "ncl.dat": {400, DROP},
    "scalar02.dat": {400},
    "scalarlg.dat": {DROP},
    "quotbal.dat": {400},
    "ltgtruri.dat": {400},
    "lwsruri.dat": {400},
    "lwsstart.dat": {400},
    "trws.dat": {400},
    "escruri.dat": {400},
    "baddate.dat": {400, ACCEPT},
    "regbadct.dat": {400, 405, 501},
    "badaspec.dat": {400, ACCEPT},
    "baddn.dat": {400, ACCEPT},
    "badvers.dat": {505},
    "mismatch01.dat": {400},
    "mismatch02.dat": {400},
    "bigcode.dat": {DROP},
    "badbranch.dat": {ACCEPT},
    "insuf.dat": {400},
    "unkscm.dat": {416},
    "novelsc.dat": {416},
    "unksm2.dat": {405, 501},
    "bext01.dat": {420},
    "invut.dat": {415},
    "regaut01.dat": {405, 501, 403},
    "multi01.dat": {400},
    "mcl01.dat": {400},
    "bcast.dat": {ACCEPT, DROP},
    "zeromf.dat": {ACCEPT},
    "cparam01.dat": {405, 501},
    "cparam02.dat": {405, 501},
    "regescrt.dat": {405, 501},
    "sdp01.dat": {406},
    "inv2543.dat": {ACCEPT},
    "test.dat": {400, DROP, ACCEPT},  # not in the RFC: only must not crash
}


def manifest(sip_dir: Path) -> list[dict[str, str]]:
    with (sip_dir / "rfc4475" / "manifest.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def outcome(data: bytes) -> int | str:
    try:
        msg = parse(data)
    except SipParseError as error:
        return DROP if error.status is None else error.status
    if not isinstance(msg, Request):
        return DROP if check_response(msg) else ACCEPT
    reply = check_request(msg)
    return ACCEPT if reply is None else reply.status


def test_table_covers_the_whole_manifest(sip_dir: Path) -> None:
    assert {row["file"] for row in manifest(sip_dir)} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_manifest_handling(sip_dir: Path, name: str) -> None:
    data = (sip_dir / "rfc4475" / name).read_bytes()
    assert outcome(data) in EXPECTED[name]


def test_rejections_carry_the_named_headers(sip_dir: Path) -> None:
    folder = sip_dir / "rfc4475"
    bext = parse((folder / "bext01.dat").read_bytes())
    assert isinstance(bext, Request)
    reply = check_request(bext)
    assert reply is not None
    assert reply.headers.get_all("Unsupported") == [
        "nothingSupportsThis",
        "nothingSupportsThisEither",
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    ]
    for name, header, value in (
        ("invut.dat", "Accept", "application/sdp"),
        ("sdp01.dat", "Accept", "application/sdp"),
    ):
        req = parse((folder / name).read_bytes())
        assert isinstance(req, Request)
        reply = check_request(req)
        assert reply is not None and reply.headers.get(header) == value
    intmeth = parse((folder / "intmeth.dat").read_bytes())
    assert isinstance(intmeth, Request)
    reply = check_request(intmeth, new_tag=lambda: "t1")
    assert reply is not None and "INVITE" in (reply.headers.get("Allow") or "")
    assert parse_name_addr(reply.headers.get("To") or "").tag == "t1"
    mismatch = parse((folder / "mismatch01.dat").read_bytes())
    assert isinstance(mismatch, Request)
    reply = check_request(mismatch)
    assert reply is not None and "CSeq" in reply.reason


def test_escapes_are_decoded_not_misread(sip_dir: Path) -> None:
    folder = sip_dir / "rfc4475"
    esc01 = parse((folder / "esc01.dat").read_bytes())
    assert isinstance(esc01, Request)
    uri = parse_uri(esc01.uri)
    assert (uri.scheme, uri.user, uri.host) == ("sip", "sips:user@example.com", "example.net")
    escnull = parse((folder / "escnull.dat").read_bytes())
    users = [parse_uri(parse_name_addr(c).uri).user for c in escnull.headers.get_all("Contact")]
    assert users == ["\x00", "\x00\x00"]
    esc02 = parse((folder / "esc02.dat").read_bytes())
    assert isinstance(esc02, Request) and esc02.method == "RE%47IST%45R"
    regescrt = parse((folder / "regescrt.dat").read_bytes())
    contact = parse_uri(parse_name_addr(regescrt.headers.get("Contact") or "").uri)
    assert contact.headers == {"Route": "%3Csip:sip.example.com%3E"}
    assert "Route" not in regescrt.headers
