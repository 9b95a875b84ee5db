"""RTP port allocation: even ports (RTP convention; the odd one above is left for RTCP), picked
at random from the range, so the port of the next call cannot be guessed from the last one."""

from __future__ import annotations

import secrets

from ivr.settings import MediaSettings


class PortRangeError(ValueError):
    """The configured port range holds no usable even port."""


class PortsExhausted(RuntimeError):
    """Every port of the range is in use."""


class PortAllocator:
    """Hands out even UDP ports from ``[port_min, port_max]`` and takes them back.

    Each port is drawn at random from the free ones: an attacker who learns one call's port
    cannot aim at the next (strict RTP refuses strangers anyway; this keeps them from trying
    cheaply). In a range of thousands, a just-released port is unlikely to be drawn again soon,
    so stray packets of a finished call are unlikely to reach the next one.
    """

    def __init__(self, *, port_min: int, port_max: int) -> None:
        first = port_min + (port_min % 2)
        if not (1024 <= port_min <= port_max <= 65535) or first > port_max - 1:
            raise PortRangeError(
                f"RTP port range {port_min}-{port_max} must lie in 1024-65535 and hold an even "
                "port with its odd RTCP neighbour"
            )
        self._free: list[int] = list(range(first, port_max, 2))
        self._used: set[int] = set()

    @classmethod
    def from_settings(cls, settings: MediaSettings) -> PortAllocator:
        """An allocator over the range configured in the media settings."""
        return cls(port_min=settings.rtp_port_min, port_max=settings.rtp_port_max)

    @property
    def available(self) -> int:
        """How many ports can still be allocated."""
        return len(self._free)

    @property
    def in_use(self) -> int:
        """How many ports are allocated."""
        return len(self._used)

    def allocate(self) -> int:
        """A free even port, drawn at random. Raises PortsExhausted when none is left."""
        if not self._free:
            raise PortsExhausted(f"all {len(self._used)} RTP ports are in use")
        index = secrets.randbelow(len(self._free))
        self._free[index], self._free[-1] = self._free[-1], self._free[index]
        port = self._free.pop()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        """Give a port back. Releasing a port that is not allocated does nothing (so a double
        release can never hand one port to two calls)."""
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)
