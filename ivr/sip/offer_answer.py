"""SDP offer/answer (RFC 3264) for one audio stream: our answer to an offer, our offer, and what
an answer to our offer settles (codec, telephone-event, the peer's RTP address, direction).
Pure: descriptions in, descriptions out (:mod:`ivr.sip.sdp` parses and serialises them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from ivr.sip.sdp import (
    DEFAULT_EVENT_PT,
    DIRECTIONS,
    RTP_PROTOS,
    STATIC_PAYLOAD_TYPES,
    TELEPHONE_EVENT,
    Codec,
    Connection,
    Media,
    NoCommonCodec,
    Origin,
    SdpError,
    SessionDescription,
    answer_direction,
    audio_media,
    connection_of,
    direction_of,
    remote_of,
    serialize,
)

# --------------------------------------------------------------------------- offer/answer


@dataclass(frozen=True)
class Answer:
    """The outcome of a negotiation step.

    `description` is our SDP (the answer, or our offer); `codec` the audio codec to send;
    `dtmf_payload_type` the telephone-event payload type (None if not agreed); `remote` the
    peer's RTP address (None while unknown or on RFC 2543 hold); `direction` our direction.
    """

    description: SessionDescription
    codec: Codec
    dtmf_payload_type: int | None
    remote: tuple[str, int] | None
    direction: str


def _new_session_id() -> str:
    return str(secrets.randbelow(10**12) + 1)


def _origin(local_ip: str, previous: SessionDescription | None, changed: bool) -> Origin:
    address_type = "IP6" if ":" in local_ip else "IP4"
    if previous is None:
        return Origin("tongdai", _new_session_id(), 1, "IN", address_type, local_ip)
    version = previous.origin.session_version + (1 if changed else 0)
    return replace(
        previous.origin, session_version=version, address_type=address_type, address=local_ip
    )


def _our_codecs(codecs: tuple[str, ...] | list[str]) -> list[str]:
    names = [c.upper() for c in codecs]
    unknown = [n for n in names if n not in ("PCMA", "PCMU")]
    if unknown or not names:
        raise ValueError(f"only PCMA and PCMU can be offered, not {unknown or codecs}")
    return names


def _audio_section(
    port: int,
    proto: str,
    codecs: list[Codec],
    event_pt: int | None,
    ptime: int,
    direction: str,
) -> Media:
    formats = [str(c.payload_type) for c in codecs]
    attributes: list[tuple[str, str | None]] = [
        ("rtpmap", f"{c.payload_type} {c.name}/{c.clock_rate}") for c in codecs
    ]
    if event_pt is not None:
        formats.append(str(event_pt))
        attributes.append(("rtpmap", f"{event_pt} {TELEPHONE_EVENT}/8000"))
        attributes.append(("fmtp", f"{event_pt} 0-15"))
    attributes += [("ptime", str(ptime)), (direction, None)]
    return Media("audio", port, proto, formats, attributes=attributes)


def _same_media(a: SessionDescription | None, b: SessionDescription) -> bool:
    if a is None:
        return False
    strip = replace(b, origin=a.origin)
    return serialize(strip) == serialize(a)


def _telephone_event(media: Media) -> int | None:
    for pt, codec in media.rtpmaps().items():
        is_event = codec.name.lower() == TELEPHONE_EVENT and codec.clock_rate == 8000
        if is_event and str(pt) in media.formats:
            return pt
    return None


def negotiate(
    offer: SessionDescription,
    *,
    local_ip: str,
    local_port: int,
    codecs: tuple[str, ...] | list[str] = ("PCMA", "PCMU"),
    ptime: int = 20,
    previous: SessionDescription | None = None,
) -> Answer:
    """Answer an offer (RFC 3264 §6): the caller's first codec among ours, telephone-event
    with the caller's payload type if offered, our direction mirroring theirs.

    Every offered section gets an answering section; all but the first usable audio section
    are rejected with port 0. `previous` is our last SDP in this dialog (re-INVITE): the
    origin is kept and its version incremented when the answer changes. Raises
    `NoCommonCodec` when no audio codec matches.
    """
    ours = _our_codecs(codecs)
    chosen: tuple[Media, Codec] | None = None
    for media in offer.media:
        if media.media != "audio" or media.port == 0 or media.proto.upper() not in RTP_PROTOS:
            continue
        for codec in media.codecs():
            if codec.name.upper() in ours and codec.clock_rate == 8000 and codec.channels == 1:
                chosen = (media, codec)
                break
        if chosen:
            break
    if chosen is None:
        raise NoCommonCodec("no offered audio codec among " + ", ".join(ours))
    offered_media, codec = chosen
    event_pt = _telephone_event(offered_media)
    offered_direction = direction_of(offer, offered_media)
    conn = connection_of(offer, offered_media)
    if conn is not None and conn.is_hold and offered_direction == "sendrecv":
        offered_direction = "sendonly"  # RFC 2543 hold: they will not receive
    direction = answer_direction(offered_direction)

    sections: list[Media] = []
    for media in offer.media:
        if media is offered_media:
            sections.append(
                _audio_section(local_port, media.proto, [codec], event_pt, ptime, direction)
            )
        else:
            sections.append(Media(media.media, 0, media.proto, media.formats[:1] or ["0"]))
    address_type = "IP6" if ":" in local_ip else "IP4"
    answer = SessionDescription(
        _origin(local_ip, previous, changed=False),
        "tongdai",
        Connection(local_ip, "IN", address_type),
        media=sections,
    )
    if previous is not None and not _same_media(previous, answer):
        answer.origin = _origin(local_ip, previous, changed=True)
    return Answer(answer, codec, event_pt, remote_of(offer, offered_media), direction)


def make_offer(
    *,
    local_ip: str,
    local_port: int,
    codecs: tuple[str, ...] | list[str] = ("PCMA", "PCMU"),
    ptime: int = 20,
    previous: SessionDescription | None = None,
    direction: str = "sendrecv",
    event_payload_type: int = DEFAULT_EVENT_PT,
) -> Answer:
    """Our offer, for an INVITE without SDP (offer in our 200, answer in the ACK) or a
    re-INVITE without SDP. With `previous`, the same session id and version + 1.

    The returned `codec` is our preferred one until the peer's answer is applied with
    `accept_answer`; `remote` is None.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    names = _our_codecs(codecs)
    offered = [c for n in names for c in STATIC_PAYLOAD_TYPES.values() if c.name == n]
    address_type = "IP6" if ":" in local_ip else "IP4"
    desc = SessionDescription(
        _origin(local_ip, previous, changed=True),
        "tongdai",
        Connection(local_ip, "IN", address_type),
        media=[
            _audio_section(local_port, "RTP/AVP", offered, event_payload_type, ptime, direction)
        ],
    )
    return Answer(desc, offered[0], event_payload_type, None, direction)


def accept_answer(
    local: SessionDescription,
    remote: SessionDescription,
    *,
    codecs: tuple[str, ...] | list[str] = ("PCMA", "PCMU"),
) -> Answer:
    """Apply the peer's answer to our offer `local`: the codec is the first format of their
    audio answer that we offered; our direction follows theirs. Raises `NoCommonCodec` if
    they rejected the audio stream or answered with something we did not offer.
    """
    ours = audio_media(local)
    if ours is None:
        raise SdpError("our offer has no audio section")
    index = local.media.index(ours)
    if index >= len(remote.media):
        raise SdpError("answer has fewer media sections than the offer")
    theirs = remote.media[index]
    if theirs.media != "audio" or theirs.port == 0:
        raise NoCommonCodec("the audio stream was rejected")
    allowed = {c.upper() for c in codecs}
    offered = {c.payload_type: c for c in ours.codecs()}
    codec = next(
        (
            c
            for c in theirs.codecs()
            if c.name.upper() in allowed
            and c.payload_type in offered
            and offered[c.payload_type].name.upper() == c.name.upper()
        ),
        None,
    )
    if codec is None:
        raise NoCommonCodec("the answer holds no codec we offered")
    their_direction = direction_of(remote, theirs)
    conn = connection_of(remote, theirs)
    if conn is not None and conn.is_hold and their_direction == "sendrecv":
        their_direction = "sendonly"
    ours_direction = direction_of(local, ours)
    mirrored = answer_direction(their_direction)
    direction = _intersect(ours_direction, mirrored)
    event_pt = _telephone_event(theirs)
    return Answer(local, codec, event_pt, remote_of(remote, theirs), direction)


def _intersect(a: str, b: str) -> str:
    send = a in ("sendrecv", "sendonly") and b in ("sendrecv", "sendonly")
    recv = a in ("sendrecv", "recvonly") and b in ("sendrecv", "recvonly")
    if send and recv:
        return "sendrecv"
    if send:
        return "sendonly"
    return "recvonly" if recv else "inactive"
