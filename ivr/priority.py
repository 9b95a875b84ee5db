"""CPU priority and memory housekeeping of a process that carries calls.

A media process must send a packet every 20 ms per call. When it shares the cores with other
work (a database, a web app, a log shipper), the kernel may leave it waiting for a core for
tens of milliseconds and the callers hear the gap. Media servers therefore run above normal
priority: ``high`` lowers the nice value, ``realtime`` asks for round-robin real-time
scheduling (the kernel still keeps 5 % of every second for other processes). Either needs
root or CAP_SYS_NICE; without it the process goes on at normal priority with a warning.

Only the thread that asks (the event loop's: SIP, media clock, dialogs) is raised. Threads and
processes started afterwards (speech recognition, the call-log writer, espeak-ng) are reset to
normal priority by the kernel (SCHED_RESET_ON_FORK), so heavy decoding never competes with
the media clock on equal terms.

Real-time priority has a leash: a real-time thread that runs :data:`RT_LEASH_S` of CPU without
blocking (the event loop blocks in ``epoll`` many times a second; a runaway loop never does) is
signalled by the kernel (RLIMIT_RTTIME, SIGXCPU) and demotes itself to normal scheduling, with a
warning; if it cannot even run that handler (stuck inside C code), the kernel kills it at
:data:`RT_KILL_S`, and the dispatcher sees a worker die, rather than the host starving.

The garbage collector is also tuned once the process has loaded: everything alive after
start-up (modules, the menu tree, the prompt cache) is frozen out of collection, so a full
collection during calls walks only the calls' own objects and stays short.
"""

from __future__ import annotations

import enum
import gc
import logging
import os
import resource
import signal
import threading
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger(__name__)

HIGH_NICE = -10
REALTIME_PRIORITY = 10  # of 1-99: above ordinary threads, below the kernel's own
GC_THRESHOLD_0 = 5000  # allocations between young collections (Python's default is 700)
RT_LEASH_S = 0.5  # CPU a real-time thread may use without blocking before it is demoted
RT_KILL_S = 5.0  # ... and before the kernel kills it (the demotion handler never ran)


class Priority(enum.StrEnum):
    """How a call-carrying process asks to be scheduled."""

    NORMAL = "normal"
    HIGH = "high"
    REALTIME = "realtime"


@dataclass(frozen=True)
class Applied:
    """What the process got: ``granted`` False when the system refused the request."""

    asked: Priority
    granted: bool
    detail: str


def apply_priority(priority: Priority | str) -> Applied:
    """Ask the kernel to schedule this process at ``priority``. Never raises for a refusal:
    the process keeps running at the priority it has, and the refusal is logged."""
    wanted = Priority(priority)
    try:
        if wanted is Priority.REALTIME:
            leash = _leash_realtime()
            os.sched_setscheduler(
                0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(REALTIME_PRIORITY)
            )
            detail = f"real-time round-robin, priority {REALTIME_PRIORITY}, {leash}"
        elif wanted is Priority.HIGH:
            os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, 0, HIGH_NICE)
            detail = f"nice {HIGH_NICE}"
        else:
            return Applied(wanted, True, "normal")
    except (PermissionError, OSError, AttributeError) as exc:
        log.warning(
            "could not raise the media process priority to %s (%s): calls may hear gaps "
            "when other work shares the cores; run as root or grant CAP_SYS_NICE",
            wanted.value,
            exc,
        )
        return Applied(wanted, False, str(exc))
    log.info("media process scheduled at %s", detail)
    return Applied(wanted, True, detail)


def _leash_realtime() -> str:
    """Set RLIMIT_RTTIME and the SIGXCPU handler that demotes the runaway thread."""
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may set a signal handler: the kernel's kill is the only leash.
        resource.setrlimit(resource.RLIMIT_RTTIME, (_us(RT_KILL_S), _us(RT_KILL_S)))
        return f"killed after {RT_KILL_S:g} s of real-time CPU without blocking"
    signal.signal(signal.SIGXCPU, _demote)
    resource.setrlimit(resource.RLIMIT_RTTIME, (_us(RT_LEASH_S), _us(RT_KILL_S)))
    return f"demoted after {RT_LEASH_S:g} s of real-time CPU without blocking"


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def _demote(signum: int, frame: FrameType | None) -> None:
    """SIGXCPU: this thread ran too long at real-time priority without blocking."""
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.sched_param(0))
    except OSError as exc:
        log.error("a runaway real-time thread could not be demoted: %s", exc)
        return
    log.warning(
        "the media thread ran %.1f s at real-time priority without blocking: demoted to "
        "normal scheduling so it cannot starve the host (calls may now hear gaps)",
        RT_LEASH_S,
    )


def settle_garbage_collector() -> None:
    """Freeze what start-up allocated and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_0, second, third)
