"""The dossier lookup node: find the dossier, read its status in plain Vietnamese, personal
details only after the privacy check, and the overdue apology; an unreachable source gets an
apology and the node's ``failed`` branch."""

from __future__ import annotations

import asyncio
import logging

from core.errors import ErrorCode
from integrations.base import Dossier
from integrations.dossier_codes import DossierCodeError, find, parse_query
from integrations.privacy import PhoneCheck, view_for
from integrations.verification import dossier_locked
from ivr.channel import CallerHungUp
from ivr.events import CallerCheck
from ivr.runtime import phrases
from ivr.runtime.conversation import AnswerKind, Conversation, Picked
from ivr.runtime.steps import Go, Step, from_pick, has_prompt, node_prompt, record_lookup
from menus.model import DossierLookupNode
from speech.understand import extract_digits

log = logging.getLogger(__name__)


async def visit_dossier_lookup(conv: Conversation, node: DossierLookupNode) -> Step:
    """Find the dossier, read its status, its personal details after the check, and the
    overdue apology; an unreachable source gets an apology and the ``failed`` branch."""
    deps = conv.deps
    entry = str(conv.variables.get(node.variable, "")).strip()
    today = deps.now().date()
    lookups = sum(1 for done in conv.context.lookups if done.kind == "dossier")
    if lookups >= deps.check_limits.max_lookups_per_call:  # no walking the codes in one call
        conv.emit_error(ErrorCode.LIMIT_REACHED, f"{lookups} dossier lookups in one call")
        await conv.say(phrases.TOO_MANY_LOOKUPS)
        return Go(node.failed)
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
        # Only public fields before the check (the processing unit, the agency part of the
        # code), never the procedure or the applicant.
        items = [(str(i), _public_label(d)) for i, d in enumerate(found[:8])]
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
        await conv.say(phrases.personal_sentence(view), template="dossier.personal")
    if view.overdue:
        conv.context.reason = conv.context.reason or f"hồ sơ {dossier.code} quá hạn"
        await conv.say(phrases.overdue_sentence(late, conv.officer_key()))
        return Go(node.overdue or node.found)
    return Go(node.found)


async def _privacy_check(conv: Conversation, node: DossierLookupNode, dossier: Dossier) -> bool:
    """A caller ID asserted by a trusted proxy, or the last digits of the dossier's phone typed:
    a few attempts per dossier and call, per call, and per dossier across calls."""
    policy = conv.deps.disclosure
    check = PhoneCheck(dossier, policy, conv.channel.info.asserted_caller)
    if check.passed:
        _check_event(conv, node, dossier, "asserted")
        return True
    if await _check_locked(conv, node, dossier):
        await conv.say(phrases.CHECK_LOCKED)
        return False
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
            _check_event(conv, node, dossier, "skipped")
            return False  # the caller chose to skip: status only
        typed = answer.text if answer.kind is AnswerKind.DIGITS else extract_digits(answer.text)
        if check.attempt(typed):
            _check_event(conv, node, dossier, "passed")
            return True
        conv.context.check_failures += 1
        now = conv.deps.now()
        await conv.deps.check_failures.record(dossier.code, conv.context.call_id, now)
        _check_event(conv, node, dossier, "failed")
        if await _check_locked(conv, node, dossier):
            await conv.say(phrases.CHECK_LOCKED)
            return False
        await conv.say(phrases.verify_failed())
    return False


async def _check_locked(conv: Conversation, node: DossierLookupNode, dossier: Dossier) -> bool:
    """Whether this call, or this dossier across calls, used up its attempts (logged)."""
    limits = conv.deps.check_limits
    if conv.context.check_failures >= limits.max_failures_per_call:
        _check_event(conv, node, dossier, "locked-call")
        return True
    if await dossier_locked(conv.deps.check_failures, limits, dossier.code, conv.deps.now()):
        _check_event(conv, node, dossier, "locked-dossier")
        return True
    return False


def _check_event(
    conv: Conversation, node: DossierLookupNode, dossier: Dossier, result: str
) -> None:
    failures = conv.context.check_failures
    if result.startswith("locked"):
        log.warning(
            "call %s: personal-details check %s for dossier %s after %d failure(s) in the call",
            conv.context.call_id[:12],
            result,
            dossier.code,
            failures,
        )
    conv.sink.emit(
        CallerCheck(
            call_id=conv.context.call_id,
            node_id=node.id,
            dossier_code=dossier.code,
            result=result,
            failures=failures,
        )
    )


def _public_label(dossier: Dossier) -> str:
    """How to tell dossiers sharing a tail apart before the check: where each is processed."""
    agency = dossier.code.split("-", 1)[0]
    unit = dossier.processing_unit
    return f"hồ sơ tại {unit}, mã cơ quan {agency}" if unit else f"hồ sơ mã cơ quan {agency}"
