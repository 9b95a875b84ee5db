"""RTP and RFC 4733 wire format: golden bytes, round trips, and every malformed case."""

from __future__ import annotations

import random

import pytest

from ivr.media import rtp
from ivr.media.rtp import RtpError, RtpExtension, RtpPacket, TelephoneEvent

# A PCMA packet as sent by sipp's pcap play: V=2, M=1, PT=8, seq 0x1234, ts 0x000000a0, ssrc.
GOLDEN = bytes.fromhex("80881234000000a0deadbeef") + b"\xd5" * 160


def test_golden_parse_and_round_trip() -> None:
    packet = rtp.parse(GOLDEN)
    assert packet == RtpPacket(
        payload_type=8,
        sequence=0x1234,
        timestamp=0xA0,
        ssrc=0xDEADBEEF,
        payload=b"\xd5" * 160,
        marker=True,
    )
    assert packet.serialize() == GOLDEN
    assert rtp.build(8, 0x1234, 0xA0, 0xDEADBEEF, b"\xd5" * 160, True) == GOLDEN


def test_full_header_round_trip() -> None:
    packet = RtpPacket(
        payload_type=101,
        sequence=65535,
        timestamp=0xFFFFFFFF,
        ssrc=1,
        payload=b"\x01\x02\x03",
        csrcs=(7, 8, 9),
        extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00"),
        padding=4,
    )
    wire = packet.serialize()
    assert len(wire) == 12 + 12 + 8 + 3 + 4
    assert wire[0] == 0x80 | 0x20 | 0x10 | 3
    assert wire[-1] == 4
    assert RtpPacket.parse(wire) == packet


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x80\x00\x00", "truncated"),
        (bytes(11), "truncated"),
        (b"\x40" + bytes(11), "version 1"),
        (b"\xc0" + bytes(11), "version 3"),
        (b"\x83" + bytes(11) + bytes(8), "CSRC count 3"),
        (b"\x8f" + bytes(11), "CSRC count 15"),
        (b"\x90" + bytes(11) + b"\x00\x00", "extension header"),
        (b"\x90" + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4), "extension length"),
        (b"\xa0" + bytes(11) + b"\x01\x00", "padding"),
        (b"\xa0" + bytes(11) + b"\x01\x20", "padding"),
    ],
)
def test_malformed_raises_rtp_error(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError, match=reason.split()[0]):
        rtp.parse(data)


def test_padding_that_fills_payload_exactly() -> None:
    packet = rtp.parse(b"\xa0" + bytes(11) + b"\x00\x00\x00\x04")
    assert packet.payload == b""
    assert packet.padding == 4


def test_serialize_rejects_out_of_range_fields() -> None:
    with pytest.raises(RtpError):
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0).serialize()
    with pytest.raises(RtpError):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, csrcs=(0,) * 16).serialize()
    with pytest.raises(RtpError):
        ext = RtpExtension(1, b"\x00")
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, extension=ext).serialize()


def test_telephone_event_golden() -> None:
    # Digit 5, end bit, volume 10, duration 800 (100 ms at 8 kHz).
    wire = bytes.fromhex("058a0320")
    event = TelephoneEvent.parse(wire)
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert event.serialize() == wire
    # Redundant blocks after the first are ignored.
    assert TelephoneEvent.parse(wire + bytes.fromhex("040a00a0")) == event


def test_telephone_event_errors() -> None:
    for short in (b"", b"\x05", b"\x05\x8a\x03"):
        with pytest.raises(RtpError):
            TelephoneEvent.parse(short)
    with pytest.raises(RtpError):
        TelephoneEvent(event=256).serialize()
    with pytest.raises(RtpError):
        TelephoneEvent(event=1, duration=70000).serialize()


def test_wrap_helpers() -> None:
    assert rtp.seq_next(65535) == 0
    assert rtp.seq_next(65530, 10) == 4
    assert rtp.seq_delta(2, 65534) == 4
    assert rtp.seq_delta(65534, 2) == -4
    assert rtp.seq_delta(100, 100) == 0
    assert rtp.ts_next(0xFFFFFF60, 160) == 0
    assert rtp.ts_delta(80, 0xFFFFFFB0) == 160
    assert rtp.ts_delta(0xFFFFFFB0, 80) == -160
    # Serialising an unwrapped counter wraps it on the wire.
    assert rtp.parse(rtp.build(0, 65536 + 5, (1 << 32) + 7, 9, b"", False)).sequence == 5


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(payload_type=8, sequence=1, timestamp=2, ssrc=3, payload=b"\xd5" * 160),
        RtpPacket(payload_type=0, sequence=65535, timestamp=7, ssrc=9, payload=b"", marker=True),
        RtpPacket(payload_type=101, sequence=5, timestamp=6, ssrc=7, payload=b"abcd", csrcs=(1,)),
        RtpPacket(payload_type=8, sequence=5, timestamp=6, ssrc=7, payload=b"xy", padding=3),
        RtpPacket(
            payload_type=8, sequence=5, timestamp=6, ssrc=7, extension=RtpExtension(1, bytes(8))
        ),
    ],
)
def test_parse_media_agrees_with_parse(packet: RtpPacket) -> None:
    wire = packet.serialize()
    view = rtp.parse_media(wire)
    full = rtp.parse(wire)
    assert view == (
        full.payload_type,
        full.marker,
        full.sequence,
        full.timestamp,
        full.ssrc,
        full.payload,
    )
    assert view.payload == packet.payload


def test_parse_media_errors() -> None:
    for bad in (b"", bytes(5), b"\x40" + bytes(11), b"\x81" + bytes(11)):
        with pytest.raises(RtpError):
            rtp.parse_media(bad)


def test_random_and_mutated_datagrams_parse_or_raise_rtp_error() -> None:
    rng = random.Random(4733)
    valid = RtpPacket(
        payload_type=8,
        sequence=1,
        timestamp=2,
        ssrc=3,
        payload=b"\xd5" * 40,
        csrcs=(5,),
        extension=RtpExtension(1, bytes(4)),
        padding=2,
    ).serialize()
    parsed = 0
    for _ in range(20000):
        if rng.random() < 0.5:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 40)))
        else:
            mutated = bytearray(valid[: rng.randrange(0, len(valid) + 1)])
            for _ in range(rng.randrange(1, 4)):
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
            data = bytes(mutated)
        for parser in (rtp.parse, rtp.parse_media, TelephoneEvent.parse):
            try:
                parser(data)
                parsed += 1
            except RtpError:
                pass
    assert parsed > 1000  # the fuzzing reached valid packets too, not only errors
