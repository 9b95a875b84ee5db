"""The procedure guidance node: pick a procedure (fixed, browsed by department and field from
keypad lists, or found by its spoken name) and read its documents, fees, processing time and
how to submit. A failing catalogue gets an apology and the way to a person."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from core.errors import ErrorCode
from integrations.base import Procedure
from ivr.channel import CallerHungUp
from ivr.runtime import phrases
from ivr.runtime.conversation import AnswerKind, Conversation, Picked
from ivr.runtime.people import offer_help
from ivr.runtime.steps import Act, Fail, Go, Step, from_pick, node_prompt, record_lookup
from menus.model import ProcedureMode, ProcedureNode, Topic

T = TypeVar("T")


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
    record_lookup(conv, node, "procedure", picked.code, found=True, detail=picked.name)
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
            record_lookup(conv, node, "procedure", node.procedure, found=False)
            return _not_found(node)
        return fixed
    if node.mode is ProcedureMode.FIND and not conv.keypad_only:
        return await _find_by_name(conv, node)
    return await _browse(conv, node)


async def _find_by_name(conv: Conversation, node: ProcedureNode) -> Procedure | Step:
    tree = conv.tree
    attempts = 1 + tree.retries_for(node)
    prompt = node_prompt(conv, node) or "Xin quý vị nói tên thủ tục cần tìm hiểu."
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
            step = from_pick(pick, node)
            if step is not None:
                return step
            assert isinstance(pick, Picked)
            return next(p for p in results if p.code == pick.value)
        if answer.kind is AnswerKind.SPEECH:
            record_lookup(conv, node, "procedure", answer.text, found=False)
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
    intro = node_prompt(conv, node)
    dept_id = node.department
    if dept_id is None:
        departments = await _catalogue_call(conv, "officer directory", deps.officers.departments())
        if not departments:
            return _not_found(node)
        pick = await conv.choose_from_list(
            intro or "Xin chọn cơ quan.", [(d.id, d.name) for d in departments], node
        )
        intro = ""
        step = from_pick(pick, node)
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
            step = from_pick(pick, node)
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
        record_lookup(conv, node, "procedure", f"{dept_id}/{field or ''}", found=False)
        return _not_found(node)
    if len(procedures) == 1:
        return procedures[0]
    pick = await conv.choose_from_list(
        intro or "Xin chọn thủ tục.", [(p.code, p.name) for p in procedures], node
    )
    step = from_pick(pick, node)
    if step is not None:
        return step
    assert isinstance(pick, Picked)
    return next(p for p in procedures if p.code == pick.value)
