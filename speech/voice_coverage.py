"""How much of what callers hear is a human voice: per tree version, which prompts have a usable
recording, which pack fragments are missing, and the human share of a typical call.

The share is counted in spoken words (after :func:`speech.normalize.speakable`): a recorded
prompt's words are all human, a dynamic answer's words are human where the voice pack holds them.
Words stand in for seconds: both voices speak at about the same rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from speech.normalize import speakable
from speech.prompt_audio import prompt_recordings, static_texts
from speech.recorded import RecordedPrompts, RecordingError
from speech.voice_pack import VoicePack, missing_words, plan, words_of

TYPICAL_PATH_NODES = 8
"""Nodes followed from the start (first choice of each menu) to make a typical call's path."""


@dataclass(frozen=True)
class PromptCoverage:
    """One static prompt: its recording id, and whether that recording can be played."""

    text: str
    recording: str | None
    usable: bool
    problem: str = ""


@dataclass(frozen=True)
class Coverage:
    """Coverage of one tree version."""

    prompts: list[PromptCoverage]
    vocabulary: int
    missing: list[str]
    typical_words: int
    typical_human_words: int

    @property
    def recorded_prompts(self) -> int:
        return sum(p.usable for p in self.prompts)

    @property
    def human_share(self) -> float:
        """Share of a typical call's spoken words said by a human voice (0-1)."""
        return self.typical_human_words / self.typical_words if self.typical_words else 0.0


def _spoken_words(text: str) -> int:
    return sum(1 for w in words_of(speakable(text)) if w not in ",.;:!?")


def typical_path(tree: Any, limit: int = TYPICAL_PATH_NODES) -> list[str]:
    """Prompt texts of the nodes a typical caller passes: from the start, taking ``next``,
    ``target``, ``found`` or the first choice of a menu, each node once."""
    texts: list[str] = []
    seen: set[str] = set()
    node_id: str | None = tree.start
    while node_id is not None and node_id not in seen and len(seen) < limit:
        seen.add(node_id)
        node = tree.nodes.get(node_id)
        if node is None:
            break
        prompt = getattr(node, "prompt", None)
        if prompt is not None and prompt.text and "{" not in prompt.text:
            texts.append(" ".join(prompt.text.split()))
        choices = getattr(node, "choices", None)
        node_id = (
            getattr(node, "next", None)
            or getattr(node, "target", None)
            or getattr(node, "found", None)
            or (choices[0].next if choices else None)
        )
    return texts


def check_prompt(text: str, recording: str | None, recordings: RecordedPrompts) -> PromptCoverage:
    """Whether the recording of one prompt exists and decodes (runs ffmpeg: blocking)."""
    if recording is None:
        return PromptCoverage(text, None, False)
    try:
        recordings.convert(recordings.path_of(recording))
    except (RecordingError, OSError) as exc:
        return PromptCoverage(text, recording, False, str(exc))
    return PromptCoverage(text, recording, True)


def coverage(
    tree: Any,
    recordings: RecordedPrompts,
    pack: VoicePack | None,
    *,
    vocabulary: Sequence[str],
    answers: Iterable[str],
) -> Coverage:
    """Coverage of ``tree``: its static prompts, the pack against ``vocabulary``, and a typical
    call (its path's prompts followed by the sample dynamic ``answers``)."""
    by_text = prompt_recordings(tree)
    prompts = [check_prompt(t, by_text.get(t), recordings) for t in sorted(static_texts(tree))]
    usable = {p.text for p in prompts if p.usable}
    words = human = 0
    for text in typical_path(tree):
        n = _spoken_words(text)
        words += n
        human += n if text in usable else 0
    for answer in answers:
        spoken = plan(speakable(answer), pack)
        words += spoken.words
        human += spoken.recorded_words
    return Coverage(
        prompts=prompts,
        vocabulary=len(vocabulary),
        missing=missing_words(pack, vocabulary),
        typical_words=words,
        typical_human_words=human,
    )
