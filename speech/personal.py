"""Marks text being spoken as personal (a name, fees, a phone number read back), so the prompt
cache renders it without storing it and the call events carry a template id instead of it.

A context variable, not a parameter: the prompt source keeps its one-argument shape
(``text -> audio``), and a render task started inside the block inherits the mark."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_PERSONAL: ContextVar[bool] = ContextVar("tongdai_personal_text", default=False)


@contextmanager
def personal_text() -> Iterator[None]:
    """Within this block, what is rendered or played is personal data."""
    token = _PERSONAL.set(True)
    try:
        yield
    finally:
        _PERSONAL.reset(token)


def is_personal_text() -> bool:
    """Whether the text being rendered or played now is personal data."""
    return _PERSONAL.get()
