"""DTMF digits from RFC 4733 telephone events and from in-band tones (Goertzel).

Some gateways send keypresses as RFC 4733 events, others only as tones inside the audio, so
both are decoded; the stream decides which one to trust.
"""

from __future__ import annotations

from collections import deque
from functools import cache

import numpy as np
import numpy.typing as npt

from ivr.media.rtp import TelephoneEvent, ts_delta

EVENT_DIGITS = "0123456789*#ABCD"
# A segment whose duration came this close to the 16-bit limit may be continued under a new
# timestamp (RFC 4733 §2.5.1.3); a shorter one has simply lost its end packets.
SEGMENT_FULL = 0xFFFF - 800  # RFC 4733 event codes 0-15
ROW_HZ = (697.0, 770.0, 852.0, 941.0)
COL_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")


def event_digit(code: int) -> str | None:
    """The keypad symbol for an RFC 4733 event code, or None for non-DTMF events (16+)."""
    return EVENT_DIGITS[code] if 0 <= code < len(EVENT_DIGITS) else None


class EventTracker:
    """Turns the stream of RFC 4733 packets into digits, each reported exactly once.

    All packets of one keypress share an RTP timestamp. The first packet seen with a new
    timestamp reports the digit, whether it is a start packet or (when the start packets were
    lost) an end packet; the repeated end packets that follow are ignored. A keypress longer
    than the 16-bit duration field is continued under a new timestamp (RFC 4733 §2.5.1.3); that
    continuation is recognised and not reported again. Some gateways wrongly give consecutive
    keys the same timestamp, so a keypress is identified by timestamp and event code together.
    Others replay recorded keypresses with their original timestamps: when arrival times are
    given, a known keypress that comes back after the last one ended and ``repeat_gap_s`` of
    quiet is a new press (end-packet retransmissions follow within a few tens of ms).
    """

    def __init__(self, remembered: int = 16, *, repeat_gap_s: float = 0.08) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=remembered)  # (timestamp, code)
        self._last: tuple[int, int, bool, int] | None = None  # timestamp, code, ended, duration
        self._last_at: float | None = None
        self._repeat_gap_s = repeat_gap_s

    def feed(self, timestamp: int, event: TelephoneEvent, now: float | None = None) -> str | None:
        """One telephone-event packet (``now``: its arrival time in seconds, if known): returns
        the digit if this packet starts a keypress."""
        digit = event_digit(event.event)
        if digit is None:
            return None
        key = (timestamp, event.event)
        known = key in self._seen
        if (
            known
            and now is not None
            and self._last is not None
            and self._last[2]
            and self._last_at is not None
            and now - self._last_at > self._repeat_gap_s
        ):
            self._seen.remove(key)  # the same keypress replayed: a new press
            self._last = None
            known = False
        if now is not None:
            self._last_at = now
        continuation = False
        if not known and self._last is not None:
            last_ts, last_code, last_ended, last_duration = self._last
            gap = ts_delta(timestamp, last_ts)
            continuation = (
                last_code == event.event
                and not last_ended
                and last_duration >= SEGMENT_FULL
                and 0 < gap <= last_duration + 1600
            )
        if known:
            if self._last is not None and self._last[:2] == key:
                ended = self._last[2] or event.end
                duration = max(self._last[3], event.duration)
                self._last = (timestamp, event.event, ended, duration)
            return None
        self._seen.append(key)
        self._last = (timestamp, event.event, event.end, event.duration)
        return None if continuation else digit


@cache
def _filter_bank(rate: int, samples: int) -> npt.NDArray[np.float64]:
    # Rows 0-7: cosines, rows 8-15: sines, at the eight DTMF frequencies. One real matrix
    # product evaluates all eight Goertzel filters on a block.
    n = np.arange(samples)
    phase = 2 * np.pi * np.outer(np.array(ROW_HZ + COL_HZ), n) / rate
    bank = np.vstack((np.cos(phase), np.sin(phase)))
    bank.setflags(write=False)  # shared by every detector
    return bank


class GoertzelDetector:
    """In-band DTMF from 16-bit PCM, analysed in 20 ms blocks.

    Per block, the energy at the eight DTMF frequencies is measured (a Goertzel filter bank,
    computed as one matrix product). A block holds a digit when the strongest row and column
    tones are loud enough, within the allowed twist (the low tone may be up to
    ``low_louder_db`` louder, as lines attenuate high frequencies, the high tone up to
    ``high_louder_db``), each stands ``relative_peak_db`` above the other tones of its group,
    and together they carry ``tone_fraction`` of the block's energy (speech spreads its energy,
    a keypress concentrates it). A digit is reported after ``min_duration_ms`` of agreeing
    blocks, and the next digit only after ``min_gap_ms`` without any tone.

    ``min_tone_level`` is the peak amplitude of each tone in 16-bit units (250 is about
    -38 dBm0, below the -25 dBm0 a keypad must reach).
    """

    def __init__(
        self,
        *,
        rate: int = 8000,
        block_ms: int = 20,
        min_duration_ms: int = 40,
        min_gap_ms: int = 40,
        min_tone_level: float = 250.0,
        low_louder_db: float = 8.0,
        high_louder_db: float = 4.0,
        relative_peak_db: float = 6.0,
        tone_fraction: float = 0.7,
    ) -> None:
        self.block_samples = rate * block_ms // 1000
        self._bank = _filter_bank(rate, self.block_samples)
        self._inv_n = 1.0 / self.block_samples
        self._scale = 2.0 / self.block_samples**2  # |X|^2 to the mean power of a sine
        self._min_blocks = max(1, -(-min_duration_ms // block_ms))
        self._gap_blocks = max(1, -(-min_gap_ms // block_ms))
        # Mean power of a sine of amplitude A is A^2 / 2.
        self._min_power = min_tone_level**2 / 2
        self._low_louder = 10 ** (low_louder_db / 10)
        self._high_louder = 10 ** (high_louder_db / 10)
        self._peak = 10 ** (relative_peak_db / 10)
        self._fraction = tone_fraction
        self._pending = b""
        self._candidate: str | None = None
        self._run = 0
        self._quiet = self._gap_blocks
        self._armed = True

    def feed(self, pcm: bytes) -> list[str]:
        """Analyse more audio (any length); returns the digits that completed in it.

        Several blocks at once cost little more than one (one matrix product for all), so
        callers that can wait a few frames for a digit may batch them."""
        block_bytes = 2 * self.block_samples
        data = self._pending + pcm if self._pending else pcm
        whole = len(data) - len(data) % block_bytes
        self._pending = data[whole:]
        if not whole:
            return []
        digits = []
        for candidate in self._classify(data[:whole] if whole < len(data) else data):
            digit = self._step(candidate)
            if digit is not None:
                digits.append(digit)
        return digits

    def reset(self) -> None:
        """Forget partial blocks and tone state (e.g. after a codec change)."""
        self._pending = b""
        self._candidate = None
        self._run = 0
        self._quiet = self._gap_blocks
        self._armed = True

    def _classify(self, pcm: bytes) -> list[str | None]:
        blocks = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        blocks = blocks.reshape(-1, self.block_samples)
        filtered = (blocks @ self._bank.T).tolist()
        return [self._decide(v, blocks[i]) for i, v in enumerate(filtered)]

    def _decide(self, v: list[float], block: npt.NDArray[np.float64]) -> str | None:
        scale = self._scale
        # Plain floats from here: cheaper than numpy for eight values.
        rows = [(v[i] * v[i] + v[i + 8] * v[i + 8]) * scale for i in range(4)]
        cols = [(v[i] * v[i] + v[i + 8] * v[i + 8]) * scale for i in range(4, 8)]
        row, col = max(rows), max(cols)
        if row < self._min_power or col < self._min_power:
            return None
        if row > col * self._low_louder or col > row * self._high_louder:
            return None
        r, c = rows.index(row), cols.index(col)
        limit_row, limit_col = row / self._peak, col / self._peak
        for i in range(4):
            if (i != r and rows[i] > limit_row) or (i != c and cols[i] > limit_col):
                return None
        # Last, as the only check needing the block's total energy: most blocks never get here.
        if row + col < self._fraction * float(block @ block) * self._inv_n:
            return None
        return KEYPAD[r][c]

    def _step(self, candidate: str | None) -> str | None:
        if candidate is None:
            self._candidate = None
            self._run = 0
            self._quiet += 1
            if self._quiet >= self._gap_blocks:
                self._armed = True
            return None
        self._quiet = 0
        if candidate == self._candidate:
            self._run += 1
        else:
            self._candidate = candidate
            self._run = 1
        if self._armed and self._run >= self._min_blocks:
            self._armed = False
            return candidate
        return None
