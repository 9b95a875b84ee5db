"""What a caller hears for each prompt of a tree: the admin's recording, the cached rendering of a
static prompt, or a private rendering of a dynamic sentence.

The dialog runtime asks for audio by text alone (:data:`PromptSource`). :meth:`PromptVoice.for_tree`
turns one pinned tree version into such a source:

- a text the tree gives a ``recording`` plays that recording (decoded once, kept in memory by
  :class:`speech.recorded.RecordedPrompts`); a missing or unreadable recording is reported through
  ``report`` and the text is synthesised instead, so the caller never hears silence;
- a text written in the tree (or one of the runtime's fixed sentences) is static: it goes to the
  prompt cache, where an online engine may pre-render it and the rendering is kept on disk;
- anything else was built from data (a dossier's status, a name, a fee) and may carry personal
  data: it is rendered by ``private`` only, an offline path that writes nothing to disk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from core.audio import Audio

PromptSource = Callable[[str], Awaitable[Audio]]
"""Text to telephone-ready audio."""

ProblemReport = Callable[[str], None]
"""Told, in one safe line, why a recording could not be played."""


class RecordingSource(Protocol):
    """Recorded prompts by id (:class:`speech.recorded.RecordedPrompts`)."""

    async def load(self, prompt_id: str) -> Audio:
        """The recording as line audio; raises when it is missing or unreadable."""
        ...


def prompt_recordings(tree: Any) -> dict[str, str]:
    """Prompt text -> recording id for every prompt of ``tree`` that names a recording.

    Walks the tree's dataclasses; a prompt is any value with a ``text`` and a ``recording``
    (``menus.model.Prompt``). Texts with ``{placeholders}`` are left out: a recording cannot say
    the value filled in. The first recording given for a text wins.
    """
    found: dict[str, str] = {}
    for text, recording in _prompts(tree):
        if recording and "{" not in text:
            found.setdefault(" ".join(text.split()), recording)
    return found


def static_texts(tree: Any) -> set[str]:
    """Every prompt text of ``tree`` that is spoken exactly as written (no placeholders)."""
    return {" ".join(text.split()) for text, _ in _prompts(tree) if text and "{" not in text}


def _prompts(value: Any) -> Iterable[tuple[str, str | None]]:
    text = getattr(value, "text", None)
    if isinstance(text, str) and hasattr(value, "recording"):
        yield text, value.recording
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _prompts(getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _prompts(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _prompts(item)


class PromptVoice:
    """The three ways a prompt becomes audio, shared by every call of a worker.

    ``static`` renders texts written in a tree (the prompt cache); ``private`` renders sentences
    built from data and must stay offline and off disk (a voice pack over espeak-ng, see
    :mod:`speech.voice_pack`); ``recordings`` holds the admin's recorded prompts.
    ``fixed_texts`` are the runtime's own sentences that carry no data (the goodbye, the
    apology), treated as static.
    """

    def __init__(
        self,
        *,
        static: PromptSource,
        private: PromptSource,
        recordings: RecordingSource | None = None,
        fixed_texts: Iterable[str] = (),
    ) -> None:
        self._static = static
        self._private = private
        self._recordings = recordings
        self._fixed = {" ".join(t.split()) for t in fixed_texts}
        # The last tree's recordings and static texts: every call of a version shares them
        # (walking the tree on each call's set-up cost the event loop a millisecond a call).
        self._walked: tuple[Any, dict[str, str], frozenset[str]] | None = None

    def for_tree(
        self,
        tree: Any,
        *,
        report: ProblemReport | None = None,
        extra_static: Iterable[str] = (),
    ) -> PromptSource:
        """The prompt source of one call on ``tree`` (its recordings and static texts);
        ``extra_static`` adds the fixed sentences of an application without a tree."""
        walked = self._walked
        if walked is None or walked[0] is not tree:
            walked = (tree, prompt_recordings(tree), frozenset(static_texts(tree) | self._fixed))
            self._walked = walked
        recordings = walked[1]
        static = walked[2] | {" ".join(t.split()) for t in extra_static}

        async def prompt(text: str) -> Audio:
            key = " ".join(text.split())
            recording = recordings.get(key)
            if recording is not None and self._recordings is not None:
                try:
                    return await self._recordings.load(recording)
                except Exception as exc:  # any failure: say the text rather than nothing
                    if report is not None:
                        report(f"recording {recording!r} unavailable ({type(exc).__name__}: {exc})")
            elif recording is not None and report is not None:
                report(f"recording {recording!r} unavailable (no recordings folder configured)")
            if key in static:
                return await self._static(text)
            return await self._private(text)

        return prompt
