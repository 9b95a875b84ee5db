"""A stable number for each recordable prompt of a tree, and recordings attached to a draft.

An editor recording by phone chooses a prompt by number (:mod:`ivr.recording_line`); the editor
page shows the same number beside the prompt. A recordable prompt is a distinct prompt text with
no ``{placeholder}`` (a recording cannot say a value filled in at run time): exactly the texts
the hotline renders ahead of the first call. They are numbered from 1 over the nodes in order
of their ids (each node's prompt, then its no-input and no-match prompts and the rest), then the
tree's defaults. Node ids, not file order: the store keeps a published tree with sorted keys, so
the same tree has the same numbers as a file, a draft or a published version. Editing a prompt's
text keeps every other number; adding or removing a node shifts the numbers of the nodes after
it (by id), so the editor page, which shows the numbers, is the one to read.

:class:`DraftRecordings` attaches a recording to the newest draft of a tree (one is made from
the published version when there is none): publishing it is the editor's usual review step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from menus.model import MenuError, MenuTree, Prompt
from menus.schema import dump, read_tree
from menus.store import MenuNotFound, MenuStore
from menus.validate import check_text


@dataclass(frozen=True)
class NumberedPrompt:
    """One recordable prompt: its number, text, and the recording it has (if any)."""

    number: int
    text: str
    recording: str | None


def _key(text: str) -> str:
    return " ".join(text.split())


def _walk(value: Any) -> Iterator[Prompt]:
    if isinstance(value, Prompt):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)


def numbered_prompts(tree: MenuTree) -> list[NumberedPrompt]:
    """The recordable prompts of ``tree``, numbered from 1 (see the module docstring)."""
    found: dict[str, str | None] = {}
    nodes = [tree.nodes[node_id] for node_id in sorted(tree.nodes)]
    for prompt in _walk((nodes, dataclasses.replace(tree, nodes={}))):
        key = _key(prompt.text)
        if not key or "{" in key:
            continue
        if key not in found or (found[key] is None and prompt.recording):
            found[key] = prompt.recording
    return [NumberedPrompt(n, text, rec) for n, (text, rec) in enumerate(found.items(), 1)]


def prompt_number(tree: MenuTree, text: str) -> int | None:
    """The number of the prompt reading ``text`` in ``tree``, or None (dynamic or absent)."""
    key = _key(text)
    return next((p.number for p in numbered_prompts(tree) if p.text == key), None)


def _replace(value: Any, change: Callable[[Prompt], Prompt]) -> Any:
    if isinstance(value, Prompt):
        return change(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        updates = {
            f.name: _replace(getattr(value, f.name), change)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **updates)
    if isinstance(value, tuple):
        return tuple(_replace(item, change) for item in value)
    if isinstance(value, list):
        return [_replace(item, change) for item in value]
    if isinstance(value, Mapping):
        return {k: _replace(v, change) for k, v in value.items()}
    return value


def with_recording(tree: MenuTree, text: str, recording: str) -> MenuTree:
    """``tree`` with ``recording`` on every prompt reading ``text`` (same text, same voice)."""
    key = _key(text)

    def change(prompt: Prompt) -> Prompt:
        if _key(prompt.text) != key:
            return prompt
        return dataclasses.replace(prompt, recording=recording)

    result: MenuTree = _replace(tree, change)
    return result


class DraftChanged(MenuError):
    """The draft no longer holds the prompt chosen: nothing was attached."""


class DraftRecordings:
    """Recordings by phone go into the newest draft of ``tree_id`` (see the module docstring).

    Blocking database work: call from the event loop through ``asyncio.to_thread``.
    """

    def __init__(
        self,
        store: MenuStore,
        *,
        tree_id: str = "hotline",
        fallback: Path | None = None,
        author: str = "recording-line",
    ) -> None:
        self._store = store
        self._tree_id = tree_id
        self._fallback = fallback
        self._author = author

    def prompts(self) -> list[NumberedPrompt]:
        """The numbered prompts of the newest draft, or of the published tree without one."""
        draft_id = self._draft_id()
        if draft_id is not None:
            return numbered_prompts(self._draft_tree(draft_id)[0])
        return numbered_prompts(self._published())

    def attach(self, number: int, text: str, recording: str) -> int:
        """Give prompt ``number`` (which must still read ``text``) the ``recording`` in the
        newest draft, made from the published version when there is none; the draft's id."""
        draft_id = self._draft_id()
        if draft_id is None:
            source = dump(self._published(), "yaml")
            draft_id = self._store.create_draft(source, fmt="yaml", author=self._author).id
        tree, fmt = self._draft_tree(draft_id)
        current = {p.number: p.text for p in numbered_prompts(tree)}
        if current.get(number) != _key(text):
            raise DraftChanged(f"prompt {number} of draft {draft_id} is no longer the one chosen")
        changed = with_recording(tree, text, recording)
        self._store.update_draft(draft_id, dump(changed, fmt), fmt=fmt, author=self._author)
        return draft_id

    def _draft_id(self) -> int | None:
        return next((d.id for d in self._store.drafts() if d.tree_id == self._tree_id), None)

    def _draft_tree(self, draft_id: int) -> tuple[MenuTree, Any]:
        draft = self._store.draft(draft_id)
        # Built without the catalogue: only the prompts are needed; publish validates it all.
        tree, problems = check_text(draft.source, fmt=draft.fmt, departments=(), procedures=())
        if tree is None:
            raise DraftChanged(f"draft {draft_id} cannot be read ({problems[:1]})")
        return tree, draft.fmt

    def _published(self) -> MenuTree:
        try:
            return self._store.active(self._tree_id)[1]
        except MenuNotFound:
            if self._fallback is None:
                raise
            return read_tree(self._fallback)
