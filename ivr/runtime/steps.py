"""What a node handler returns (:data:`Step`), and the small helpers every handler shares:
the node's prompt text, whether a branch target speaks for itself, lookup records and events."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.events import LookupDone
from ivr.runtime.conversation import Conversation, GaveUp, GlobalPicked, Pick
from ivr.runtime.deps import LookupRecord
from menus.model import BaseNode, GlobalAction


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


def from_pick(pick: Pick, node: BaseNode) -> Step | None:
    """Global actions and give-ups as steps; None for a real pick."""
    if isinstance(pick, GlobalPicked):
        return Act(pick.action, "caller asked")
    if isinstance(pick, GaveUp):
        return Fail(node)
    return None


def has_prompt(conv: Conversation, node_id: str) -> bool:
    """Whether a branch target has its own prompt (then it owns the wording of a failure)."""
    target = conv.tree.nodes.get(node_id)
    return target is not None and target.prompt is not None and bool(target.prompt.text.strip())


def node_prompt(conv: Conversation, node: BaseNode) -> str:
    return conv.fill(node.prompt.text) if node.prompt is not None else ""


def record_lookup(
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
        LookupDone(
            call_id=conv.context.call_id,
            node_id=node.id,
            lookup=kind,
            key=key,
            found=found,
            ok=ok,
            detail=detail,
        )
    )
