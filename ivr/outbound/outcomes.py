"""What the citizen leg's final answer says about a callback (pure).

Answered: reached. Nobody picked up, busy or declined (timeout, 408, 480, 486, 600, 603):
no answer. The number does not exist or is incomplete (404, 410, 484, 485, 604): wrong
number. Anything else (the trunk refused us, 403, 503, 488 …) says nothing about the citizen:
the callback stays open and the console shows why.
"""

from __future__ import annotations

from ivr.calllog.callback_outcomes import CallbackOutcome

NO_ANSWER = frozenset({408, 480, 486, 487, 600, 603})
WRONG_NUMBER = frozenset({404, 410, 484, 485, 604})
TIMEOUT = 408  # what the request row keeps for a ring that ran out (no final answer)


def outcome_of(status: int) -> CallbackOutcome | None:
    """The callback's outcome for the citizen leg's final `status`, or None (not theirs)."""
    if 200 <= status < 300:
        return CallbackOutcome.REACHED
    if status in NO_ANSWER:
        return CallbackOutcome.NO_ANSWER
    if status in WRONG_NUMBER:
        return CallbackOutcome.WRONG_NUMBER
    return None


__all__ = ["NO_ANSWER", "TIMEOUT", "WRONG_NUMBER", "outcome_of"]
