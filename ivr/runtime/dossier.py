"""The dossier lookup node: find the dossier, read its status in plain Vietnamese, personal
details only after the privacy check, and the overdue apology; an unreachable source gets an
apology and the node's ``failed`` branch."""

from __future__ import annotations

import asyncio

from core.errors import ErrorCode
from integrations.base import Dossier
from integrations.dossier_codes import DossierCodeError, find, parse_query
from integrations.privacy import PhoneCheck, view_for
from ivr.channel import CallerHungUp
from ivr.runtime import phrases
from ivr.runtime.conversation import AnswerKind, Conversation, Picked
from ivr.runtime.steps import Go, Step, from_pick, has_prompt, node_prompt, record_lookup
from menus.model import DossierLookupNode
from speech.understand import extract_digits


async def visit_dossier_lookup(conv: Conversation, node: DossierLookupNode) -> Step:
    """Find the dossier, read its status, its personal details after the check, and the
    overdue apology; an unreachable source gets an apology and the ``failed`` branch."""
    deps = conv.deps
    entry = str(conv.variables.get(node.variable, "")).strip()
    today = deps.now().date()
    if node_prompt(conv, node):
        await conv.say(node_prompt(conv, node))
    try:
        # Parsed once by the input node; an entry set elsewhere (a template, a test) is parsed here.
        query = conv.dossier_queries.get(node.variable) or parse_query(entry, today=today)
        found = await asyncio.wait_for(
            find(deps.dossiers, query), deps.timing.integration_timeout_s
        )
    except DossierCodeError:
        found = []
    except CallerHungUp:
        raise
    except Exception as exc:
        reason = getattr(exc, "reason", type(exc).__name__)
        record_lookup(conv, node, "dossier", entry, found=False, ok=False, detail=str(reason))
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"dossier source: {exc}")
        conv.context.reason = conv.context.reason or "hệ thống tra cứu hồ sơ gián đoạn"
        if not has_prompt(conv, node.failed):
            await conv.say(phrases.SYSTEM_APOLOGY)
        return Go(node.failed)
    if not found:
        record_lookup(conv, node, "dossier", entry, found=False)
        return Go(node.not_found)
    dossier = found[0]
    if len(found) > 1:
        items = [(str(i), d.procedure_name or d.code) for i, d in enumerate(found[:8])]
        pick = await conv.choose_from_list(f"Có {len(found)} hồ sơ trùng số này.", items, node)
        step = from_pick(pick, node)
        if step is not None:
            return step
        assert isinstance(pick, Picked)
        dossier = found[int(pick.value)]
    verified = await _privacy_check(conv, node, dossier) if node.personal_details else False
    view = view_for(dossier, verified=verified, today=today)
    conv.variables.update(
        dossier_code=dossier.code,
        dossier_status=dossier.status.label,
        dossier_due=phrases.spoken_date(dossier.due_on) if dossier.due_on else "",
    )
    late = deps.calendar.overdue_by(dossier.due_on, today) if view.overdue and dossier.due_on else 0
    summary = dossier.status.label + (f", quá hạn {late} ngày làm việc" if view.overdue else "")
    record_lookup(conv, node, "dossier", dossier.code, found=True, detail=summary)
    await conv.say(phrases.status_sentence(view))
    if verified:
        await conv.say(phrases.personal_sentence(view))
    if view.overdue:
        conv.context.reason = conv.context.reason or f"hồ sơ {dossier.code} quá hạn"
        await conv.say(phrases.overdue_sentence(late, conv.officer_key()))
        return Go(node.overdue or node.found)
    return Go(node.found)


async def _privacy_check(conv: Conversation, node: DossierLookupNode, dossier: Dossier) -> bool:
    """Caller ID, or the last digits of the dossier's phone typed (a few attempts)."""
    policy = conv.deps.disclosure
    check = PhoneCheck(dossier, policy, conv.channel.info.caller)
    if check.passed:
        return True
    question = (
        conv.fill(node.verify_prompt.text)
        if node.verify_prompt is not None
        else phrases.verify_prompt(policy.phone_digits)
    )
    while not check.locked:
        answer = await conv.ask(
            question,
            speech=True,
            timeout_s=conv.deps.timing.verify_timeout_s,
            max_digits=policy.phone_digits + 1,
            terminator="#",
            complete=lambda heard: len(extract_digits(heard)) >= policy.phone_digits,
        )
        if answer.kind is AnswerKind.NONE or not answer.text:
            return False  # the caller chose to skip: status only
        typed = answer.text if answer.kind is AnswerKind.DIGITS else extract_digits(answer.text)
        if check.attempt(typed):
            return True
        await conv.say(phrases.verify_failed())
    return False
