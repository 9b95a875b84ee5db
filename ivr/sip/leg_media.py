"""A leg's RTP session: opened on a port of the range before we answer or offer, then kept in
step with every SDP answer (codec, peer address, hold)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.media.stream import Codec, MediaStream
from ivr.settings import MediaSettings
from ivr.sip import offer_answer, sdp
from ivr.sip.legs import Leg

log = logging.getLogger(__name__)

PORT_ATTEMPTS = 3  # a port of the range may be held by another program


class NoMediaPort(RuntimeError):
    """No RTP port of the range could be allocated and bound."""


class LegMedia:
    """Opens the RTP streams of legs and applies SDP answers to them."""

    def __init__(self, *, settings: MediaSettings, clock: MediaClock, ports: PortAllocator) -> None:
        self.settings = settings
        self.clock = clock
        self.ports = ports

    @property
    def codecs(self) -> tuple[str, ...]:
        return tuple(self.settings.codecs)

    def allocate(self) -> int:
        """A free port of the range; raises :class:`NoMediaPort`."""
        try:
            return self.ports.allocate()
        except Exception as exc:
            raise NoMediaPort(str(exc)) from exc

    def offer(self, local_ip: str, port: int) -> offer_answer.Answer:
        """Our SDP offer on ``port`` (outbound INVITE, inbound INVITE without SDP)."""
        return offer_answer.make_offer(
            local_ip=local_ip, local_port=port, codecs=self.codecs, ptime=self.settings.ptime_ms
        )

    def answer(
        self, offer: sdp.SessionDescription, local_ip: str, port: int
    ) -> offer_answer.Answer:
        """Our answer to the peer's offer; raises ``sdp.NoCommonCodec`` or ``sdp.SdpError``."""
        return offer_answer.negotiate(
            offer,
            local_ip=local_ip,
            local_port=port,
            codecs=self.codecs,
            ptime=self.settings.ptime_ms,
        )

    async def open(
        self,
        leg: Leg[Any],
        negotiated: offer_answer.Answer,
        *,
        bind_host: str,
        port: int,
        on_inactive: Callable[[], None],
    ) -> offer_answer.Answer:
        """Attach a stream bound to ``port`` (or another port of the range if that one is held
        elsewhere) to ``leg``, silent and off the clock until the dialog is confirmed. Returns
        the negotiated SDP on the port actually bound; raises :class:`NoMediaPort`."""
        stream = MediaStream(
            clock=self.clock,
            codec=codec_of(negotiated),
            dtmf_payload_type=negotiated.dtmf_payload_type,
            remote=negotiated.remote,
            on_digit=leg.digit,
            inband_dtmf=self.settings.inband_dtmf,
            inactivity_timeout_s=self.settings.inactivity_timeout_s,
            on_inactive=on_inactive,
        )
        for attempt in range(PORT_ATTEMPTS):
            try:
                await stream.open(bind_host, port)
                break
            except OSError as exc:
                log.warning("RTP port %s unavailable: %s", port, exc)
                self.ports.release(port)
                if attempt == PORT_ATTEMPTS - 1:
                    raise NoMediaPort(f"no RTP port could be bound: {exc}") from exc
                port = self.allocate()
                negotiated = with_port(negotiated, port)
        stream.sending = False  # nothing goes out before the dialog is confirmed
        self.clock.unregister(stream)  # and an unconfirmed leg costs the clock nothing
        leg.stream = stream
        leg.local_sdp = negotiated.description
        return negotiated

    def start(self, leg: Leg[Any]) -> None:
        """The dialog is confirmed: the stream sends and is ticked."""
        leg.stream.sending = True
        self.clock.register(leg.stream)

    def stop(self, leg: Leg[Any]) -> None:
        """The leg is over: stream closed, its port back to the range. Once per leg."""
        if leg.media_stopped:
            return
        leg.media_stopped = True
        leg.stream.close()  # unregisters it from the clock
        self.ports.release(leg.stream.local_port)

    def apply_remote_sdp(self, leg: Leg[Any], body: bytes) -> bool:
        """Apply the peer's SDP answer to our offer (delayed offer, re-INVITE without SDP,
        the 2xx of our INVITE). False when it is unusable."""
        try:
            remote = sdp.parse(body)
            answer = offer_answer.accept_answer(leg.local_sdp, remote, codecs=self.codecs)
        except (sdp.SdpError, sdp.NoCommonCodec) as exc:
            log.info("unusable SDP answer on %s: %s", leg.dialog.call_id, exc)
            return False
        apply_answer(leg, answer)
        return True


def apply_answer(leg: Leg[Any], answer: offer_answer.Answer) -> None:
    """Point the stream at the negotiated peer address and codec; follow hold."""
    if answer.remote is not None:
        leg.stream.set_remote(answer.remote)
    leg.stream.set_codec(codec_of(answer), answer.dtmf_payload_type)
    on_hold = answer.direction in ("recvonly", "inactive")
    leg.stream.sending = leg.confirmed and not on_hold
    if leg.call is not None:
        leg.call.set_hold(on_hold)


def codec_of(answer: offer_answer.Answer) -> Codec:
    c = answer.codec
    return Codec(name=c.name.upper(), payload_type=c.payload_type, rate=c.clock_rate)


def with_port(answer: offer_answer.Answer, port: int) -> offer_answer.Answer:
    """The same SDP on another local RTP port."""
    desc = answer.description
    media = [
        dataclasses.replace(m, port=port) if m.media == "audio" and m.port else m
        for m in desc.media
    ]
    return dataclasses.replace(answer, description=dataclasses.replace(desc, media=media))


def sdp_ip(desc: sdp.SessionDescription) -> str:
    return sdp.connection_address(desc) or "127.0.0.1"


def remote_text(answer: offer_answer.Answer) -> str:
    return f"{answer.remote[0]}:{answer.remote[1]}" if answer.remote else ""


__all__ = ["LegMedia", "NoMediaPort", "apply_answer", "codec_of", "with_port"]
