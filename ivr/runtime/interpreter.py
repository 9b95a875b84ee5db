"""The dialog runtime: interprets a pinned menu tree on a :class:`~ivr.channel.CallChannel`.

Entry point::

    context = await run_call(channel, PinnedTree.of(tree), deps, sink)

The runtime walks the tree node by node (handlers in :mod:`ivr.runtime.nodes`, prompts and
answers in :mod:`ivr.runtime.conversation`), applies global keys (repeat, back, main menu, officer),
sends a caller who runs out of retries to an officer or the main menu, emits a typed event for
everything, and returns the :class:`CallContext` officers see. It never imports SIP or RTP, and
a caller hanging up at any point ends the run cleanly.

Wiring, once per worker (every field is a Protocol or a callable; tests pass fakes)::

    deps = RuntimeDeps(
        prompts=prompt_cache.get,                    # text -> Audio
        dossiers=DatabaseDossierSource(sessions),    # or the HTTP source
        catalogue=DbProcedureCatalogue(sessions),
        officers=DbOfficerDirectory(...),
        callbacks=None,                   # None: the CallbackRequested event is the record
        calendar=HolidayCalendar(config),
        now=lambda: datetime.now(ZoneInfo(settings.timezone)),
        transfer_targets=settings.sip.transfer_targets,
        recognizer=create_recognizer(settings.speech),  # None: keypad only
        voice_detector=SpeechDetector,                  # a fresh detector per question
    )
    number, tree = menu_store.active()               # pinned when the call arrives
    context = await run_call(call, PinnedTree(tree, number), deps, sink)
"""

from __future__ import annotations

import logging

from core.errors import ErrorCode
from ivr.channel import CallChannel, CallerHungUp
from ivr.events import EventSink, NodeEntered
from ivr.runtime import phrases
from ivr.runtime.conversation import Conversation
from ivr.runtime.deps import (
    CallbackRequest,
    CallbackStore,
    CallContext,
    LookupRecord,
    PinnedTree,
    PromptSource,
    RuntimeDeps,
    RuntimeTiming,
    VoiceDetector,
    WorkingDays,
)
from ivr.runtime.nodes import visit
from ivr.runtime.people import transfer_to
from ivr.runtime.steps import Act, End, Fail, Go, Step
from menus.model import (
    BackNode,
    BaseNode,
    GlobalAction,
    GotoNode,
    MenuNode,
    OnFail,
    RepeatNode,
    SayNode,
)

__all__ = [
    "CallContext",
    "CallbackRequest",
    "CallbackStore",
    "DialogRuntime",
    "LookupRecord",
    "PinnedTree",
    "PromptSource",
    "RuntimeDeps",
    "RuntimeTiming",
    "VoiceDetector",
    "WorkingDays",
    "run_call",
]

log = logging.getLogger(__name__)

ERROR_APOLOGY = "Xin lỗi quý vị, hệ thống gặp sự cố. Xin quý vị vui lòng gọi lại sau."


async def run_call(
    channel: CallChannel, pinned: PinnedTree, deps: RuntimeDeps, sink: EventSink
) -> CallContext:
    """Run one call on ``pinned`` to its end; the call context built on the way."""
    return await DialogRuntime(channel, pinned, deps, sink).run()


class DialogRuntime:
    """One call walking one pinned tree version."""

    def __init__(
        self, channel: CallChannel, pinned: PinnedTree, deps: RuntimeDeps, sink: EventSink
    ) -> None:
        self.channel = channel
        self.pinned = pinned
        self.tree = pinned.tree
        self.deps = deps
        self.sink = sink
        info = channel.info
        self.context = CallContext(
            call_id=info.call_id,
            caller=info.caller,
            tree_id=self.tree.id,
            tree_version=pinned.version,
        )
        self.conv = Conversation(channel, self.tree, deps, sink, self.context)
        self._menus: list[str] = []  # menu nodes in the order visited, for "back"
        self._previous: str | None = None
        self._fruitless = 0  # consecutive give-ups without a usable answer

    @property
    def main_menu_id(self) -> str:
        """The first menu reached from the start through say/goto nodes: "main menu" skips the
        greeting and recording notice a caller already heard. The start node when there is none."""
        node_id = self.tree.start
        for _ in range(len(self.tree.nodes)):
            node = self.tree.nodes.get(node_id)
            if isinstance(node, MenuNode):
                return node_id
            if isinstance(node, SayNode):
                node_id = node.next
            elif isinstance(node, GotoNode):
                node_id = node.target
            else:
                break
        return self.tree.start

    async def run(self) -> CallContext:
        """Walk the tree until the call ends; never raises for a caller hanging up."""
        try:
            await self._walk()
        except CallerHungUp:
            self.context.outcome = "caller-hung-up"
        except Exception as exc:
            log.exception("dialog runtime failed on call %s", self.context.call_id)
            self.conv.emit_error(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            self.context.outcome = "error"
            await self._apologise_and_hang_up()
        return self.context

    async def _walk(self) -> None:
        node_id: str | None = self.tree.start
        visits = 0
        while node_id is not None:
            visits += 1
            if visits > self.deps.timing.max_node_visits:
                self.conv.emit_error(ErrorCode.MENU_ERROR, "too many nodes visited in one call")
                await self._goodbye(ERROR_APOLOGY)
                return
            node = self.tree.nodes.get(node_id)
            if node is None:
                self.conv.emit_error(ErrorCode.MENU_ERROR, f"no node {node_id!r} in the tree")
                if node_id == self.tree.start:
                    await self._goodbye(ERROR_APOLOGY)
                    return
                node_id = self.tree.start
                continue
            self._enter(node)
            answers_before = self.conv.answers
            step = await visit(self.conv, node)
            if self.conv.answers > answers_before and not isinstance(step, Fail):
                self._fruitless = 0  # the caller is engaging again
            node_id = await self._resolve(step, node)

    def _enter(self, node: BaseNode) -> None:
        self.conv.node_id = node.id
        path = self.context.path
        if path and path[-1] != node.id:
            self._previous = path[-1]
        self.context.path.append(node.id)
        if isinstance(node, MenuNode) and (not self._menus or self._menus[-1] != node.id):
            self._menus.append(node.id)
        self.sink.emit(
            NodeEntered(
                call_id=self.context.call_id,
                tree_version=self.pinned.version,
                node_id=node.id,
                node_kind=node.kind.value,
            )
        )

    async def _resolve(self, step: Step, node: BaseNode) -> str | None:
        """The next node id for a step, or None when the call is over."""
        if isinstance(step, Go):
            return step.node_id
        if isinstance(step, End):
            self.context.outcome = step.outcome
            return None
        if isinstance(step, Act):
            return await self._global(step.action, node, step.reason)
        return await self._give_up(step)

    async def _global(self, action: GlobalAction, node: BaseNode, reason: str) -> str | None:
        if action is GlobalAction.REPEAT:
            if isinstance(node, RepeatNode):
                return self._previous or self.tree.start
            return node.id
        if action is GlobalAction.MAIN_MENU:
            return self.main_menu_id
        if action is GlobalAction.BACK:
            return self._back_target(node)
        return await self._officer(node, reason or "caller asked for an officer")

    def _back_target(self, node: BaseNode) -> str:
        menus = self._menus
        if menus and (menus[-1] == node.id or isinstance(node, BackNode)):
            # Leaving this menu (a back node counts as part of the menu that offered it):
            # "back" means the menu before it.
            menus.pop()
        if not menus:
            return self.main_menu_id
        return menus[-1]

    async def _officer(self, node: BaseNode, reason: str) -> str | None:
        officer_node = self.tree.officer_node
        if officer_node is not None and officer_node != node.id:
            self.context.reason = self.context.reason or reason
            return officer_node
        step = await transfer_to(self.conv, self.tree.officer_department, reason, None)
        if isinstance(step, End):
            self.context.outcome = step.outcome
            return None
        return await self._resolve(step, node)

    async def _give_up(self, step: Fail) -> str | None:
        node = step.node
        self._fruitless += 1
        if self._fruitless > self.deps.timing.max_failed_rounds + 1:
            # Officer and main menu were both offered and nothing came: say goodbye.
            await self._goodbye(phrases.GOODBYE)
            return None
        on_fail = self.tree.on_fail_for(node)
        rounds_left = self._fruitless <= self.deps.timing.max_failed_rounds
        if on_fail is OnFail.MAIN_MENU and rounds_left and node.id != self.main_menu_id:
            return self.main_menu_id
        return await self._officer(node, f"không nhận được lựa chọn tại {node.id}")

    async def _goodbye(self, text: str) -> None:
        await self.conv.say(text, barge_in=False)
        await self.channel.hangup()
        self.context.outcome = self.context.outcome or "hangup"

    async def _apologise_and_hang_up(self) -> None:
        try:
            await self.conv.say(ERROR_APOLOGY, barge_in=False)
        except Exception:
            log.debug("apology could not be played", exc_info=True)
        try:
            await self.channel.hangup()
        except Exception:
            log.debug("hang-up after an error failed", exc_info=True)
