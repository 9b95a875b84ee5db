"""When the kernel received the last datagram read from a socket (Linux ``SIOCGSTAMP``).

The time a datagram callback runs is not when the packet arrived: the packet may have waited
in the socket buffer while the event loop was busy. Measuring a relay's added delay from the
callback would hide exactly the delay that matters, so it is measured from the kernel's receive
time. ``SIOCGSTAMP`` asks for the time stamp of the datagram last read (one system call, about
3 µs); the first call switches stamping on for the socket, so the first answer is discarded.
"""

from __future__ import annotations

import fcntl
import struct

SIOCGSTAMP = 0x8906  # linux/sockios.h (SIOCGSTAMP_OLD on 64-bit: a struct timeval)
_TIMEVAL = struct.Struct("@ll")


class ArrivalStamp:
    """Reads the receive time (``time.time()`` scale) of the datagram last read on `fd`."""

    __slots__ = ("_armed", "_fd")

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._armed = False

    def last(self) -> float | None:
        """Seconds since the epoch, or None (stamping just switched on, or unsupported)."""
        try:
            raw = fcntl.ioctl(self._fd, SIOCGSTAMP, bytes(_TIMEVAL.size))
        except OSError:
            return None
        if not self._armed:
            self._armed = True
            return None
        seconds, micros = _TIMEVAL.unpack(raw)
        return float(seconds + micros / 1e6)
