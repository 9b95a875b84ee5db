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

The garbage collector is also tuned once the process has loaded: everything alive after
start-up (modules, the menu tree, the prompt cache) is frozen out of collection, so a full
collection during calls walks only the calls' own objects and stays short.
"""

from __future__ import annotations

import enum
import gc
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

HIGH_NICE = -10
REALTIME_PRIORITY = 10  # of 1-99: above ordinary threads, below the kernel's own
GC_THRESHOLD_0 = 5000  # allocations between young collections (Python's default is 700)


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
            os.sched_setscheduler(
                0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(REALTIME_PRIORITY)
            )
            detail = f"real-time round-robin, priority {REALTIME_PRIORITY}"
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


def settle_garbage_collector() -> None:
    """Freeze what start-up allocated and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_0, second, third)
