"""The way to an officer through the department's queue (and the bridge), from the runtime.

Used by :func:`ivr.runtime.people.transfer_to` when the worker has a queue: a department with
an officer signed in takes the caller into its line; the officer who answers first hears a
one-sentence summary of the call (the whisper).
"""

from __future__ import annotations

import asyncio

from core.errors import ErrorCode
from ivr.channel import CallerHungUp
from ivr.events import TransferRequested, TransferResult
from ivr.queue.waiting import QueueDoor
from ivr.runtime import phrases
from ivr.runtime.conversation import Conversation
from ivr.runtime.steps import End, Step

QUEUE_TARGET = "queue:"  # how a queued transfer is named in the call's events


def spoken_code(code: str) -> str:
    """A dossier code as an officer hears it: the last ten digits (reception date and sequence,
    "2503039005") when the code has them, else the code as it is."""
    digits = "".join(c for c in code if c.isdigit())
    return digits[-10:] if len(digits) >= 10 else code


def whisper_text(conv: Conversation, department_name: str) -> str:
    """ "Cuộc gọi về hồ sơ 2503039005, đang chờ bổ sung giấy tờ, Sở Công thương": the last
    dossier looked up (with what was said about it), else the reason, then the department."""
    ctx = conv.context
    parts: list[str] = []
    dossiers = [lookup for lookup in ctx.lookups if lookup.kind == "dossier" and lookup.found]
    if dossiers:
        parts.append(f"Cuộc gọi về hồ sơ {spoken_code(dossiers[-1].key)}")
        if dossiers[-1].summary:
            parts.append(dossiers[-1].summary)
    else:
        parts.append("Cuộc gọi từ tổng đài")
        if ctx.reason:
            parts.append(ctx.reason)
    if department_name:
        parts.append(department_name)
    return ", ".join(parts)


async def wait_for_officer(
    conv: Conversation, door: QueueDoor, department: str, prompt: str | None
) -> Step | None:
    """The caller waits in `department`'s line; None when the queue does not serve it (nobody
    signed in, or the queue failed: the caller is then transferred the configured way)."""
    try:
        if not await asyncio.wait_for(
            door.serves(department), conv.deps.timing.integration_timeout_s
        ):
            return None
        department_obj = await asyncio.wait_for(
            conv.deps.officers.department(department), conv.deps.timing.integration_timeout_s
        )
    except CallerHungUp:
        raise
    except Exception as exc:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"queue: {exc}")
        return None
    name = department_obj.name if department_obj is not None else ""
    target = QUEUE_TARGET + department
    call_id = conv.context.call_id
    conv.sink.emit(
        TransferRequested(
            call_id=call_id,
            node_id=conv.node_id,
            department=department,
            target=target,
            reason=conv.context.reason,
        )
    )
    result = await door.wait(
        conv.channel,
        department,
        summary=whisper_text(conv, name),
        intro=prompt or phrases.transfer_sentence(name),
    )
    served = result.outcome == "served"
    conv.sink.emit(
        TransferResult(call_id=call_id, target=target, status=200 if served else 487, ok=served)
    )
    if result.outcome in ("served", "callback"):
        return End("transferred" if served else "callback")
    return None
