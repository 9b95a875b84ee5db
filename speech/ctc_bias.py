"""Listening for the choices on offer: CTC rescoring towards the phrases a question expects.

A greedy CTC transcript takes, frame by frame, the token the model found most likely. When a
caller says an option in noise or with an accent, the option's tokens are often the second
choice on exactly those frames ("hóa đơn" heard as "hòa đơn"), and the transcript then misses
the option although the model's scores hold it. :class:`PhraseBias` looks for each expected
phrase (the current menu node's keywords, or yes/no) anywhere in the utterance: a Viterbi
alignment over the model's log-probabilities of "anything, then the phrase's tokens (with
blanks), then anything", where "anything" costs what the greedy path costs. The best alignment
costs ``loss`` nats more than the greedy path over the same frames (0 when the greedy transcript
already holds the phrase). A phrase whose loss is smaller than ``bonus`` nats per token is
taken: its tokens replace what the greedy path emitted on the frames it spans. At most one
phrase is spliced in, the one with the best ``bonus * tokens - loss``.

This is shallow fusion restricted to the phrases on offer, scored once on the whole utterance
(a few milliseconds for a menu's keywords on a 10 s utterance): the streaming decode and its
partial results stay greedy, and a transcript with none of the phrases near is left alone.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLANK = 0
WORD_START = "\u2581"
DEFAULT_BONUS = 3.0
"""Nats per phrase token: how much worse than the greedy path a phrase's alignment may be and
still be taken (bench/choices.py measures the trade between hits and false insertions)."""

_NEG = -1e30


def tokenize(phrase: str, vocabulary: dict[str, int]) -> list[int]:
    """``phrase`` as token ids of a word-piece vocabulary ("▁" marks a word's first piece):
    each word whole where the vocabulary has it, else its longest known pieces. Empty when
    some word cannot be spelled."""
    ids: list[int] = []
    for word in unicodedata.normalize("NFC", phrase).lower().split():
        rest, first = word, True
        while rest:
            for end in range(len(rest), 0, -1):
                piece = (WORD_START if first else "") + rest[:end]
                if piece in vocabulary:
                    ids.append(vocabulary[piece])
                    rest, first = rest[end:], False
                    break
            else:
                return []
    return ids


@dataclass(frozen=True)
class Spliced:
    """The outcome of :meth:`PhraseBias.apply`."""

    ids: list[int]  # the transcript's tokens
    phrase: str | None  # the phrase spliced in, or None when the greedy transcript stands
    loss: float  # its alignment's cost against the greedy path over the same frames, nats


class PhraseBias:
    """Expected phrases tokenised once, applied to any number of utterances."""

    def __init__(
        self, phrases: Sequence[str], vocabulary: dict[str, int], *, bonus: float = DEFAULT_BONUS
    ) -> None:
        self.bonus = bonus
        self.phrases: list[tuple[str, list[int]]] = []
        seen: set[tuple[int, ...]] = set()
        for phrase in phrases:
            ids = tokenize(phrase, vocabulary)
            if ids and tuple(ids) not in seen:
                seen.add(tuple(ids))
                self.phrases.append((phrase, ids))
        # Every phrase's CTC states (blank, t1, blank, t2, ..., tn, blank), padded to one width.
        width = max((2 * len(ids) + 1 for _, ids in self.phrases), default=1)
        count = len(self.phrases)
        self._states = np.zeros((count, width), dtype=np.int64)
        self._valid = np.zeros((count, width), dtype=bool)
        self._skip = np.zeros((count, width), dtype=bool)  # s-2 -> s allowed (token to token)
        self._last = np.zeros(count, dtype=np.int64)  # index of the last token state
        for p, (_, ids) in enumerate(self.phrases):
            ext = [BLANK]
            for token in ids:
                ext += [token, BLANK]
            self._states[p, : len(ext)] = ext
            self._valid[p, : len(ext)] = True
            for s in range(2, len(ext)):
                self._skip[p, s] = ext[s] != BLANK and ext[s] != ext[s - 2]
            self._last[p] = len(ext) - 2

    def apply(self, logprobs: np.ndarray) -> Spliced:
        """The transcript of ``logprobs`` (frames x vocabulary, log-probabilities), with the
        best expected phrase spliced in where it is close enough to the greedy path."""
        best = logprobs.argmax(axis=-1)
        greedy = _collapse(best)
        if not self.phrases or not len(logprobs):
            return Spliced([t for _, t in greedy], None, 0.0)
        frames = len(logprobs)
        top = logprobs[np.arange(frames), best].astype(np.float64)
        free = np.concatenate([[0.0], np.cumsum(top)])  # free[t]: greedy cost of frames < t
        count, width = self._states.shape
        rows = np.arange(count)
        alpha = np.full((count, width), _NEG)
        start = np.zeros((count, width), dtype=np.int64)
        found = np.full(count, _NEG)
        span = np.zeros((count, 2), dtype=np.int64)
        for t in range(frames):
            emit = logprobs[t][self._states].astype(np.float64)
            stay, stay_start = alpha, start
            step = np.full_like(alpha, _NEG)
            step[:, 1:] = alpha[:, :-1]
            step_start = np.zeros_like(start)
            step_start[:, 1:] = start[:, :-1]
            jump = np.full_like(alpha, _NEG)
            jump[:, 2:] = np.where(self._skip[:, 2:], alpha[:, :-2], _NEG)
            jump_start = np.zeros_like(start)
            jump_start[:, 2:] = start[:, :-2]
            new = np.maximum(np.maximum(stay, step), jump)
            new_start = np.where(
                new == stay, stay_start, np.where(new == step, step_start, jump_start)
            )
            # Entering the phrase at this frame, after the free path over frames < t.
            for s in (0, 1):
                enter = free[t]
                better = enter > new[:, s]
                new[:, s] = np.where(better, enter, new[:, s])
                new_start[:, s] = np.where(better, t, new_start[:, s])
            alpha = np.where(self._valid, new + emit, _NEG)
            start = new_start
            # Leaving after the last token (or its trailing blank): the free path from t + 1 on.
            tail = free[frames] - free[t + 1]
            for ends in (self._last, self._last + 1):
                done = alpha[rows, ends] + tail
                better = done > found
                found = np.where(better, done, found)
                span[better, 0] = start[rows, ends][better]
                span[better, 1] = t
        loss = free[frames] - found  # >= 0: no alignment beats the greedy path
        lengths = np.array([len(ids) for _, ids in self.phrases], dtype=np.float64)
        gain = self.bonus * lengths - loss
        pick = int(gain.argmax())
        if gain[pick] <= 0.0 or loss[pick] <= 1e-6:
            # Nothing close enough, or the greedy transcript already says it.
            return Spliced([t for _, t in greedy], None, float(loss[pick]))
        first, last = int(span[pick, 0]), int(span[pick, 1])
        before = [token for at, token in greedy if at < first]
        after = [token for at, token in greedy if at > last]
        phrase, ids = self.phrases[pick]
        return Spliced(before + ids + after, phrase, float(loss[pick]))


def _collapse(best: np.ndarray) -> list[tuple[int, int]]:
    """Greedy CTC: (frame, token) of each emitted token (repeats merged, blanks dropped)."""
    out: list[tuple[int, int]] = []
    last = BLANK
    for frame, token in enumerate(best.tolist()):
        if token != last and token != BLANK:
            out.append((frame, token))
        last = token
    return out
