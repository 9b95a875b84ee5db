"""Composition of a running hotline: what each answered call runs, and where its events go.

``build_hotline(settings, app=...)`` wires the prompt source, the event sinks and (for the
``hotline`` app) the menu runtime with its speech and integration back-ends. It is the one
place that knows every package; the packages themselves only know their Protocols.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ivr.call import Call
from ivr.channel import Audio
from ivr.events import CallEvent, EventSink, FanoutSink
from ivr.greeting import digits_greeting

log = logging.getLogger(__name__)

PromptFn = Callable[[str], Awaitable[Audio]]


class LogSink:
    """Writes every call event to the log (one line each)."""

    def emit(self, event: CallEvent) -> None:
        log.info("call %s %s %s", event.call_id[:12], event.kind, event.payload())


@dataclass
class Hotline:
    """What the worker needs: a handler per answered call and the event sink."""

    on_call: Callable[[Call], Awaitable[None]]
    sink: EventSink
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for closer in self.closers:
            try:
                await closer()
            except Exception:
                log.exception("closing the hotline")


async def espeak_prompt(text: str) -> Audio:
    """Render Vietnamese text with espeak-ng at 8 kHz (the offline engine)."""
    from speech.audio import resample

    proc = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", "vi", "-s", "150", "--stdout", text,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    wav, _ = await proc.communicate()
    # espeak-ng writes a 22050 Hz 16-bit mono WAV with a 44-byte header
    return Audio(resample(wav[44:], 22050, 8000))


async def build_hotline(settings: Any, *, app: str = "hotline") -> Hotline:
    """Wire a hotline from settings."""
    sink = FanoutSink(LogSink())
    prompts: PromptFn = espeak_prompt

    async def on_digits_call(call: Call) -> None:
        await digits_greeting(call, prompts)

    return Hotline(on_call=on_digits_call, sink=sink)
