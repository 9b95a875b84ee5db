"""Limits per source address, built in (the single-machine default has no Kamailio in front).

The idea of Kamailio's ``pike`` module: each source address has token buckets for INVITEs and
for all requests; a source that keeps running its bucket dry is banned for a while and everything
it sends is dropped unanswered (an answer would only feed a flood, and a spoofed source would
turn it into a reflection). Also here:

- :func:`early_dialogs_from`: how many unanswered or un-ACKed calls a source holds, so one source
  cannot take every call slot;
- :class:`TcpBudget`: TCP connections per address and in total (capped below the process's file
  limit, so ``accept()`` never runs out of descriptors);
- :class:`ReflectionGuard`: an unverified UDP source gets no more bytes of optional provisional
  responses than it sent; it becomes verified by completing a handshake (an ACK).

Everything takes an injected clock (seconds, monotonic), so tests need no sleeps.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import resource
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr.log_budget import LogBudget
from ivr.settings import SourceLimitSettings

Clock = Callable[[], float]

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    """What to do with a message from a source."""

    ADMIT = "admit"
    DROP = "drop"  # over the rate: dropped, unanswered
    BANNED = "banned"  # the source is banned: dropped, unanswered


@dataclass
class _Bucket:
    tokens: float
    at: float

    def take(self, rate: float, burst: int, now: float) -> bool:
        self.tokens = min(float(burst), self.tokens + (now - self.at) * rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Source:
    invites: _Bucket
    requests: _Bucket
    strikes: int = 0
    banned_until: float = 0.0


@dataclass
class SourceStats:
    """Counters for metrics and tests."""

    admitted: int = 0
    dropped: int = 0
    banned_drops: int = 0
    bans: int = 0


class SourceGuard:
    """Token buckets and a temporary ban list per source address (pike-like)."""

    def __init__(self, settings: SourceLimitSettings, *, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._exempt = tuple(ipaddress.ip_network(net, strict=False) for net in settings.exempt)
        self._exempt_hosts: dict[str, bool] = {}
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self.stats = SourceStats()
        self._log = LogBudget(clock=clock)

    def banned(self, host: str) -> bool:
        """Whether ``host`` is banned right now."""
        source = self._sources.get(host)
        return source is not None and source.banned_until > self._clock()

    def admit(self, host: str, data: bytes) -> Verdict:
        """Account one message from ``host``; responses are always admitted (they answer us)."""
        if data.startswith(b"SIP/") or self.exempt(host):
            return Verdict.ADMIT
        now = self._clock()
        source = self._source(host, now)
        if source.banned_until > now:
            self.stats.banned_drops += 1
            return Verdict.BANNED
        s = self.settings
        ok = source.requests.take(s.request_rate_per_s, s.request_burst, now)
        if ok and data[:7].upper() == b"INVITE ":
            ok = source.invites.take(s.invite_rate_per_s, s.invite_burst, now)
        if ok:
            source.strikes = 0
            self.stats.admitted += 1
            return Verdict.ADMIT
        self.stats.dropped += 1
        source.strikes += 1
        if source.strikes >= s.strikes_to_ban:
            source.banned_until = now + s.ban_s
            source.strikes = 0
            self.stats.bans += 1
            self._log.warning(log, "banned", "source %s banned for %.0f s (flood)", host, s.ban_s)
        return Verdict.DROP

    def exempt(self, host: str) -> bool:
        """Whether ``host`` is exempt from the limits (``exempt`` setting)."""
        if not self._exempt:
            return False
        known = self._exempt_hosts.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.strip("[]"))
                known = any(address in network for network in self._exempt)
            except ValueError:
                known = False
            if len(self._exempt_hosts) < 4096:
                self._exempt_hosts[host] = known
        return known

    def _source(self, host: str, now: float) -> _Source:
        source = self._sources.get(host)
        if source is None:
            s = self.settings
            source = _Source(_Bucket(float(s.invite_burst), now), _Bucket(s.request_burst, now))
            self._sources[host] = source
            if len(self._sources) > s.max_sources:  # forget the least recently seen
                self._forget_one(now)
        else:
            self._sources.move_to_end(host)
        return source

    def _forget_one(self, now: float) -> None:
        for host, source in self._sources.items():
            if source.banned_until <= now:  # a ban is never forgotten early
                del self._sources[host]
                return


def early_dialogs_from(early_sources: Iterable[str], host: str) -> int:
    """How many of the calls not yet confirmed by an ACK (unanswered or un-ACKed), given by
    the address each came from, came from ``host``."""
    return sum(1 for source in early_sources if source == host)


def descriptor_limit() -> int:
    """The process's soft limit on open files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass
class TcpBudget:
    """TCP connections per address and in total; the total stays below a quarter of the file
    limit, so RTP sockets and ``accept()`` keep their descriptors."""

    per_address: int
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    open: int = 0
    refused: int = 0

    @classmethod
    def from_settings(cls, settings: SourceLimitSettings) -> TcpBudget:
        total = min(settings.max_tcp_total, max(8, descriptor_limit() // 4))
        return cls(per_address=settings.max_tcp_per_address, total=total)

    def acquire(self, host: str) -> bool:
        """Take a connection slot for ``host``; False when over a cap (then close it)."""
        if self.open >= self.total or self.counts.get(host, 0) >= self.per_address:
            self.refused += 1
            return False
        self.counts[host] = self.counts.get(host, 0) + 1
        self.open += 1
        return True

    def release(self, host: str) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        left = self.counts.get(host, 0) - 1
        if left > 0:
            self.counts[host] = left
        else:
            self.counts.pop(host, None)
        self.open = max(0, self.open - 1)


class ReflectionGuard:
    """Keeps a spoofed UDP source from being used as a reflector.

    A source is verified once it sent an ACK (which follows our final response, so it receives
    what we send). Until then the provisional responses RFC 3261 does not require (all but 100
    Trying) may total no more bytes than the source sent us; final responses and their
    retransmissions (required) always go."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._verified: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._budget: OrderedDict[tuple[str, int], int] = OrderedDict()  # bytes still allowed
        self.withheld = 0

    def observe(self, data: bytes, addr: tuple[str, int]) -> None:
        """Note a datagram received from ``addr``."""
        if addr in self._verified:
            self._verified.move_to_end(addr)
            return
        if data[:4].upper() == b"ACK ":
            self._budget.pop(addr, None)
            self._remember(self._verified, addr, None)
            return
        self._remember(self._budget, addr, self._budget.get(addr, 0) + len(data))

    def _remember(
        self, table: OrderedDict[tuple[str, int], Any], key: tuple[str, int], value: Any
    ) -> None:
        table[key] = value
        table.move_to_end(key)
        if len(table) > self._capacity:
            table.popitem(last=False)

    def may_send(self, data: bytes, addr: tuple[str, int]) -> bool:
        """Whether ``data`` may go to ``addr`` now."""
        if not data.startswith(b"SIP/2.0 1") or data.startswith(b"SIP/2.0 100 "):
            return True
        if addr in self._verified:
            return True
        left = self._budget.get(addr, 0)
        if len(data) <= left:
            self._budget[addr] = left - len(data)
            return True
        self.withheld += 1
        return False


MAX_MEDIA_LINES = 8
"""m= lines an offer may have: a call needs one audio line (video, a second audio or a
declined line or two are answered as refused). More is an attack on the answer's size."""


def too_many_media_lines(body: bytes) -> bool:
    """Whether an SDP body has more than :data:`MAX_MEDIA_LINES` m= lines (counted before any
    parsing: the answer would carry one line for each)."""
    count = body.count(b"\nm=") + (1 if body.startswith(b"m=") else 0)
    return count > MAX_MEDIA_LINES
