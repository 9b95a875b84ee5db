"""CPU cost of the dialog runtime per call, keypad and voice, on the default tree.

Runs N concurrent scripted calls on the virtual clock, so the wall time measured is the
runtime's own CPU work (menu walking, events, the voice detector on every 20 ms caller frame,
the fake channel) with no waiting. Prints figures; asserts nothing.

    .venv/bin/python bench/runtime.py [calls]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.events import MemorySink  # noqa: E402
from ivr.runtime.deps import PinnedTree  # noqa: E402
from ivr.runtime.interpreter import run_call  # noqa: E402
from tests.runtime.fake_channel import FakeChannel, Press, Say, Step, run_virtual  # noqa: E402
from tests.runtime.fakes import Backends, ScriptedRecognizer, hotline_tree  # noqa: E402

KEYPAD: list[Step] = [Press("1"), Press("2503039004#"), Press("1"), Press("3"), Press("5")]


def voice_script(clip: Path) -> list[Step]:
    return [Say.wav(clip), Say.wav(clip), Say.wav(clip), Press("3"), Press("5")]


async def run_many(count: int, voice: bool, clip: Path) -> tuple[float, int]:
    pinned = PinnedTree.of(hotline_tree())
    sink = MemorySink()
    channels: list[FakeChannel] = []
    calls = []
    for i in range(count):
        transcripts = ["hồ sơ", "hai lăm không ba không ba chín không không bốn", "đúng"]
        backends = Backends(recognizer=ScriptedRecognizer(transcripts) if voice else None)
        script = voice_script(clip) if voice else KEYPAD
        channel = FakeChannel(script, prompts=backends.prompts, call_id=f"bench-{i}")
        channels.append(channel)
        calls.append(run_call(channel, pinned, backends.deps(), sink))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*calls)
    virtual_s = loop.time() - start
    for channel in channels:
        await channel.close()
    return virtual_s, len(sink.events)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    clip = ROOT.parent / "shared" / "testdata" / "speech" / "call8k_3.wav"
    for voice in (False, True):
        if voice and not clip.is_file():
            print(f"voice: skipped, {clip} not found")
            continue
        wall0, cpu0 = time.perf_counter(), time.process_time()
        virtual_s, events = run_virtual(run_many(count, voice, clip))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        kind = "voice (VAD on every frame)" if voice else "keypad"
        per_call_minute_ms = cpu * 1000 / (count * virtual_s / 60)
        print(
            f"{kind}: {count} concurrent calls of {virtual_s:.0f} s each, {events} events, "
            f"wall {wall:.2f} s, CPU {cpu:.2f} s = {per_call_minute_ms:.1f} ms CPU per "
            f"call-minute"
        )


if __name__ == "__main__":
    main()
