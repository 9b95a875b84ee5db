"""The dialog runtime's voice: prompts with barge-in, keypad and spoken answers, retries.

:class:`Conversation` owns one call's turn-taking. A prompt plays with barge-in by key and,
when a recogniser and a voice detector are injected, by speech: a :class:`SpeechTurn` reads
the caller's frames while the prompt plays, sets the barge-in event at the speech onset and
feeds the utterance to a recognition session until the detector hears its end. When no
recognition slot is free at the onset, the call switches to the keypad at once.
"""

from __future__ import annotations

import asyncio
import enum
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ErrorCode
from integrations.dossier_codes import DossierQuery
from ivr.channel import (
    FRAME_MS,
    CallChannel,
    CallerHungUp,
    DigitSpec,
    PlayOutcome,
    collect_digits,
)
from ivr.events import CallError, EventSink, InputReceived, PromptPlayed, SpeechRecognized
from ivr.runtime import phrases
from ivr.runtime.deps import CallContext, RuntimeDeps
from ivr.runtime.speech_turn import SpeechTurn
from menus.model import BaseNode, GlobalAction, MenuTree
from speech.asr import RecognitionSession, RecognizerError, Result
from speech.understand import match_choice, yes_no

FRAME_S = FRAME_MS / 1000
YES_KEY = "1"
NO_KEY = "2"


class AnswerKind(enum.StrEnum):
    """How the caller answered one question."""

    DIGITS = "dtmf"
    SPEECH = "speech"
    NONE = "none"


@dataclass(frozen=True)
class Answer:
    """One answer: keys pressed, words recognised, or nothing before the timeout."""

    kind: AnswerKind
    text: str = ""
    confidence: float | None = None


NO_ANSWER = Answer(AnswerKind.NONE)
_REFUSED = Answer(AnswerKind.NONE, "recognition refused")  # compared by identity


@dataclass(frozen=True)
class Option:
    """One thing the caller may pick: by ``key``, or by saying one of ``keywords``."""

    value: str
    label: str
    key: str | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Picked:
    """The caller picked an option."""

    value: str


@dataclass(frozen=True)
class GlobalPicked:
    """The caller used a global key or keyword (repeat, back, officer, main menu)."""

    action: GlobalAction


@dataclass(frozen=True)
class GaveUp:
    """No usable answer after every retry."""


Pick = Picked | GlobalPicked | GaveUp


class _Variables(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_DIGIT_RUN = re.compile(r"\d{4,}")


def fill(text: str, variables: Mapping[str, Any]) -> str:
    """Fill ``{name}`` placeholders from call variables; unknown names become empty and a
    malformed template is spoken as written rather than failing the call."""
    # identifiers the caller gave (codes, phone numbers) are read digit by digit, not as an
    # amount ("8 7 5 3", not "tám nghìn bảy trăm năm mươi ba")
    spoken = {
        name: phrases.spoken_digits(value)
        if isinstance(value, str) and _DIGIT_RUN.fullmatch(value)
        else value
        for name, value in variables.items()
    }
    try:
        return string.Formatter().vformat(text, (), _Variables(spoken))
    except (ValueError, IndexError, KeyError, AttributeError):
        return text


class Conversation:
    """One call's prompts and answers, with the call context and events kept up to date."""

    def __init__(
        self,
        channel: CallChannel,
        tree: MenuTree,
        deps: RuntimeDeps,
        sink: EventSink,
        context: CallContext,
    ) -> None:
        self.channel = channel
        self.tree = tree
        self.deps = deps
        self.sink = sink
        self.context = context
        self.node_id = tree.start
        self.variables: dict[str, Any] = {}
        # Dossier entries parsed once by the input node, by variable, for the lookup node.
        self.dossier_queries: dict[str, DossierQuery] = {}
        self.keypad_only = not deps.speech_enabled
        self.answers = 0  # questions the caller answered (keys or words) in this call
        self._told_keypad = False

    # -- events

    def emit_error(self, code: ErrorCode, detail: str) -> None:
        """Report a problem without stopping the call."""
        self.sink.emit(CallError(call_id=self.context.call_id, code=code, detail=detail[:300]))

    def _emit_input(self, mode: str, value: str, *, valid: bool = True) -> None:
        self.sink.emit(
            InputReceived(
                call_id=self.context.call_id,
                node_id=self.node_id,
                mode=mode,
                value=value,
                valid=valid,
            )
        )

    def note_speech(self, answer: Answer, matched: str | None) -> None:
        """Record a recognised utterance in the context and the event stream."""
        self.context.recognized.append(answer.text)
        self.sink.emit(
            SpeechRecognized(
                call_id=self.context.call_id,
                node_id=self.node_id,
                text=answer.text,
                confidence=answer.confidence,
                matched=matched,
            )
        )

    # -- speaking

    def fill(self, text: str) -> str:
        """A prompt text with the call variables filled in."""
        return fill(text, self.variables)

    async def say(self, text: str, *, barge_in: bool = True) -> PlayOutcome:
        """Speak ``text`` (keys interrupt it when ``barge_in``; the key stays queued)."""
        return await self._play(text, barge_in_digits=barge_in, speech_event=None)

    async def _play(
        self, text: str, *, barge_in_digits: bool, speech_event: asyncio.Event | None
    ) -> PlayOutcome:
        if not text.strip():
            return PlayOutcome(True)
        try:
            audio = await self.deps.prompts(text)
        except Exception as exc:
            self.emit_error(ErrorCode.SYNTHESIS_FAILED, f"{type(exc).__name__}: {exc}")
            return PlayOutcome(True)
        outcome = await self.channel.play(
            audio, barge_in_digits=barge_in_digits, barge_in=speech_event
        )
        self.sink.emit(
            PromptPlayed(
                call_id=self.context.call_id,
                node_id=self.node_id,
                text=text,
                interrupted=not outcome.completed,
            )
        )
        return outcome

    # -- listening

    async def ask(
        self,
        text: str,
        *,
        speech: bool,
        timeout_s: float,
        max_digits: int = 1,
        terminator: str | None = None,
        inter_digit_s: float | None = None,
        grammar: Sequence[str] | None = None,
        complete: Callable[[str], bool] | None = None,
    ) -> Answer:
        """Speak ``text`` and wait for keys (up to ``max_digits``) or, when ``speech`` and
        available, one spoken utterance. ``complete`` tells whether a transcript already
        answers the question, so the utterance may end at a short pause. Never raises for
        recogniser trouble: when recognition is refused the call switches to the keypad and
        the question is asked again."""

        async def attempt(with_speech: bool) -> Answer:
            return await self._ask(
                text,
                speech=with_speech,
                timeout_s=timeout_s,
                max_digits=max_digits,
                terminator=terminator,
                inter_digit_s=inter_digit_s,
                grammar=grammar,
                complete=complete,
            )

        answer = await attempt(speech)
        if answer is _REFUSED:
            await self.fall_back_to_keypad()
            answer = await attempt(False)
        if answer.kind is not AnswerKind.NONE:
            self.answers += 1
        return answer

    async def fall_back_to_keypad(self) -> None:
        """Recognition is unavailable: keys only for the rest of the call, said once."""
        self.keypad_only = True
        if not self._told_keypad:
            self._told_keypad = True
            await self.say(phrases.KEYPAD_ONLY, barge_in=True)

    def _session_opener(self, grammar: Sequence[str] | None) -> Callable[[], RecognitionSession]:
        recognizer = self.deps.recognizer
        assert recognizer is not None
        phrases_ = list(grammar) if grammar else None

        def open_session() -> RecognitionSession:
            try:
                return recognizer.open_session(grammar=phrases_)
            except RecognizerError as exc:
                known = exc.code in {c.value for c in ErrorCode}
                self.emit_error(ErrorCode(exc.code) if known else ErrorCode.INTERNAL, str(exc))
                raise

        return open_session

    async def _ask(
        self,
        text: str,
        *,
        speech: bool,
        timeout_s: float,
        max_digits: int,
        terminator: str | None,
        inter_digit_s: float | None,
        grammar: Sequence[str] | None,
        complete: Callable[[str], bool] | None,
    ) -> Answer:
        turn: SpeechTurn | None = None
        task: asyncio.Task[Result | None] | None = None
        detector = self.deps.voice_detector
        if speech and not self.keypad_only and detector is not None:
            timing = self.deps.timing
            turn = SpeechTurn(
                self.channel,
                self._session_opener(grammar),
                detector(),
                max_utterance_s=timing.max_utterance_s,
                preroll_s=timing.preroll_s,
                complete=complete,
                complete_pause_s=timing.complete_pause_s,
            )
            task = asyncio.create_task(turn.run())
        try:
            outcome = await self._play(
                text, barge_in_digits=True, speech_event=turn.started if turn else None
            )
            if outcome.digit is not None:
                first = await self.channel.next_digit(0.0)
            elif outcome.speech and turn is not None and task is not None:
                return await self._utterance(turn, task)
            else:
                first = await self._first_key_or_speech(timeout_s, turn)
                if first is None and turn is not None and turn.started.is_set():
                    assert task is not None
                    return await self._utterance(turn, task)
            if first is None:
                return NO_ANSWER
            return await self._rest_of_keys(first, max_digits, terminator, inter_digit_s)
        finally:
            if task is not None:
                if not task.done():
                    task.cancel()
                # Collect the turn's end (or its failure) so nothing is left unretrieved.
                await asyncio.gather(task, return_exceptions=True)

    async def _first_key_or_speech(self, timeout_s: float, turn: SpeechTurn | None) -> str | None:
        key_task = asyncio.create_task(self.channel.next_digit(timeout_s))
        if turn is None:
            return await key_task
        onset = asyncio.create_task(turn.started.wait())
        try:
            await asyncio.wait({key_task, onset}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            onset.cancel()
        if key_task.done():
            return key_task.result()
        key_task.cancel()
        await asyncio.gather(key_task, return_exceptions=True)
        return None

    async def _utterance(self, turn: SpeechTurn, task: asyncio.Task[Result | None]) -> Answer:
        limit_s = self.deps.timing.max_utterance_s + 5.0
        try:
            result = await asyncio.wait_for(asyncio.shield(task), timeout=limit_s)
        except TimeoutError:
            self.emit_error(ErrorCode.INTERNAL, "recognition did not finish in time")
            return NO_ANSWER
        except CallerHungUp:
            raise
        except Exception as exc:  # an engine failure costs one answer, never the call
            self.emit_error(ErrorCode.INTERNAL, f"recognition failed: {exc}")
            return NO_ANSWER
        if turn.refused is not None:
            return _REFUSED
        if result is None or not result.text.strip():
            return NO_ANSWER  # noise, a cough, or words the recogniser could not make out
        return Answer(AnswerKind.SPEECH, result.text.strip(), result.confidence)

    async def _rest_of_keys(
        self, first: str, max_digits: int, terminator: str | None, inter_digit_s: float | None
    ) -> Answer:
        if terminator is not None and first == terminator:
            return Answer(AnswerKind.DIGITS, "")
        digits = first
        if max_digits > 1:
            inter = (
                inter_digit_s
                if inter_digit_s is not None
                else self.tree.defaults.inter_digit_timeout_s
            )
            spec = DigitSpec(
                max_digits=max_digits - 1,
                min_digits=0,
                terminator=terminator,
                first_timeout_s=inter,
                inter_timeout_s=inter,
            )
            digits += (await collect_digits(self.channel, spec)).digits
        return Answer(AnswerKind.DIGITS, digits)

    # -- choosing among options, with retries

    def global_for_key(self, key: str) -> GlobalAction | None:
        """The global action bound to ``key`` in this tree."""
        return self.tree.global_keys.get(key)

    def global_for_words(self, transcript: str) -> GlobalAction | None:
        """The global action a transcript clearly asks for ("gặp cán bộ"), if any."""
        keywords = {
            action.value: tuple(words) for action, words in self.tree.global_keywords.items()
        }
        match = match_choice(transcript, keywords) if keywords else None
        if match is None or match.confirm:
            return None
        return GlobalAction(match.key)

    def officer_key(self) -> str | None:
        """The key that reaches an officer anywhere, if the tree has one."""
        for key, action in self.tree.global_keys.items():
            if action is GlobalAction.OFFICER:
                return key
        return None

    async def choose(
        self,
        prompt: str,
        options: Sequence[Option],
        node: BaseNode,
        *,
        speech: bool = True,
        globals_allowed: bool = True,
    ) -> Pick:
        """Ask until the caller picks an option (by key or by voice) or a global action, with
        the node's no-input / no-match prompts and retries."""
        by_key = {o.key: o for o in options if o.key is not None}
        spoken: dict[str, tuple[str, ...]] = {o.value: o.keywords for o in options if o.keywords}
        labels = {o.value: o.label for o in options}
        if globals_allowed:
            for action, words in self.tree.global_keywords.items():
                spoken.setdefault(f"global:{action.value}", tuple(words))
                labels.setdefault(f"global:{action.value}", action.value)
        grammar = [w for words in spoken.values() for w in words]

        def picked_one(transcript: str) -> bool:
            match = match_choice(transcript, spoken)
            return match is not None and not match.confirm

        attempts = 1 + self.tree.retries_for(node)
        for attempt in range(attempts):
            answer = await self.ask(
                prompt,
                speech=speech and bool(spoken),
                timeout_s=self.tree.timeout_for(node),
                grammar=grammar or None,
                complete=picked_one if spoken else None,
            )
            if answer.kind is AnswerKind.DIGITS:
                option = by_key.get(answer.text)
                wanted = self.global_for_key(answer.text) if globals_allowed else None
                self._emit_input("dtmf", answer.text, valid=option is not None or bool(wanted))
                if option is not None:
                    return Picked(option.value)
                if wanted is not None:
                    return GlobalPicked(wanted)
            elif answer.kind is AnswerKind.SPEECH:
                pick = await self._match_speech(answer, spoken, labels)
                if pick is not None:
                    return pick
            if attempt + 1 < attempts:
                await self.retry_prompt(node, answer)
        return GaveUp()

    async def _match_speech(
        self, answer: Answer, spoken: Mapping[str, tuple[str, ...]], labels: Mapping[str, str]
    ) -> Pick | None:
        match = match_choice(answer.text, spoken) if spoken else None
        self.note_speech(answer, match.key if match else None)
        if match is None:
            return None
        unsure = match.confirm or (answer.confidence is not None and answer.confidence < 0.5)
        if unsure and not await self.confirm(phrases.spoken_confirmation(labels[match.key])):
            return None
        if match.key.startswith("global:"):
            return GlobalPicked(GlobalAction(match.key.removeprefix("global:")))
        return Picked(match.key)

    async def retry_prompt(self, node: BaseNode, answer: Answer) -> None:
        """The node's no-input or no-match prompt, whichever fits ``answer``."""
        if answer.kind is AnswerKind.NONE:
            await self.say(self.fill(self.tree.no_input_for(node).text))
        else:
            await self.say(self.fill(self.tree.no_match_for(node).text))

    async def confirm(self, question: str) -> bool:
        """A yes/no question: key 1 or "có" is yes; anything else, or nothing, is no."""
        return await self.yes_no_or_global(question) is True

    async def yes_no_or_global(self, question: str) -> bool | GlobalAction:
        """A yes/no question where the caller may also use a global key or keyword (other
        than the yes and no keys): True, False, or the global action asked for."""
        answer = await self.ask(
            question,
            speech=True,
            timeout_s=self.deps.timing.confirm_timeout_s,
            grammar=["có", "đúng", "không", "sai"],
            complete=lambda heard: (
                yes_no(heard) is not None or self.global_for_words(heard) is not None
            ),
        )
        if answer.kind is AnswerKind.DIGITS:
            wanted = self.global_for_key(answer.text)
            if answer.text not in (YES_KEY, NO_KEY) and wanted is not None:
                return wanted
            return answer.text == YES_KEY
        if answer.kind is AnswerKind.SPEECH:
            verdict = yes_no(answer.text)
            wanted = self.global_for_words(answer.text) if verdict is None else None
            matched = "yes" if verdict else "no"
            self.note_speech(answer, f"global:{wanted.value}" if wanted else matched)
            return wanted if wanted is not None else verdict is True
        return False

    async def choose_from_list(
        self,
        intro: str,
        items: Sequence[tuple[str, str]],
        node: BaseNode,
        *,
        keywords: Callable[[str], tuple[str, ...]] | None = None,
    ) -> Pick:
        """Read a keypad list ("bấm 1 cho …"), a page of ``list_page_size`` at a time with 9
        for the next page; ``items`` are (value, label) pairs. Labels may also be spoken."""
        size = self.deps.timing.list_page_size
        pages = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        page = 0
        while True:
            chunk = pages[page]
            options = [
                Option(value, label, str(i + 1), keywords(label) if keywords else (label,))
                for i, (value, label) in enumerate(chunk)
            ]
            text = phrases.keypad_list([label for _, label in chunk])
            more = len(pages) > 1
            if more:
                text += " Để nghe thêm, bấm 9."
                options.append(Option("__next__", "nghe thêm", "9", ("nghe thêm", "tiếp theo")))
            pick = await self.choose(f"{intro} {text}".strip(), options, node)
            if isinstance(pick, Picked) and pick.value == "__next__":
                page = (page + 1) % len(pages)
                intro = ""
                continue
            return pick
