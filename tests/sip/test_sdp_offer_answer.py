"""SDP parsing/serialising and RFC 3264 offer/answer (ivr.sip.sdp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.sip import offer_answer, sdp
from ivr.sip.message import parse as parse_sip

LOCAL = {"local_ip": "192.0.2.10", "local_port": 16000}

# An offer shaped like those of sipp's uac_ivr scenario and common softphones (canonical form).
SOFTPHONE_OFFER = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def offer(formats: str, *, extra: str = "", conn: str = "192.0.2.20", session: str = "") -> bytes:
    """A one-stream audio offer with the given m= formats and extra media lines."""
    text = (
        "v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\n"
        f"c=IN IP4 {conn}\r\nt=0 0\r\n{session}"
        f"m=audio 40000 RTP/AVP {formats}\r\n{extra}"
    )
    return text.encode()


def test_round_trip_is_byte_exact() -> None:
    desc = sdp.parse(SOFTPHONE_OFFER)
    assert sdp.serialize(desc) == SOFTPHONE_OFFER
    audio = sdp.audio_media(desc)
    assert audio is not None and audio.ptime == 20 and audio.fmtp(101) == "0-15"
    broken = sdp.parse(offer("8 31", extra="a=rtpmap:31 LPC\r\n"))  # no clock rate: skipped
    assert [c.name for c in broken.media[0].codecs()] == ["PCMA"]
    assert [c.name for c in audio.codecs()] == ["PCMA", "PCMU", "telephone-event"]


def test_rfc4475_bodies_parse(sip_dir: Path) -> None:
    """SDP bodies of the torture messages: two media sections, session-level connection."""
    msg = parse_sip((sip_dir / "rfc4475" / "wsinv.dat").read_bytes())
    desc = sdp.parse(msg.body)
    assert [m.media for m in desc.media] == ["audio", "video"]
    assert sdp.connection_address(desc) == "192.0.2.4"
    answer = offer_answer.negotiate(desc, **LOCAL)
    assert answer.codec.name == "PCMU"
    assert [(m.media, m.port) for m in answer.description.media] == [("audio", 16000), ("video", 0)]


@pytest.mark.parametrize(
    ("body", "codecs", "expected_pt", "expected_name", "dtmf"),
    [
        (
            offer("0 8 101", extra="a=rtpmap:101 telephone-event/8000\r\n"),
            ("PCMA", "PCMU"),
            0,
            "PCMU",
            101,
        ),
        (offer("8 0"), ("PCMA", "PCMU"), 8, "PCMA", None),
        (offer("18 3 8"), ("PCMU", "PCMA"), 8, "PCMA", None),  # static PT 8 without rtpmap
        (offer("96 0", extra="a=rtpmap:96 opus/48000/2\r\n"), ("PCMA", "PCMU"), 0, "PCMU", None),
        (offer("0 96", extra="a=rtpmap:96 telephone-event/8000\r\n"), ("PCMA",), None, None, None),
        (
            offer("97 0 96", extra="a=rtpmap:97 telephone-event/8000\r\na=rtpmap:96 PCMA/8000\r\n"),
            ("PCMA",),
            96,
            "PCMA",
            97,
        ),  # dynamic PT for a static codec name
        (offer("8", extra="a=rtpmap:8 PCMA/16000\r\n"), ("PCMA", "PCMU"), None, None, None),
    ],
)
def test_codec_choice(
    body: bytes,
    codecs: tuple[str, ...],
    expected_pt: int | None,
    expected_name: str | None,
    dtmf: int | None,
) -> None:
    desc = sdp.parse(body)
    if expected_pt is None:
        with pytest.raises(sdp.NoCommonCodec):
            offer_answer.negotiate(desc, **LOCAL, codecs=codecs)
        return
    answer = offer_answer.negotiate(desc, **LOCAL, codecs=codecs)
    assert (answer.codec.payload_type, answer.codec.name) == (expected_pt, expected_name)
    assert answer.dtmf_payload_type == dtmf
    media = answer.description.media[0]
    expected_formats = [str(expected_pt)] + ([str(dtmf)] if dtmf is not None else [])
    assert media.formats == expected_formats
    assert media.port == 16000 and media.ptime == 20
    assert answer.remote == ("192.0.2.20", 40000)
    # Our answer is itself valid SDP that parses back to the same thing.
    again = sdp.parse(sdp.serialize(answer.description))
    assert sdp.serialize(again) == sdp.serialize(answer.description)


@pytest.mark.parametrize(
    ("media_lines", "conn", "ours", "remote", "hold"),
    [
        ("", "192.0.2.20", "sendrecv", ("192.0.2.20", 40000), False),
        ("a=sendonly\r\n", "192.0.2.20", "recvonly", ("192.0.2.20", 40000), True),
        ("a=inactive\r\n", "192.0.2.20", "inactive", ("192.0.2.20", 40000), True),
        ("a=recvonly\r\n", "192.0.2.20", "sendonly", ("192.0.2.20", 40000), False),
        ("", "0.0.0.0", "recvonly", None, True),  # RFC 2543 hold
    ],
)
def test_direction_and_hold(
    media_lines: str, conn: str, ours: str, remote: tuple[str, int] | None, hold: bool
) -> None:
    desc = sdp.parse(offer("0", extra=media_lines, conn=conn))
    assert sdp.is_hold(desc) is hold
    answer = offer_answer.negotiate(desc, **LOCAL)
    assert answer.direction == ours
    assert answer.description.media[0].direction == ours
    assert answer.remote == remote


def test_session_level_direction_applies_to_media() -> None:
    desc = sdp.parse(offer("0", session="a=sendonly\r\n"))
    assert sdp.direction_of(desc) == "sendonly"
    assert offer_answer.negotiate(desc, **LOCAL).direction == "recvonly"


def test_reanswer_keeps_origin_and_bumps_version_only_on_change() -> None:
    first = offer_answer.negotiate(sdp.parse(offer("0")), **LOCAL)
    same = offer_answer.negotiate(sdp.parse(offer("0")), **LOCAL, previous=first.description)
    assert same.description.origin == first.description.origin
    held = offer_answer.negotiate(
        sdp.parse(offer("0", extra="a=sendonly\r\n")), **LOCAL, previous=first.description
    )
    assert held.description.origin.session_id == first.description.origin.session_id
    assert held.description.origin.session_version == first.description.origin.session_version + 1


def test_delayed_offer_and_answer_in_ack() -> None:
    ours = offer_answer.make_offer(**LOCAL, codecs=("PCMA", "PCMU"))
    media = ours.description.media[0]
    assert media.formats == ["8", "0", "101"] and media.direction == "sendrecv"
    assert ours.remote is None and ours.codec.name == "PCMA"
    reoffer = offer_answer.make_offer(**LOCAL, previous=ours.description)
    assert reoffer.description.origin.session_id == ours.description.origin.session_id
    assert reoffer.description.origin.session_version == ours.description.origin.session_version + 1

    # The caller answers in the ACK, choosing PCMU and telephone-event.
    answer_body = (
        b"v=0\r\no=- 5 5 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
        b"m=audio 41000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
    result = offer_answer.accept_answer(
        ours.description, sdp.parse(answer_body), codecs=("PCMA", "PCMU")
    )
    assert (result.codec.name, result.dtmf_payload_type) == ("PCMU", 101)
    assert result.remote == ("192.0.2.20", 41000) and result.direction == "sendrecv"
    assert result.description is ours.description

    held = offer_answer.accept_answer(
        ours.description, sdp.parse(answer_body.replace(b"sendrecv", b"sendonly"))
    )
    assert held.direction == "recvonly"
    with pytest.raises(sdp.NoCommonCodec):
        offer_answer.accept_answer(ours.description, sdp.parse(answer_body.replace(b"41000", b"0")))
    with pytest.raises(sdp.NoCommonCodec):
        offer_answer.accept_answer(
            ours.description, sdp.parse(answer_body.replace(b"RTP/AVP 0 101", b"RTP/AVP 18"))
        )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"hello",
        b"o=- 1 1 IN IP4 1.2.3.4\r\n",  # no v=
        b"v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n",
        b"v=0\r\ns=-\r\n",  # no o=
        b"v=0\r\no=- 1 IN IP4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 49²7 RTP/AVP 0\r\n".encode(),  # not ASCII
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\n",
        b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ngarbage line\r\n",
        b"\xff\xfe" * 40_000,
    ],
)
def test_garbage_raises_sdp_error(body: bytes) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.parse(body)


@pytest.mark.parametrize(
    "body",
    [
        offer("0").replace(b"RTP/AVP", b"RTP/SAVP"),  # SRTP only
        offer("0").replace(b"audio 40000", b"audio 0"),  # audio rejected by offerer
        offer("31", extra="a=rtpmap:31 H261/90000\r\n").replace(b"audio", b"video"),
    ],
)
def test_unusable_offers_raise_no_common_codec(body: bytes) -> None:
    with pytest.raises(sdp.NoCommonCodec):
        offer_answer.negotiate(sdp.parse(body), **LOCAL)


def test_lf_only_and_ipv6() -> None:
    body = (
        b"v=0\no=- 1 1 IN IP6 2001:db8::2\ns=-\nc=IN IP6 2001:db8::2\nt=0 0\n"
        b"m=audio 5004 RTP/AVP 8\n"
    )
    answer = offer_answer.negotiate(sdp.parse(body), local_ip="2001:db8::1", local_port=16002)
    assert answer.remote == ("2001:db8::2", 5004)
    text = sdp.serialize(answer.description)
    assert b"c=IN IP6 2001:db8::1\r\n" in text and b"o=tongdai " in text


ISUP_MULTIPART = (
    b"--unique-boundary-1\r\n"
    b"Content-Type: application/sdp\r\n"
    b"\r\n" + SOFTPHONE_OFFER + b"\r\n"
    b"--unique-boundary-1\r\n"
    b"Content-Type: application/ISUP; version=itu-t92+\r\n"
    b"Content-Disposition: signal; handling=optional\r\n"
    b"\r\n"
    b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\r\n"
    b"--unique-boundary-1--\r\n"
)


def test_sdp_inside_multipart_body() -> None:
    content_type = 'multipart/mixed; boundary="unique-boundary-1"'
    parts = sdp.multipart_parts(content_type, ISUP_MULTIPART)
    assert [kind for kind, _ in parts] == ["application/sdp", "application/isup"]
    assert parts[1][1].startswith(b"\x01\x00\x49") and parts[1][1].endswith(b"\x03")
    assert sdp.sdp_body(content_type, ISUP_MULTIPART) == SOFTPHONE_OFFER
    assert sdp.sdp_body("application/sdp", SOFTPHONE_OFFER) == SOFTPHONE_OFFER
    assert sdp.sdp_body(None, SOFTPHONE_OFFER) == SOFTPHONE_OFFER
    assert sdp.sdp_body("text/plain", b"hello") is None
    assert sdp.sdp_body("multipart/mixed;boundary=zz", ISUP_MULTIPART) is None
    assert sdp.sdp_body("multipart/mixed", ISUP_MULTIPART) is None  # no boundary
    assert sdp.sdp_body(content_type, b"") is None


def test_rfc4475_mpart01_binary_part_kept_intact(sip_dir: Path) -> None:
    msg = parse_sip((sip_dir / "rfc4475" / "mpart01.dat").read_bytes())
    parts = sdp.multipart_parts(msg.headers.get("Content-Type") or "", msg.body)
    assert [(kind, len(content)) for kind, content in parts] == [
        ("text/plain", 5),
        ("application/octet-stream", 342),
    ]
    assert parts[0][1] == b"Hello" and b"\x00" in parts[1][1] and b"\n" in parts[1][1]
    assert sdp.sdp_body(msg.headers.get("Content-Type"), msg.body) is None


@pytest.mark.parametrize(
    "body",
    [
        b"no delimiter at all",
        b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n",  # never closed
        b"--b\r\nContent-Type: application/sdp\r\nv=0\r\n--b--\r\n",  # no empty line
        b"--b\r\n\r\nx\r\n" * 40 + b"--b--",  # too many parts
    ],
)
def test_malformed_multipart(body: bytes) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.multipart_parts("multipart/mixed; boundary=b", body)
