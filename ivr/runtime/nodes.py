"""One visitor per node kind, registered in :data:`VISITORS`. Each speaks and listens through a
:class:`Conversation` and returns a :data:`Step` telling the runtime where to go: a node, a
global action, the node's ``on_fail`` destination, or the end of the call.

Integration errors of any kind become a spoken apology and a way to a person, never silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from datetime import date
from types import MappingProxyType
from typing import Any

from integrations.dossier_codes import MAX_ENTRY_LENGTH, DossierCodeError, DossierQuery, parse_query
from integrations.privacy import mask_phone, normalize_phone
from ivr.events import InputReceived, SurveyAnswered
from ivr.runtime import phrases
from ivr.runtime.conversation import AnswerKind, Conversation, Option, Picked
from ivr.runtime.dossier import visit_dossier_lookup
from ivr.runtime.people import transfer_to, visit_callback, visit_hours
from ivr.runtime.procedure import visit_procedure
from ivr.runtime.steps import Act, End, Fail, Go, Step, from_pick, node_prompt
from ivr.runtime.voice_message import visit_message
from menus.model import (
    BackNode,
    BaseNode,
    CallbackNode,
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
    MessageNode,
    Node,
    ProcedureNode,
    RepeatNode,
    RuleKind,
    SayNode,
    SurveyNode,
    TransferNode,
)
from menus.patterns import DATE_ENTRY_DIGITS, MAX_PATTERN_INPUT, date_entry, pattern_matches
from speech.personal import personal_text
from speech.understand import extract_digits

Visitor = Callable[[Conversation, Any], Awaitable[Step]]
"""Runs one node of a kind on a conversation and says where to go next."""


async def visit(conv: Conversation, node: Node) -> Step:
    """Run one node with the visitor registered for its kind."""
    return await VISITORS[type(node)](conv, node)


async def visit_say(conv: Conversation, node: SayNode) -> Step:
    """Play the prompt, go on."""
    await conv.say(node_prompt(conv, node))
    return Go(node.next)


async def visit_transfer(conv: Conversation, node: TransferNode) -> Step:
    """Hand the caller to the node's department."""
    return await transfer_to(
        conv, node.department, node.reason, node.failed, node_prompt(conv, node) or None
    )


async def visit_goto(conv: Conversation, node: GotoNode) -> Step:
    """Play the prompt (if any) and jump."""
    await conv.say(node_prompt(conv, node))
    return Go(node.target)


_ACTIONS = {
    BackNode: GlobalAction.BACK,
    RepeatNode: GlobalAction.REPEAT,
    MainMenuNode: GlobalAction.MAIN_MENU,
}


async def visit_action(conv: Conversation, node: BackNode | RepeatNode | MainMenuNode) -> Step:
    """Back, repeat, main menu: the same actions as the global keys."""
    await conv.say(node_prompt(conv, node))
    return Act(_ACTIONS[type(node)])


async def visit_hangup(conv: Conversation, node: HangupNode) -> Step:
    """Say goodbye (without barge-in) and end the call."""
    await conv.say(node_prompt(conv, node) or phrases.GOODBYE, barge_in=False)
    await conv.channel.hangup()
    return End("hangup")


# --------------------------------------------------------------------------- menu


async def visit_menu(conv: Conversation, node: MenuNode) -> Step:
    """Play the menu and follow the caller's choice."""
    options = [
        Option(c.next, c.keywords[0] if c.keywords else c.next, c.key, c.keywords)
        for c in node.choices
    ]
    pick = await conv.choose(node_prompt(conv, node), options, node)
    step = from_pick(pick, node)
    if step is not None:
        return step
    assert isinstance(pick, Picked)
    return Go(pick.value)


# --------------------------------------------------------------------------- input


MAX_PHONE_DIGITS = 11
MAX_REGEX_INPUT = MAX_PATTERN_INPUT


def _max_digits(rule: InputRule) -> int:
    if rule.kind is RuleKind.DOSSIER_CODE:
        return MAX_ENTRY_LENGTH
    if rule.kind is RuleKind.PHONE:
        return MAX_PHONE_DIGITS
    if rule.kind is RuleKind.DIGITS:
        return rule.max_digits or MAX_REGEX_INPUT
    if rule.kind is RuleKind.DATE:
        return DATE_ENTRY_DIGITS
    return MAX_REGEX_INPUT


def check_input(rule: InputRule, raw: str, today: date) -> tuple[str, DossierQuery | None] | None:
    """The value to store when ``raw`` passes ``rule`` (with the parsed dossier query for a
    dossier-code rule), else None."""
    raw = raw.strip()
    if rule.kind is RuleKind.DOSSIER_CODE:
        try:
            query = parse_query(raw, today=today)
        except DossierCodeError:
            return None
        if query.entry_error is not None:
            return None  # keypad digits must make a keypad entry (date and sequence)
        return query.text, query
    value = check_value(rule, raw, today)
    return None if value is None else (value, None)


def check_value(rule: InputRule, raw: str, today: date) -> str | None:
    """The value to store when ``raw`` passes ``rule``, else None."""
    raw = raw.strip()
    if rule.kind is RuleKind.DOSSIER_CODE:
        checked = check_input(rule, raw, today)
        return None if checked is None else checked[0]
    if rule.kind is RuleKind.PHONE:
        digits = normalize_phone(raw)
        ok = digits.startswith("0") and 10 <= len(digits) <= MAX_PHONE_DIGITS
        return digits if ok else None
    if rule.kind is RuleKind.DIGITS:
        low, high = rule.min_digits or 1, rule.max_digits or MAX_REGEX_INPUT
        return raw if raw.isdigit() and low <= len(raw) <= high else None
    if rule.kind is RuleKind.DATE:
        return date_entry(raw)
    return raw if pattern_matches(rule.pattern or "", raw) else None


def _spoken_value(node: InputNode, transcript: str) -> str:
    """What a transcript gives for an input node: the words for a pattern, else the digits
    (and, for a dossier code, the letters of its agency part)."""
    if node.rule.kind is RuleKind.REGEX:
        return transcript
    return extract_digits(transcript, letters=node.rule.kind is RuleKind.DOSSIER_CODE)


async def visit_input(conv: Conversation, node: InputNode) -> Step:
    """Ask for a value, check it, read it back when asked to, store it."""
    tree = conv.tree
    today = conv.deps.now().date()
    attempts = 1 + tree.retries_for(node)
    for attempt in range(attempts):
        answer = await conv.ask(
            node_prompt(conv, node),
            speech=node.mode is not InputMode.DIGITS,
            timeout_s=tree.timeout_for(node),
            max_digits=_max_digits(node.rule),
            terminator=node.terminator,
            inter_digit_s=tree.inter_digit_timeout_for(node),
            # a spoken value that already passes the node's rule needs no more listening
            complete=lambda heard: (
                check_value(node.rule, _spoken_value(node, heard), today) is not None
            ),
        )
        value: str | None = None
        checked: tuple[str, DossierQuery | None] | None = None
        if answer.kind is AnswerKind.DIGITS:
            checked = check_input(node.rule, answer.text, today)
            value = checked[0] if checked else None
            action = conv.global_for_key(answer.text) if len(answer.text) == 1 else None
            if value is None and action is not None:
                return Act(action, "caller asked")
        elif answer.kind is AnswerKind.SPEECH:
            checked = check_input(node.rule, _spoken_value(node, answer.text), today)
            value = checked[0] if checked else None
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
            with personal_text() if node.rule.kind is RuleKind.PHONE else nullcontext():
                verdict = await conv.yes_no_or_global(question)  # a number read back: personal
            if isinstance(verdict, GlobalAction):
                return Act(verdict, "caller asked")
            if not verdict:
                continue
        if value is not None:
            conv.variables[node.variable] = value
            if checked is not None and checked[1] is not None:
                conv.dossier_queries[node.variable] = checked[1]
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


SURVEY_WORDS = {1: "một", 2: "hai", 3: "ba", 4: "bốn", 5: "năm"}


async def visit_survey(conv: Conversation, node: SurveyNode) -> Step:
    """A score from 1 to 5. No answer just moves on: nobody is sent to an officer for
    skipping a survey."""
    options = [
        Option(str(n), f"{n} điểm", str(n), (f"{n} điểm", f"{word} điểm", str(n)))
        for n, word in SURVEY_WORDS.items()
    ]
    pick = await conv.choose(node_prompt(conv, node), options, node, globals_allowed=False)
    if isinstance(pick, Picked):
        score = int(pick.value)
        conv.variables[node.variable] = score
        conv.context.survey_score = score
        conv.sink.emit(SurveyAnswered(call_id=conv.context.call_id, node_id=node.id, score=score))
        await conv.say(phrases.survey_thanks(score))
    return Go(node.next)


VISITORS: Mapping[type[BaseNode], Visitor] = MappingProxyType(
    {
        MenuNode: visit_menu,
        SayNode: visit_say,
        InputNode: visit_input,
        DossierLookupNode: visit_dossier_lookup,
        ProcedureNode: visit_procedure,
        TransferNode: visit_transfer,
        CallbackNode: visit_callback,
        MessageNode: visit_message,
        HoursNode: visit_hours,
        SurveyNode: visit_survey,
        GotoNode: visit_goto,
        BackNode: visit_action,
        RepeatNode: visit_action,
        MainMenuNode: visit_action,
        HangupNode: visit_hangup,
    }
)
"""The one place node kinds meet the runtime: a new kind is its module, its model class and a
line here (``tests/runtime`` checks that every kind of the model has a visitor)."""
