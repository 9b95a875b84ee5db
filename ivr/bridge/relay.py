"""Two calls joined: each leg's RTP passed through to the other, digits and hold followed.

Media goes through :class:`~ivr.media.passthrough.Passthrough`, one per direction: every packet
a leg receives is sent on the other from the datagram callback (PCMA↔PCMU by a byte table), so
a bridge costs no task, no jitter buffer and no decoding, and adds no queueing delay.

Digits: RFC 4733 events are forwarded packet by packet by the passthrough; a digit that came
another way (SIP INFO) is sent to the other leg as an RFC 4733 event by its stream. While
bridged, in-band tones are not detected: they reach the other side in the audio itself.

Hold: when one side puts the call on hold (re-INVITE with sendonly, inactive or 0.0.0.0,
answered by the endpoint), tongdai stops sending to it. The other side hears what the holding
phone sends (its own music, with sendonly), or, when nothing comes, the hold music played on
its stream by the clock; resuming stops the music and the relayed audio flows again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ivr.bridge.recording import BridgeTapes
from ivr.call import Call
from ivr.media.passthrough import Passthrough, PassthroughStats

log = logging.getLogger(__name__)

WATCH_S = 0.2  # how often a bridge looks at both calls (end, hold): a hold is heard within it


@dataclass
class RelayStats:
    """One direction of a bridge: the passthrough's counters, digits sent on, hold music."""

    media: PassthroughStats
    digits: int = 0
    held_s: float = 0.0  # how long the source side held the call (music played to the target)

    @property
    def relayed(self) -> int:
        """Audio packets sent on."""
        return self.media.relayed

    @property
    def dropped(self) -> int:
        """Packets not sent on because the target did not send (on hold, closing)."""
        return self.media.held


class _HoldMusic:
    """Music played on `target` while `holder` keeps the call on hold."""

    def __init__(self, holder: Call, target: Call, pcm: bytes, stats: RelayStats) -> None:
        self._holder, self._target, self._pcm, self._stats = holder, target, pcm, stats
        self._playing: asyncio.Future[bool] | None = None
        self._since: float | None = None

    def follow(self, now: float) -> None:
        """Start, loop or stop the music as the holder's hold state says."""
        if self._holder.on_hold:
            if self._since is None:
                self._since = now
                log.info("%s put the bridge on hold", self._holder.info.call_id[:12])
            if self._pcm and (self._playing is None or self._playing.done()):
                self._playing = self._target.stream.play(self._pcm)
        elif self._since is not None:
            self.stop(now)

    def stop(self, now: float) -> None:
        """The hold is over (or the bridge): stop the music."""
        if self._since is not None:
            self._stats.held_s += now - self._since
            self._since = None
        if self._playing is not None:
            if not self._playing.done():
                self._target.stream.stop_playback()
            self._playing = None


def _digits_to(target: Call, stats: RelayStats) -> Callable[[str, str], None]:
    def passed(digit: str, source: str) -> None:
        # RFC 4733: its packets were forwarded as they came; otherwise send it as an event
        if source == "rfc4733" or target.stream.send_digit(digit):
            stats.digits += 1

    return passed


async def bridge(
    caller: Call,
    officer: Call,
    *,
    hold_music: bytes = b"",
    probe_every: int = 0,
    tapes: BridgeTapes | None = None,
) -> tuple[RelayStats, RelayStats]:
    """Join the two calls until one ends, then hang up the other. `hold_music` is 8 kHz
    16-bit PCM played to one side while the other holds; `probe_every` > 0 measures the
    relay's added delay on one packet in that many; `tapes` record what each side said (and
    the other heard), stopped when the relay stops. Returns the (caller→officer,
    officer→caller) statistics."""
    up_media = Passthrough(caller.stream, officer.stream, probe_every=probe_every)
    down_media = Passthrough(officer.stream, caller.stream, probe_every=probe_every)
    if tapes is not None:
        up_media.tape, down_media.tape = tapes.caller, tapes.officer
    up, down = RelayStats(up_media.stats), RelayStats(down_media.stats)
    holds = [
        _HoldMusic(caller, officer, hold_music, up),
        _HoldMusic(officer, caller, hold_music, down),
    ]
    loop = asyncio.get_running_loop()
    caller.digit_listener = _digits_to(officer, up)
    officer.digit_listener = _digits_to(caller, down)
    up_media.start()
    down_media.start()
    try:
        while not (caller.ended or officer.ended):
            for hold in holds:
                hold.follow(loop.time())
            await asyncio.sleep(WATCH_S)
    finally:
        up_media.stop()
        down_media.stop()
        if tapes is not None:
            tapes.stop(loop.time())
        caller.digit_listener = officer.digit_listener = None
        for hold in holds:
            hold.stop(loop.time())
        for call in (caller, officer):
            if not call.ended:
                with contextlib.suppress(Exception):
                    await call.hangup()
    log.info(
        "bridge %s ended: %d/%d packets relayed, %d/%d not sent (hold)",
        caller.info.call_id[:12],
        up.relayed,
        down.relayed,
        up.dropped,
        down.dropped,
    )
    return up, down
