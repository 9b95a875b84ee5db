"""An IVR worker: one event loop owning the SIP endpoint, the media clock and the calls."""

from __future__ import annotations

import logging
from typing import Any

from ivr.call import Call, CallHandler
from ivr.events import CallStarted, EventSink
from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.settings import MediaSettings, SipSettings
from ivr.sip.endpoint import Endpoint
from ivr.sip.legs import Leg

log = logging.getLogger(__name__)


class Worker:
    """Composes the endpoint, the media clock and the RTP ports. The endpoint hands every
    accepted leg to :meth:`make_call`: an inbound call runs ``on_call``; an outbound one (from
    :meth:`Endpoint.dial`) is driven by whoever placed it."""

    def __init__(
        self,
        *,
        sip: SipSettings,
        media: MediaSettings,
        on_call: CallHandler,
        sink: EventSink,
        answer_delay_s: float = 0.0,
        transport: Any = None,
    ) -> None:
        self.sip = sip
        self.sink = sink
        self.on_call = on_call
        self.clock = MediaClock(period_s=media.ptime_ms / 1000)
        self.ports = PortAllocator.from_settings(media)
        self.endpoint: Endpoint[Call] = Endpoint(
            sip=sip,
            media=media,
            clock=self.clock,
            ports=self.ports,
            sink=sink,
            calls=self.make_call,
            answer_delay_s=answer_delay_s,
            transport=transport,
        )

    def make_call(self, leg: Leg[Call]) -> Call:
        """The call factory: a :class:`Call` on the leg's dialog and stream."""
        call = Call(
            info=leg.info,
            stream=leg.stream,
            signalling=leg,
            sink=self.sink,
            handler=self.on_call if leg.inbound else None,
            hangup_grace_s=self.sip.hangup_grace_s,
        )
        self.sink.emit(
            CallStarted(
                call_id=leg.info.call_id,
                caller=leg.info.caller,
                callee=leg.info.callee,
                codec=leg.info.codec,
                remote_media=leg.remote_media,
            )
        )
        return call

    @property
    def port(self) -> int:
        """The SIP port actually bound (useful when configured as 0)."""
        return self.endpoint.transport.port

    async def start(self) -> None:
        self.clock.start()
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()
        await self.clock.close()
        stats = self.clock.stats
        log.info(
            "media clock: %d ticks, %d skipped, %d caught up; lateness p50/p99/max "
            "%.1f/%.1f/%.1f ms; tick cost p50/p99/max %.1f/%.1f/%.1f ms (last minute)",
            stats.ticks,
            stats.skipped,
            stats.catch_up_ticks,
            1000 * stats.lateness_p50_s,
            1000 * stats.lateness_p99_s,
            1000 * stats.lateness_max_s,
            1000 * stats.tick_cost_p50_s,
            1000 * stats.tick_cost_p99_s,
            1000 * stats.tick_cost_max_s,
        )


__all__ = ["Call", "Worker"]
