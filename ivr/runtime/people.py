"""The ways to a person: transfer to a department (targets from configuration only), callback
requests, the working-hours branch, and the offer of help after a failure."""

from __future__ import annotations

import asyncio

from core.errors import ErrorCode
from integrations.base import OpenState
from ivr.channel import CallerHungUp
from ivr.events import CallbackRequested, TransferRequested, TransferResult
from ivr.runtime import phrases
from ivr.runtime.conversation import Conversation, GlobalPicked, Option, Picked
from ivr.runtime.deps import CallbackRequest
from ivr.runtime.steps import Act, End, Go, Step, has_prompt, node_prompt
from menus.model import BaseNode, CallbackNode, CallbackNumber, GlobalAction, HoursNode


async def _department_name(conv: Conversation, dept_id: str) -> str:
    try:
        department = await asyncio.wait_for(
            conv.deps.officers.department(dept_id), conv.deps.timing.integration_timeout_s
        )
    except CallerHungUp:
        raise
    except Exception:
        return ""
    return department.name if department is not None else ""


async def _transfer_target(conv: Conversation, dept_id: str) -> str | None:
    """The configured SIP URI for a department: settings first, then the directory. Never
    anything the caller dialled or said."""
    configured = conv.deps.transfer_targets.get(dept_id)
    if configured:
        return configured
    try:
        return await asyncio.wait_for(
            conv.deps.officers.transfer_target(dept_id), conv.deps.timing.integration_timeout_s
        )
    except CallerHungUp:
        raise
    except Exception as exc:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"officer directory: {exc}")
        return None


async def transfer_to(
    conv: Conversation,
    department: str,
    reason: str,
    failed: str | None,
    prompt: str | None = None,
) -> Step:
    """Blind-transfer the caller to ``department``; on failure an apology and the callback
    option, then ``failed`` (the main menu when unset)."""
    ctx = conv.context
    ctx.department = department
    # The node's stated reason plus what the call itself showed (an overdue dossier, an outage).
    ctx.reason = "; ".join(r for r in (reason, ctx.reason) if r) if reason != ctx.reason else reason
    target = await _transfer_target(conv, department)
    if target is None:
        conv.emit_error(ErrorCode.TRANSFER_FAILED, f"no transfer target for {department!r}")
    else:
        name = await _department_name(conv, department)
        await conv.say(prompt or phrases.transfer_sentence(name), barge_in=False)
        conv.sink.emit(
            TransferRequested(
                call_id=ctx.call_id,
                node_id=conv.node_id,
                department=department,
                target=target,
                reason=ctx.reason,
            )
        )
        outcome = await conv.channel.transfer(target)
        conv.sink.emit(
            TransferResult(call_id=ctx.call_id, target=target, status=outcome.status, ok=outcome.ok)
        )
        if outcome.ok:
            return End("transferred")
        conv.emit_error(ErrorCode.TRANSFER_FAILED, f"{outcome.status} {outcome.reason}")
    if failed is not None and has_prompt(conv, failed):
        return Go(failed)  # the tree's own branch apologises and offers the callback
    await conv.say(phrases.TRANSFER_FAILED)
    return await _callback_or_menu(conv, department, failed)


async def _callback_or_menu(conv: Conversation, department: str, after: str | None) -> Step:
    """Offer a callback (1) or the main menu (2); silence means the main menu."""
    options = [
        Option("callback", "được gọi lại", "1", ("gọi lại",)),
        Option("menu", "trở về menu chính", "2", ("menu chính", "trở về")),
    ]
    prompt = "Để được cán bộ gọi lại, bấm phím 1. Để trở về menu chính, bấm phím 2."
    node = conv.tree.node(conv.node_id) if conv.node_id in conv.tree.nodes else None
    if node is None:
        return Go(after) if after else Act(GlobalAction.MAIN_MENU)
    pick = await conv.choose(prompt, options, node, globals_allowed=False)
    if isinstance(pick, Picked) and pick.value == "callback":
        await record_callback(conv, department, conv.channel.info.caller)
    return Go(after) if after else Act(GlobalAction.MAIN_MENU)


async def offer_help(conv: Conversation, node: BaseNode) -> Step:
    """After an integration failure: an officer, a callback, or the main menu."""
    options = [
        Option("callback", "được gọi lại", "1", ("gọi lại",)),
        Option("menu", "trở về menu chính", "2", ("menu chính", "trở về")),
    ]
    pick = await conv.choose(phrases.offer_help(conv.officer_key()), options, node)
    if isinstance(pick, GlobalPicked):
        return Act(pick.action, "integration failure")
    if isinstance(pick, Picked) and pick.value == "callback":
        department = conv.context.department or conv.tree.officer_department
        await record_callback(conv, department, conv.channel.info.caller)
    return Act(GlobalAction.MAIN_MENU)


async def record_callback(conv: Conversation, department: str, number: str) -> bool:
    """Store a callback request and tell the caller; an apology when the store fails."""
    ctx = conv.context
    request = CallbackRequest(
        call_id=ctx.call_id,
        department=department,
        number=number,
        reason=ctx.reason,
        requested_at=conv.deps.now(),
        context=ctx.summary(),
    )
    store = conv.deps.callbacks
    try:
        if store is not None:
            await asyncio.wait_for(store.record(request), conv.deps.timing.integration_timeout_s)
    except CallerHungUp:
        raise
    except Exception as exc:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"callback store: {exc}")
        await conv.say("Xin lỗi quý vị, hiện chưa ghi nhận được yêu cầu gọi lại.")
        return False
    conv.sink.emit(
        CallbackRequested(
            call_id=ctx.call_id, node_id=conv.node_id, department=department, number=number
        )
    )
    await conv.say(phrases.callback_recorded(number))
    return True


async def visit_callback(conv: Conversation, node: CallbackNode) -> Step:
    """Record a callback to the caller ID or to a number entered earlier."""
    number = conv.channel.info.caller
    if node.number is CallbackNumber.INPUT and node.variable:
        number = str(conv.variables.get(node.variable, "")) or number
    if node_prompt(conv, node):
        await conv.say(node_prompt(conv, node))
    if not await record_callback(conv, node.department, number):
        return await offer_help(conv, node)
    return Go(node.next)


async def visit_hours(conv: Conversation, node: HoursNode) -> Step:
    """Branch on the department's opening state; unknown counts as closed (whose branch
    offers a callback rather than a transfer nobody answers)."""
    try:
        state = await asyncio.wait_for(
            conv.deps.officers.is_open(node.department, conv.deps.now()),
            conv.deps.timing.integration_timeout_s,
        )
    except CallerHungUp:
        raise
    except Exception as exc:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"opening hours: {exc}")
        state = OpenState.CLOSED
    conv.variables["hours_state"] = state.value
    if node_prompt(conv, node):
        await conv.say(node_prompt(conv, node))
    if state is OpenState.OPEN:
        return Go(node.open)
    if state is OpenState.HOLIDAY and node.holiday is not None:
        return Go(node.holiday)
    return Go(node.closed)
