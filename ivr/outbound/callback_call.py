"""One "call back now": ring the officer, then the citizen through the trunk, then bridge.

The officer's registered phones ring first (every binding at once, as the bridged transfer
does); nothing happens to the citizen unless an officer answers. The officer then hears a
ringback tone while the citizen's number is INVITEd at the trunk (``sip:<number>@<trunk>``,
digest credentials answered when the trunk challenges). The citizen answering closes the
callback as reached and the two calls are bridged by the pass-through relay until either side
hangs up. The citizen leg's final answer decides the rest (:mod:`ivr.outbound.outcomes`):
no answer and wrong number close the callback too; any other failure leaves it open. The
officer hanging up while the citizen rings cancels that INVITE. Every step is written to the
request row (the console shows it live) and the end to the call's own timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from ivr.bridge.officer_line import Answered
from ivr.bridge.relay import RelayStats, bridge
from ivr.call import Call
from ivr.calllog.callback_outcomes import CallbackOutcome
from ivr.events import CallbackCalled
from ivr.outbound.numbers import NotDiallable, trunk_target
from ivr.outbound.outcomes import TIMEOUT, outcome_of
from ivr.outbound.requests import DbOutboundCalls, OutboundRequest
from ivr.settings import TrunkSettings
from ivr.sip.auth import DigestClient
from ivr.sip.legs import Leg
from ivr.sip.uac import DialCancelled, DialFailed, DialTimeout

log = logging.getLogger(__name__)

WATCH_S = 0.1  # how often the officer's call is checked while the citizen's phone rings


class OfficerPhones(Protocol):
    """``BridgeLine.ring_phones``: the first of the officers' phones to answer."""

    def __call__(
        self, officers: Sequence[str], timeout_s: float, *, gone: Callable[[], bool]
    ) -> Awaitable[Answered | None]: ...


class TrunkDialler(Protocol):
    """``Endpoint.dial`` as the callback uses it."""

    def __call__(
        self,
        target_uri: str,
        *,
        from_uri: str,
        auth: DigestClient | None = None,
        timeout_s: float,
        cancel: asyncio.Event | None = None,
    ) -> Awaitable[Leg[Call]]: ...


def ringback_pcm(seconds: float = 4.0, hz: float = 425.0) -> bytes:
    """Vietnam's ringback cadence (425 Hz, 1 s on, 3 s off), 8 kHz 16-bit PCM."""
    rate = 8000
    on = int(rate * 1.0)
    samples = (
        int(6000 * math.sin(2 * math.pi * hz * i / rate)) if i < on else 0
        for i in range(int(rate * seconds))
    )
    return b"".join(struct.pack("<h", s) for s in samples)


@dataclass
class CallbackCaller:
    """Places the calls of claimed requests (see the module docstring)."""

    phones: OfficerPhones
    dial: TrunkDialler
    requests: DbOutboundCalls
    trunk: TrunkSettings
    from_uri: str  # our From towards the trunk: the hotline's identity
    wrap_up_s: float = 0.0
    clock: Callable[[], float] = time.time
    relays: list[tuple[RelayStats, RelayStats]] = field(default_factory=list)
    _ringback: bytes = field(default_factory=ringback_pcm, init=False, repr=False)

    def _auth(self) -> DigestClient | None:
        trunk = self.trunk
        if not trunk.username:
            return None
        return DigestClient(trunk.username, trunk.password, realm=trunk.realm)

    async def run(self, request: OutboundRequest) -> None:
        """Carry request `request` through to its end; never raises (but cancellation)."""
        try:
            await self._run(request)
        except asyncio.CancelledError:
            await self._finish(request, "failed", detail="worker-stopped")
            raise
        except Exception:
            log.exception("call back now %d failed", request.id)
            await self._finish(request, "failed", detail="error")

    async def _run(self, request: OutboundRequest) -> None:
        number = await self.requests.number_of(request)
        if number is None:
            await self._finish(request, "failed", detail="callback-closed")
            return
        try:
            target = trunk_target(number, self.trunk)
        except NotDiallable:
            await self._finish(request, "failed", detail="not-a-number")
            return
        answered = await self.phones(
            [request.officer], self.trunk.officer_ring_timeout_s, gone=lambda: False
        )
        officer_call = answered.leg.call if answered is not None else None
        if officer_call is None:
            await self._finish(request, "failed", detail="officer-no-answer")
            return
        held = request.source == "menu" and await self.requests.hold_officer(
            request, now=self.clock()
        )  # a queue callback: the queue already counts the officer as on it
        try:
            await self._with_officer(request, officer_call, target)
        finally:
            if held:
                await self.requests.release_officer(
                    request, now=self.clock(), wrap_up_s=self.wrap_up_s
                )

    async def _with_officer(
        self, request: OutboundRequest, officer_call: Call, target: str
    ) -> None:
        """The officer is on the line: the citizen's phone, then the bridge."""
        await self.requests.report(request.id, "calling-citizen", now=self.clock())
        citizen, status = await self._call_citizen(officer_call, target)
        if citizen is None:
            if not officer_call.ended:
                await officer_call.hangup()
            outcome = outcome_of(status) if status else None
            if status == 0:
                await self._finish(request, "failed", detail="officer-hung-up")
            elif outcome is None:
                await self._finish(request, "failed", status=status, detail=f"trunk-{status}")
            else:
                await self._record(request, outcome)
                await self._finish(request, "done", outcome=outcome, status=status)
            return
        await self._record(request, CallbackOutcome.REACHED)
        await self.requests.report(
            request.id, "connected", now=self.clock(), outcome="reached", status=200
        )
        started = self.clock()
        self.relays.append(await bridge(citizen, officer_call))
        await self._finish(
            request, "done", outcome=CallbackOutcome.REACHED, status=200,
            talk_s=self.clock() - started,
        )  # fmt: skip

    async def _call_citizen(self, officer: Call, target: str) -> tuple[Call | None, int]:
        """The citizen's answered call, or None and the final status (408 when the ring ran
        out, 0 when the officer hung up first)."""
        cancel = asyncio.Event()

        async def watch() -> None:
            while not officer.ended:
                await asyncio.sleep(WATCH_S)
            cancel.set()

        watcher = asyncio.create_task(watch())
        ringback = officer.stream.play(self._ringback * 15)  # a minute of ringback at most
        try:
            leg = await self.dial(
                target, from_uri=self.from_uri, auth=self._auth(),
                timeout_s=self.trunk.ring_timeout_s, cancel=cancel,
            )  # fmt: skip
        except DialTimeout:
            return None, TIMEOUT
        except DialCancelled:
            return None, 0
        except DialFailed as failed:
            log.info("the trunk answered %d %s", failed.status, failed.reason)
            return None, failed.status
        finally:
            watcher.cancel()
            if not ringback.done():
                officer.stream.stop_playback()
        if leg.call is None:  # never: an answered leg has its call
            return None, 500
        return leg.call, 200

    async def _record(self, request: OutboundRequest, outcome: CallbackOutcome) -> None:
        at = datetime.fromtimestamp(self.clock(), UTC)
        closed = await self.requests.close_callback(
            request, outcome, at=at, now=self.clock(), wrap_up_s=self.wrap_up_s
        )
        if not closed:
            log.info("callback %s/%d was closed meanwhile", request.source, request.ref)

    async def _finish(
        self,
        request: OutboundRequest,
        state: str,
        *,
        outcome: CallbackOutcome | None = None,
        status: int = 0,
        detail: str = "",
        talk_s: float = 0.0,
    ) -> None:
        with contextlib.suppress(Exception):  # the request row and timeline are best effort
            await self.requests.report(
                request.id, state, now=self.clock(),
                outcome=outcome.value if outcome else "", status=status, detail=detail,
            )  # fmt: skip
            event = CallbackCalled(
                call_id=request.call_id, at=datetime.fromtimestamp(self.clock(), UTC),
                source=request.source, ref=request.ref, request_id=request.id,
                officer=request.officer, stage=outcome.value if outcome else detail,
                status=status, talk_s=round(talk_s, 1), by=request.requested_by,
            )  # fmt: skip
            await self.requests.note(event)
        log.info("call back now %d: %s %s %s", request.id, state, outcome or detail, status or "")


__all__ = ["CallbackCaller", "OfficerPhones", "TrunkDialler", "ringback_pcm"]
