"""RTP packets (RFC 3550) and RFC 4733 telephone events: pure parse and serialize.

Every malformed input raises :class:`RtpError` with the reason; nothing here touches sockets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

RTP_VERSION = 2
HEADER_SIZE = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_HEADER = struct.Struct("!BBHII")
_PLAIN = struct.Struct("!xBHII")  # the header after a first byte of exactly 0x80
_EVENT = struct.Struct("!BBH")


class RtpError(ValueError):
    """A datagram or payload that is not a valid RTP packet or telephone event."""


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The RFC 3550 header extension: a profile-defined id and its data (a multiple of 4 bytes)."""

    profile: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``payload`` excludes any padding; ``padding`` is the padding length."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0
    version: int = RTP_VERSION

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one datagram. Raises RtpError for anything that is not a whole RTP packet."""
        return parse(data)

    def serialize(self) -> bytes:
        """The packet as wire bytes (padding bytes are zeros ending with the padding count)."""
        if not 0 <= self.payload_type < 128:
            raise RtpError(f"payload type {self.payload_type} out of range 0-127")
        if len(self.csrcs) > 15:
            raise RtpError(f"{len(self.csrcs)} CSRCs, at most 15 fit")
        if not 0 <= self.padding < 256:
            raise RtpError(f"padding {self.padding} out of range 0-255")
        first = (
            (self.version << 6)
            | (0x20 if self.padding else 0)
            | (0x10 if self.extension is not None else 0)
            | len(self.csrcs)
        )
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HEADER.pack(first, second, self.sequence % SEQ_MOD, self.timestamp % TS_MOD, self.ssrc)
        ]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            ext = self.extension
            if len(ext.data) % 4:
                raise RtpError("extension data must be a multiple of 4 bytes")
            parts.append(struct.pack("!HH", ext.profile, len(ext.data) // 4) + ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def parse(data: bytes) -> RtpPacket:
    """Parse one RTP datagram. Raises RtpError with the reason when it is malformed."""
    size = len(data)
    if size == 0:
        raise RtpError("empty datagram")
    if size < HEADER_SIZE:
        raise RtpError(f"truncated header: {size} bytes, need {HEADER_SIZE}")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    version = first >> 6
    if version != RTP_VERSION:
        raise RtpError(f"version {version}, expected {RTP_VERSION}")
    offset = HEADER_SIZE
    csrc_count = first & 0x0F
    if csrc_count:
        end = offset + 4 * csrc_count
        if end > size:
            raise RtpError(f"CSRC count {csrc_count} runs past the end of a {size}-byte datagram")
        csrcs: tuple[int, ...] = struct.unpack_from(f"!{csrc_count}I", data, offset)
        offset = end
    else:
        csrcs = ()
    extension = None
    if first & 0x10:
        if offset + 4 > size:
            raise RtpError("extension header runs past the end of the datagram")
        profile, words = struct.unpack_from("!HH", data, offset)
        end = offset + 4 + 4 * words
        if end > size:
            raise RtpError(f"extension length {words} words runs past the end of the datagram")
        extension = RtpExtension(profile, bytes(data[offset + 4 : end]))
        offset = end
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > size:
            raise RtpError(f"bad padding length {padding}")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset : size - padding]),
        marker=bool(second & 0x80),
        csrcs=csrcs,
        extension=extension,
        padding=padding,
        version=version,
    )


class RtpMedia(NamedTuple):
    """The fields a receiver needs from a packet; see :func:`parse_media`."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_media(data: bytes) -> RtpMedia:
    """Like :func:`parse` but returns only what a media receiver uses, as a plain tuple.

    The plain header (no CSRC, extension or padding: almost every packet) is decoded straight
    from the bytes; every other packet goes through :func:`parse`. Same errors as parse.
    """
    if len(data) >= HEADER_SIZE and data[0] == 0x80:
        second, sequence, timestamp, ssrc = _PLAIN.unpack_from(data)
        return RtpMedia(second & 0x7F, second > 0x7F, sequence, timestamp, ssrc, data[12:])
    p = parse(data)
    return RtpMedia(p.payload_type, p.marker, p.sequence, p.timestamp, p.ssrc, p.payload)


def build(
    payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool
) -> bytes:
    """Fast path for the common packet (no CSRC, extension or padding), used 50 times a second
    per call by the sender."""
    return (
        _HEADER.pack(
            0x80,
            (0x80 if marker else 0) | payload_type,
            sequence & 0xFFFF,
            timestamp & 0xFFFFFFFF,
            ssrc,
        )
        + payload
    )


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """An RFC 4733 telephone-event payload: event code, end bit, volume (-dBm0), duration."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    SIZE = 4

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first 4 bytes of a payload (redundant trailing blocks are ignored)."""
        if len(payload) < cls.SIZE:
            raise RtpError(f"telephone-event payload of {len(payload)} bytes, need 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def serialize(self) -> bytes:
        """The 4-byte payload."""
        if not 0 <= self.event < 256:
            raise RtpError(f"event code {self.event} out of range 0-255")
        if not 0 <= self.volume < 64:
            raise RtpError(f"volume {self.volume} out of range 0-63")
        if not 0 <= self.duration < SEQ_MOD:
            raise RtpError(f"duration {self.duration} out of range 0-65535")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


def seq_delta(a: int, b: int) -> int:
    """Signed distance from sequence number ``b`` to ``a`` across the 16-bit wrap
    (positive when ``a`` is newer), in -32768..32767."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_delta(a: int, b: int) -> int:
    """Signed distance from timestamp ``b`` to ``a`` across the 32-bit wrap."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def seq_next(seq: int, step: int = 1) -> int:
    """The sequence number ``step`` packets after ``seq``, wrapping at 65536."""
    return (seq + step) & 0xFFFF


def ts_next(ts: int, step: int) -> int:
    """The timestamp ``step`` units after ``ts``, wrapping at 2**32."""
    return (ts + step) & 0xFFFFFFFF
