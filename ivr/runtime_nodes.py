"""One handler per node kind. Each speaks and listens through a :class:`Conversation` and
returns a :data:`Step` telling the runtime where to go: a node, a global action, the node's
``on_fail`` destination, or the end of the call.

Integration errors of any kind become a spoken apology and a way to a person, never silence.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from integrations.base import Dossier, OpenState, Procedure
from integrations.dossier_codes import (
    MAX_ENTRY_LENGTH,
    DossierCodeError,
    lookup,
    parse_code,
    parse_entry,
)
from integrations.privacy import PhoneCheck, mask_phone, normalize_phone, view_for
from ivr import phrases
from ivr.channel import CallerHungUp
from ivr.events import (
    CallbackRequested,
    ErrorCode,
    InputReceived,
    LookupDone,
    SurveyAnswered,
    TransferRequested,
    TransferResult,
)
from ivr.runtime_io import (
    AnswerKind,
    Conversation,
    GaveUp,
    GlobalPicked,
    Option,
    Pick,
    Picked,
)
from ivr.runtime_types import CallbackRequest, LookupRecord
from menus.model import (
    BackNode,
    BaseNode,
    CallbackNode,
    CallbackNumber,
    DossierLookupNode,
    GlobalAction,
    GotoNode,
    HangupNode,
    HoursNode,
    InputMode,
    InputNode,
    InputRule,
    MainMenuNode,
    MenuNode,
    Node,
    ProcedureMode,
    ProcedureNode,
    RepeatNode,
    RuleKind,
    SayNode,
    SurveyNode,
    Topic,
    TransferNode,
)
from speech.understand import extract_digits

T = TypeVar("T")

MAX_PHONE_DIGITS = 11
MAX_REGEX_INPUT = 40


@dataclass(frozen=True)
class Go:
    """Continue at a node."""

    node_id: str


@dataclass(frozen=True)
class Act:
    """Perform a global action (repeat, back, officer, main menu)."""

    action: GlobalAction
    reason: str = ""


@dataclass(frozen=True)
class Fail:
    """The caller gave no usable answer after every retry: apply the node's ``on_fail``."""

    node: BaseNode


@dataclass(frozen=True)
class End:
    """The call is over (hung up by the hotline, or transferred)."""

    outcome: str


Step = Go | Act | Fail | End


def _from_pick(pick: Pick, node: BaseNode) -> Step | None:
    """Global actions and give-ups as steps; None for a real pick."""
    if isinstance(pick, GlobalPicked):
        return Act(pick.action, "caller asked")
    if isinstance(pick, GaveUp):
        return Fail(node)
    return None


async def visit(conv: Conversation, node: Node) -> Step:
    """Run one node."""
    if isinstance(node, MenuNode):
        return await visit_menu(conv, node)
    if isinstance(node, SayNode):
        await conv.say(_prompt(conv, node))
        return Go(node.next)
    if isinstance(node, InputNode):
        return await visit_input(conv, node)
    if isinstance(node, DossierLookupNode):
        return await visit_dossier_lookup(conv, node)
    if isinstance(node, ProcedureNode):
        return await visit_procedure(conv, node)
    if isinstance(node, TransferNode):
        return await transfer_to(
            conv, node.department, node.reason, node.failed, _prompt(conv, node) or None
        )
    if isinstance(node, CallbackNode):
        return await visit_callback(conv, node)
    if isinstance(node, HoursNode):
        return await visit_hours(conv, node)
    if isinstance(node, SurveyNode):
        return await visit_survey(conv, node)
    if isinstance(node, GotoNode):
        await conv.say(_prompt(conv, node))
        return Go(node.target)
    if isinstance(node, BackNode | RepeatNode | MainMenuNode):
        await conv.say(_prompt(conv, node))
        action = {
            BackNode: GlobalAction.BACK,
            RepeatNode: GlobalAction.REPEAT,
            MainMenuNode: GlobalAction.MAIN_MENU,
        }[type(node)]
        return Act(action)
    assert isinstance(node, HangupNode)
    await conv.say(_prompt(conv, node) or phrases.GOODBYE, barge_in=False)
    await conv.channel.hangup()
    return End("hangup")


def _speaks(conv: Conversation, node_id: str) -> bool:
    """Whether a branch target has its own prompt (then it owns the wording of a failure)."""
    target = conv.tree.nodes.get(node_id)
    return target is not None and target.prompt is not None and bool(target.prompt.text.strip())


def _prompt(conv: Conversation, node: BaseNode) -> str:
    return conv.fill(node.prompt.text) if node.prompt is not None else ""


# --------------------------------------------------------------------------- menu


async def visit_menu(conv: Conversation, node: MenuNode) -> Step:
    """Play the menu and follow the caller's choice."""
    options = [
        Option(c.next, c.keywords[0] if c.keywords else c.next, c.key, c.keywords)
        for c in node.choices
    ]
    pick = await conv.choose(_prompt(conv, node), options, node)
    step = _from_pick(pick, node)
    if step is not None:
        return step
    assert isinstance(pick, Picked)
    return Go(pick.value)


# --------------------------------------------------------------------------- input


def _max_digits(rule: InputRule) -> int:
    if rule.kind is RuleKind.DOSSIER_CODE:
        return MAX_ENTRY_LENGTH
    if rule.kind is RuleKind.PHONE:
        return MAX_PHONE_DIGITS
    if rule.kind is RuleKind.DIGITS:
        return rule.max_digits or MAX_REGEX_INPUT
    return MAX_REGEX_INPUT


def check_value(rule: InputRule, raw: str, today: date) -> str | None:
    """The value to store when ``raw`` passes ``rule``, else None."""
    raw = raw.strip()
    if rule.kind is RuleKind.DOSSIER_CODE:
        try:
            return _dossier_entry(raw, today)
        except DossierCodeError:
            return None
    if rule.kind is RuleKind.PHONE:
        digits = normalize_phone(raw)
        ok = digits.startswith("0") and 10 <= len(digits) <= MAX_PHONE_DIGITS
        return digits if ok else None
    if rule.kind is RuleKind.DIGITS:
        low, high = rule.min_digits or 1, rule.max_digits or MAX_REGEX_INPUT
        return raw if raw.isdigit() and low <= len(raw) <= high else None
    try:
        return raw if rule.pattern and re.fullmatch(rule.pattern, raw) else None
    except re.error:
        return None


def _dossier_entry(raw: str, today: date) -> str:
    """A keypad/spoken entry, or a full code as spoken; raises DossierCodeError."""
    if re.fullmatch(r"[0-9*#]+", raw):
        parse_entry(raw, today=today)
        return raw.removesuffix("#")
    return parse_code(raw, today=today).code


async def visit_input(conv: Conversation, node: InputNode) -> Step:
    """Ask for a value, check it, read it back when asked to, store it."""
    tree = conv.tree
    today = conv.deps.now().date()
    attempts = 1 + tree.retries_for(node)
    for attempt in range(attempts):
        answer = await conv.ask(
            _prompt(conv, node),
            speech=node.mode is not InputMode.DIGITS,
            timeout_s=tree.timeout_for(node),
            max_digits=_max_digits(node.rule),
            terminator=node.terminator,
            inter_digit_s=tree.inter_digit_timeout_for(node),
        )
        value: str | None = None
        if answer.kind is AnswerKind.DIGITS:
            value = check_value(node.rule, answer.text, today)
            action = conv.global_for_key(answer.text) if len(answer.text) == 1 else None
            if value is None and action is not None:
                return Act(action, "caller asked")
        elif answer.kind is AnswerKind.SPEECH:
            if node.rule.kind is RuleKind.REGEX:
                heard = answer.text
            else:
                heard = extract_digits(answer.text, letters=node.rule.kind is RuleKind.DOSSIER_CODE)
            value = check_value(node.rule, heard, today)
            wanted = conv.global_for_words(answer.text) if value is None else None
            conv.note_speech(answer, value or (f"global:{wanted.value}" if wanted else None))
            if wanted is not None:
                return Act(wanted, "caller asked")
        if answer.kind is not AnswerKind.NONE:
            conv.sink.emit(
                InputReceived(
                    call_id=conv.context.call_id,
                    node_id=node.id,
                    mode=answer.kind.value,
                    value=_loggable(node.rule, value or answer.text),
                    valid=value is not None,
                )
            )
        if value is not None and node.confirm:
            question = (
                conv.fill(
                    node.confirm_prompt.text.replace("{value}", phrases.spoken_digits(value, 2))
                )
                if node.confirm_prompt is not None
                else phrases.read_back(value)
            )
            if not await conv.confirm(question):
                continue
        if value is not None:
            conv.variables[node.variable] = value
            conv.context.inputs[node.variable] = _loggable(node.rule, value)
            return Go(node.next)
        if attempt + 1 < attempts:
            prompt = (
                tree.no_input_for(node)
                if answer.kind is AnswerKind.NONE
                else tree.no_match_for(node)
            )
            await conv.say(conv.fill(prompt.text))
    return Fail(node)


def _loggable(rule: InputRule, value: str) -> str:
    """Phone numbers are personal data: the context and events carry them masked."""
    return mask_phone(value) if rule.kind is RuleKind.PHONE else value


# --------------------------------------------------------------------------- dossier lookup


async def visit_dossier_lookup(conv: Conversation, node: DossierLookupNode) -> Step:
    """Find the dossier, read its status, its personal details after the check, and the
    overdue apology; an unreachable source gets an apology and the ``failed`` branch."""
    deps = conv.deps
    entry = str(conv.variables.get(node.variable, "")).strip()
    today = deps.now().date()
    if _prompt(conv, node):
        await conv.say(_prompt(conv, node))
    try:
        found = await asyncio.wait_for(
            lookup(deps.dossiers, entry, today=today), deps.timing.integration_timeout_s
        )
    except DossierCodeError:
        found = []
    except CallerHungUp:
        raise
    except Exception as exc:
        reason = getattr(exc, "reason", type(exc).__name__)
        _lookup_event(conv, node, "dossier", entry, found=False, ok=False, detail=str(reason))
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"dossier source: {exc}")
        conv.context.reason = conv.context.reason or "hệ thống tra cứu hồ sơ gián đoạn"
        if not _speaks(conv, node.failed):
            await conv.say(phrases.SYSTEM_APOLOGY)
        return Go(node.failed)
    if not found:
        _lookup_event(conv, node, "dossier", entry, found=False)
        return Go(node.not_found)
    dossier = found[0]
    if len(found) > 1:
        items = [(str(i), d.procedure_name or d.code) for i, d in enumerate(found[:8])]
        pick = await conv.choose_from_list(f"Có {len(found)} hồ sơ trùng số này.", items, node)
        step = _from_pick(pick, node)
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
    _lookup_event(conv, node, "dossier", dossier.code, found=True, detail=summary)
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
        )
        if answer.kind is AnswerKind.NONE or not answer.text:
            return False  # the caller chose to skip: status only
        typed = answer.text if answer.kind is AnswerKind.DIGITS else extract_digits(answer.text)
        if check.attempt(typed):
            return True
        await conv.say(phrases.verify_failed())
    return False


def _lookup_event(
    conv: Conversation,
    node: BaseNode,
    kind: str,
    key: str,
    *,
    found: bool,
    ok: bool = True,
    detail: str = "",
) -> None:
    conv.context.lookups.append(LookupRecord(kind, key, found, detail if ok else f"lỗi: {detail}"))
    conv.sink.emit(
        lookup_done(
            call_id=conv.context.call_id,
            node_id=node.id,
            kind=kind,
            key=key,
            found=found,
            ok=ok,
            detail=detail,
        )
    )


def lookup_done(**fields: Any) -> LookupDone:
    """A :class:`LookupDone` event.

    Its ``kind`` field ("dossier" | "procedure") collides with the read-only ``CallEvent.kind``
    property, so the class as declared cannot be built. Until that is resolved in
    :mod:`ivr.events`, the instance is filled directly: ``event.kind`` stays the event's kind
    (``lookup-done``, what the call log files it under) and ``payload()["kind"]`` is the
    lookup's.
    """
    try:
        return LookupDone(**fields)
    except AttributeError:
        event = object.__new__(LookupDone)
        event.__dict__.update({"at": datetime.now(UTC), **fields})
        return event


# --------------------------------------------------------------------------- procedures


class _Unavailable(Exception):
    """The catalogue or directory failed; already reported."""


async def visit_procedure(conv: Conversation, node: ProcedureNode) -> Step:
    """Pick a procedure (fixed, browsed or found by name) and read the chosen topics."""
    try:
        picked = await _pick_procedure(conv, node)
    except _Unavailable:
        await conv.say(phrases.SYSTEM_APOLOGY)
        return await offer_help(conv, node)
    if not isinstance(picked, Procedure):
        return picked
    conv.variables.update(procedure_name=picked.name, procedure_code=picked.code)
    conv.context.department = picked.department_id
    _lookup_event(conv, node, "procedure", picked.code, found=True, detail=picked.name)
    sentences = [phrases.procedure_intro(picked)]
    for topic in node.topics:
        if topic is Topic.DOCUMENTS:
            sentences.append(phrases.documents_sentence(picked.documents))
        elif topic is Topic.FEES:
            sentences.append(phrases.procedure_fee_sentence(picked))
        elif topic is Topic.PROCESSING_TIME:
            sentences.append(phrases.processing_time_sentence(picked))
        else:
            sentences.append(phrases.submission_sentence(picked))
    for sentence in sentences:
        await conv.say(sentence)
    return Go(node.next)


async def _catalogue_call(conv: Conversation, what: str, call: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(call, conv.deps.timing.integration_timeout_s)
    except CallerHungUp:
        raise
    except Exception as exc:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"{what}: {exc}")
        raise _Unavailable(what) from exc


def _not_found(node: ProcedureNode) -> Step:
    return Go(node.not_found) if node.not_found is not None else Fail(node)


async def _pick_procedure(conv: Conversation, node: ProcedureNode) -> Procedure | Step:
    catalogue = conv.deps.catalogue
    if node.procedure is not None:
        fixed: Procedure | None = await _catalogue_call(
            conv, "catalogue", catalogue.get(node.procedure)
        )
        if fixed is None:
            _lookup_event(conv, node, "procedure", node.procedure, found=False)
            return _not_found(node)
        return fixed
    if node.mode is ProcedureMode.FIND and not conv.keypad_only:
        return await _find_by_name(conv, node)
    return await _browse(conv, node)


async def _find_by_name(conv: Conversation, node: ProcedureNode) -> Procedure | Step:
    tree = conv.tree
    attempts = 1 + tree.retries_for(node)
    prompt = _prompt(conv, node) or "Xin quý vị nói tên thủ tục cần tìm hiểu."
    for attempt in range(attempts):
        answer = await conv.ask(prompt, speech=True, timeout_s=tree.timeout_for(node))
        if answer.kind is AnswerKind.DIGITS:
            action = conv.global_for_key(answer.text)
            if action is not None:
                return Act(action, "caller asked")
        results: list[Procedure] = []
        if answer.kind is AnswerKind.SPEECH and answer.text:
            results = await _catalogue_call(
                conv, "catalogue", conv.deps.catalogue.search(answer.text, 5)
            )
            conv.note_speech(answer, results[0].code if results else None)
        if len(results) == 1:
            return results[0]
        if results:
            # Best first: offer the best match alone before reading out a whole list.
            if await conv.confirm(phrases.spoken_confirmation(f"hỏi thủ tục {results[0].name}")):
                return results[0]
            pick = await conv.choose_from_list(
                "Tôi tìm thấy các thủ tục sau.", [(p.code, p.name) for p in results], node
            )
            step = _from_pick(pick, node)
            if step is not None:
                return step
            assert isinstance(pick, Picked)
            return next(p for p in results if p.code == pick.value)
        if answer.kind is AnswerKind.SPEECH:
            _lookup_event(conv, node, "procedure", answer.text, found=False)
        if attempt + 1 < attempts:
            prompt_obj = (
                tree.no_input_for(node)
                if answer.kind is AnswerKind.NONE
                else tree.no_match_for(node)
            )
            await conv.say(conv.fill(prompt_obj.text))
    return _not_found(node)


async def _browse(conv: Conversation, node: ProcedureNode) -> Procedure | Step:
    deps = conv.deps
    intro = _prompt(conv, node)
    dept_id = node.department
    if dept_id is None:
        departments = await _catalogue_call(conv, "officer directory", deps.officers.departments())
        if not departments:
            return _not_found(node)
        pick = await conv.choose_from_list(
            intro or "Xin chọn cơ quan.", [(d.id, d.name) for d in departments], node
        )
        intro = ""
        step = _from_pick(pick, node)
        if step is not None:
            return step
        assert isinstance(pick, Picked)
        dept_id = pick.value
    conv.context.department = dept_id
    field = node.field
    if field is None:
        fields: list[str] = await _catalogue_call(conv, "catalogue", deps.catalogue.fields(dept_id))
        if len(fields) == 1:
            field = fields[0]
        elif fields:
            pick = await conv.choose_from_list(
                intro or "Xin chọn lĩnh vực.", [(f, f) for f in fields], node
            )
            intro = ""
            step = _from_pick(pick, node)
            if step is not None:
                return step
            assert isinstance(pick, Picked)
            field = pick.value
    procedures: list[Procedure] = await _catalogue_call(
        conv, "catalogue", deps.catalogue.by_department(dept_id)
    )
    if field is not None:
        procedures = [p for p in procedures if p.field == field]
    if not procedures:
        _lookup_event(conv, node, "procedure", f"{dept_id}/{field or ''}", found=False)
        return _not_found(node)
    if len(procedures) == 1:
        return procedures[0]
    pick = await conv.choose_from_list(
        intro or "Xin chọn thủ tục.", [(p.code, p.name) for p in procedures], node
    )
    step = _from_pick(pick, node)
    if step is not None:
        return step
    assert isinstance(pick, Picked)
    return next(p for p in procedures if p.code == pick.value)


# --------------------------------------------------------------------------- people


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
    if failed is not None and _speaks(conv, failed):
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
    if _prompt(conv, node):
        await conv.say(_prompt(conv, node))
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
    if _prompt(conv, node):
        await conv.say(_prompt(conv, node))
    if state is OpenState.OPEN:
        return Go(node.open)
    if state is OpenState.HOLIDAY and node.holiday is not None:
        return Go(node.holiday)
    return Go(node.closed)


SURVEY_WORDS = {1: "một", 2: "hai", 3: "ba", 4: "bốn", 5: "năm"}


async def visit_survey(conv: Conversation, node: SurveyNode) -> Step:
    """A score from 1 to 5. No answer just moves on: nobody is sent to an officer for
    skipping a survey."""
    options = [
        Option(str(n), f"{n} điểm", str(n), (f"{n} điểm", f"{word} điểm", str(n)))
        for n, word in SURVEY_WORDS.items()
    ]
    pick = await conv.choose(_prompt(conv, node), options, node, globals_allowed=False)
    if isinstance(pick, Picked):
        score = int(pick.value)
        conv.variables[node.variable] = score
        conv.context.survey_score = score
        conv.sink.emit(SurveyAnswered(call_id=conv.context.call_id, node_id=node.id, score=score))
        await conv.say(phrases.survey_thanks(score))
    return Go(node.next)
