"""The PROTOS c07-sip corpus (4527 datagrams, read from the archive in place): every datagram
parses or raises `SipParseError`, and nothing downstream of a successful parse raises."""

from __future__ import annotations

import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.sip import offer_answer, sdp
from ivr.sip.message import Request, SipParseError, make_response, parse, serialize
from ivr.sip.policy import check_request, check_response
from tests.support import need

CORPUS_SIZE = 4527


def _read(archive: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                yield member.name, handle.read()


@pytest.fixture(scope="module")
def corpus(sip_dir: Path) -> dict[str, bytes]:
    archive = sip_dir / "protos-c07-sip-corpus.tar.xz"
    need(archive.is_file(), f"PROTOS corpus missing at {archive}")
    return dict(_read(archive))


def handle(data: bytes, counts: Counter[str]) -> None:
    """What a UAS does with one datagram, minus the sockets; only typed errors may escape."""
    try:
        msg = parse(data)
    except SipParseError as error:
        counts[f"raised {error.status}"] += 1
        if isinstance(error.partial, Request):
            serialize(make_response(error.partial, error.status or 400))
        return
    counts["parsed"] += 1
    if not isinstance(msg, Request):
        check_response(msg)
        return
    reply = check_request(msg)
    if reply is not None:
        counts[f"rejected {reply.status}"] += 1
        serialize(reply)
        return
    counts["accepted"] += 1
    serialize(make_response(msg, 200, to_tag="t"))
    if msg.body:
        try:
            offer_answer.negotiate(sdp.parse(msg.body), local_ip="127.0.0.1", local_port=16000)
        except sdp.SdpError:
            counts["sdp refused"] += 1


def test_every_datagram_parses_or_raises_the_typed_error(corpus: dict[str, bytes]) -> None:
    counts: Counter[str] = Counter()
    seen = 0
    for data in corpus.values():
        handle(data, counts)
        seen += 1
    print(f"PROTOS c07-sip: {seen} datagrams: {dict(sorted(counts.items()))}")
    assert seen == CORPUS_SIZE
    raised = sum(n for key, n in counts.items() if key.startswith("raised"))
    assert counts["parsed"] + raised == CORPUS_SIZE
    # The suite is mostly malformed: a parser that accepted everything would be wrong too.
    assert raised > 500 and sum(n for k, n in counts.items() if k.startswith("rejected")) > 500


def test_the_valid_case_is_answered(corpus: dict[str, bytes]) -> None:
    data = corpus["rx/00000.bin"]
    msg = parse(data)
    assert isinstance(msg, Request) and check_request(msg) is None
    answer = offer_answer.negotiate(sdp.parse(msg.body), local_ip="127.0.0.1", local_port=16000)
    assert answer.codec.name == "PCMU" and answer.remote == ("127.0.0.1", 9876)
