"""An IVR worker: one event loop owning the SIP endpoint, the media clock and the calls."""

from __future__ import annotations

import logging
from typing import Any

from ivr.call import Call
from ivr.events import EventSink
from ivr.media.clock import MediaClock
from ivr.media.ports import PortAllocator
from ivr.settings import MediaSettings, SipSettings
from ivr.sip.endpoint import CallHandler, Endpoint

log = logging.getLogger(__name__)


class Worker:
    """Composes the endpoint, the media clock and the RTP ports; ``on_call`` runs each call."""

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
        self.clock = MediaClock(period_s=media.ptime_ms / 1000)
        self.ports = PortAllocator.from_settings(media)
        self.endpoint = Endpoint(
            sip=sip,
            media=media,
            clock=self.clock,
            ports=self.ports,
            sink=sink,
            on_call=on_call,
            answer_delay_s=answer_delay_s,
            transport=transport,
        )

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
