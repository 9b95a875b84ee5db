"""A caller's voice as a packet capture: G.711 RTP in a classic pcap file, for sipp's
``play_pcap_audio`` (which sends each UDP payload to the call's media address, paced by the
capture timestamps)."""

from __future__ import annotations

import struct
from pathlib import Path

from core.g711 import alaw_encode, ulaw_encode
from ivr.media.rtp import RtpPacket

PCMU = 0
PCMA = 8
SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000  # 160 samples, one byte each in G.711
FRAME_BYTES = FRAME_SAMPLES * 2  # of 16-bit PCM

_PCAP_MAGIC_US = 0xA1B2C3D4  # classic pcap, microsecond timestamps
_LINKTYPE_ETHERNET = 1
_SNAPLEN = 65535
_ETHERTYPE_IPV4 = 0x0800
_IP_PROTO_UDP = 17
_SRC_IP = bytes((127, 0, 0, 1))
_DST_IP = bytes((127, 0, 0, 1))
# The addresses and ports are placeholders: sipp replaces them with the call's own.
_SRC_PORT = 6000
_DST_PORT = 6002
_SSRC = 0x7045_0001
_START_S = 1_700_000_000  # capture start (any fixed instant; only the differences matter)


class PcapAudioError(ValueError):
    """The audio cannot be written as G.711 RTP (odd byte count, unknown payload type, ...)."""


def _ipv4_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(udp_payload: bytes, ident: int) -> bytes:
    """Ethernet + IPv4 + UDP around one datagram (UDP checksum 0: not computed, allowed)."""
    udp = struct.pack("!HHHH", _SRC_PORT, _DST_PORT, 8 + len(udp_payload), 0) + udp_payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,  # version 4, 20-byte header
        0,
        20 + len(udp),
        ident & 0xFFFF,
        0x4000,  # don't fragment
        64,
        _IP_PROTO_UDP,
        0,
        _SRC_IP,
        _DST_IP,
    )
    ip = ip[:10] + struct.pack("!H", _ipv4_checksum(ip)) + ip[12:]
    ethernet = bytes(6) + bytes(6) + struct.pack("!H", _ETHERTYPE_IPV4)
    return ethernet + ip + udp


def rtp_frames(pcm8k: bytes, *, payload_type: int = PCMA) -> list[bytes]:
    """The RTP datagrams carrying ``pcm8k`` (16-bit mono 8 kHz PCM) in 20 ms frames; the last
    frame is padded with silence and the first carries the marker bit."""
    if payload_type not in (PCMA, PCMU):
        raise PcapAudioError(f"payload type {payload_type} is not G.711 (0 PCMU or 8 PCMA)")
    if len(pcm8k) % 2:
        raise PcapAudioError(f"16-bit PCM needs an even number of bytes, got {len(pcm8k)}")
    if len(pcm8k) % FRAME_BYTES:
        pcm8k += bytes(FRAME_BYTES - len(pcm8k) % FRAME_BYTES)
    encode = alaw_encode if payload_type == PCMA else ulaw_encode
    payload = encode(pcm8k)
    return [
        RtpPacket(
            payload_type=payload_type,
            sequence=index,
            timestamp=index * FRAME_SAMPLES,
            ssrc=_SSRC,
            payload=payload[offset : offset + FRAME_SAMPLES],
            marker=index == 0,
        ).serialize()
        for index, offset in enumerate(range(0, len(payload), FRAME_SAMPLES))
    ]


def write_rtp_pcap(
    path: Path,
    pcm8k: bytes,
    *,
    payload_type: int = PCMA,
    lead_silence_s: float = 0.5,
    trail_silence_s: float = 1.5,
) -> Path:
    """Write ``pcm8k`` (16-bit mono 8 kHz PCM) as a classic Ethernet pcap of UDP/IPv4 RTP
    packets 20 ms apart, with ``lead_silence_s`` of silence before the voice (so the listener's
    voice detector has a quiet start) and ``trail_silence_s`` after it (so the end of speech is
    heard before the caller goes quiet). Raises :class:`PcapAudioError` for unusable input."""
    if lead_silence_s < 0 or trail_silence_s < 0:
        raise PcapAudioError("silence durations must not be negative")
    lead = bytes(2 * round(lead_silence_s * SAMPLE_RATE_HZ))
    trail = bytes(2 * round(trail_silence_s * SAMPLE_RATE_HZ))
    datagrams = rtp_frames(lead + pcm8k + trail, payload_type=payload_type)
    parts = [struct.pack("<IHHiIII", _PCAP_MAGIC_US, 2, 4, 0, 0, _SNAPLEN, _LINKTYPE_ETHERNET)]
    for index, datagram in enumerate(datagrams):
        frame = _frame(datagram, index)
        offset_us = index * FRAME_MS * 1000
        sec, usec = divmod(offset_us, 1_000_000)
        parts.append(struct.pack("<IIII", _START_S + sec, usec, len(frame), len(frame)))
        parts.append(frame)
    path.write_bytes(b"".join(parts))
    return path
