"""Which source a call's RTP is taken from (Asterisk's ``strictrtp`` as the model).

Media is accepted from the address and port the SDP names. Behind NAT the caller's packets come
from somewhere else: that source is learned once, from the first packets of the call, after a
short probation (:data:`PROBATION_PACKETS` packets in sequence from the same address and port),
and never re-learned later in the call. Everything else is dropped and counted, so a stranger who
finds the port can neither be heard nor press keys, and our audio (personal details included)
is never sent to it. A new SDP address (re-INVITE) starts the learning again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Address = tuple[str, int]
T = TypeVar("T")

PROBATION_PACKETS = 4  # 80 ms of a 20 ms stream: what Asterisk's probation uses


@dataclass
class SourceLock(Generic[T]):
    """The accepted source of one stream: the signalled address, or the one learned once.

    Packets of a source on probation are held, not lost: when it passes they are handed over
    with the packet that completed it; when another source interrupts the run they are dropped.
    """

    signalled: Address | None
    probation: int = PROBATION_PACKETS
    locked: Address | None = None
    dropped: int = 0  # packets refused (strangers, and held packets of a failed probation)
    _candidate: Address | None = None
    _held: list[T] = field(default_factory=list)
    _last_sequence: int = -1

    def admit(self, source: Address, sequence: int, packet: T) -> list[T]:
        """The packets to take now, given one from ``source`` with RTP ``sequence``: none when
        it is refused or held on probation."""
        if source == self.signalled or (self.locked is not None and source == self.locked):
            self.locked = source  # the signalled address always wins
            held, self._held = self._held, []
            self.dropped += len(held)  # a learning run the signalled source overtook
            return [packet]
        if self.locked is not None:
            self.dropped += 1
            return []
        if source != self._candidate or sequence != (self._last_sequence + 1) & 0xFFFF:
            self.dropped += len(self._held)
            self._candidate, self._held = source, []
        self._last_sequence = sequence
        self._held.append(packet)
        if len(self._held) < self.probation:
            return []
        self.locked = source
        held, self._held = self._held, []
        return held

    def reset(self, signalled: Address | None) -> None:
        """A new SDP address (re-INVITE): learn again from it and the packets that follow."""
        self.signalled = signalled
        self.locked = None
        self.dropped += len(self._held)
        self._candidate, self._held, self._last_sequence = None, [], -1
