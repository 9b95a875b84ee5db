"""The scripted fake channel: virtual time, triggers, barge-in, hang-up, caller audio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from ivr.channel import CallerHungUp, DigitSpec, TransferOutcome, collect_digits
from tests.runtime.fake_channel import (
    FakeChannel,
    FakePrompts,
    HangUp,
    Press,
    Say,
    Silence,
    VirtualClockDeadlock,
    run_virtual,
)


def test_virtual_clock_runs_long_sleeps_instantly() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        await asyncio.to_thread(sum, range(1000))  # thread work takes no virtual time
        return loop.time() - start

    assert run_virtual(main()) == pytest.approx(3600)


def test_virtual_clock_reports_a_deadlock() -> None:
    async def main() -> None:
        await asyncio.Event().wait()

    with pytest.raises(VirtualClockDeadlock):
        run_virtual(main(), deadlock_guard_s=0.2)


def test_prompts_remember_their_text() -> None:
    prompts = FakePrompts()
    a, b = prompts.audio("Xin chào"), prompts.audio("Tạm biệt")
    assert a.pcm != b.pcm and prompts.text_of(a) == "Xin chào"
    assert a.duration_s == pytest.approx(0.48)


def test_digit_barges_in_and_stays_queued() -> None:
    prompts = FakePrompts()
    channel = FakeChannel([Press("1", hear="menu chính", after_s=1.0)], prompts=prompts)

    async def main() -> tuple[bool, str | None, float]:
        outcome = await channel.play(prompts.audio("Đây là menu chính " + "x" * 100))
        digit = await channel.next_digit(5.0)
        await channel.close()
        return outcome.completed, digit, outcome.played_s

    completed, digit, played = run_virtual(main())
    assert not completed and digit == "1"
    assert played == pytest.approx(1.0)
    assert channel.played[0].outcome.digit == "1"


def test_wait_trigger_silence_and_multi_digit_entry() -> None:
    channel = FakeChannel([Silence(), Press("2002030118#")])

    async def main() -> tuple[str | None, str]:
        first = await channel.next_digit(5.0)  # the caller stays silent through this wait
        got = await collect_digits(channel, DigitSpec(max_digits=12, min_digits=10))
        await channel.close()
        return first, got.digits

    first, digits = run_virtual(main())
    assert first is None and digits == "2002030118"


def test_hang_up_raises_on_every_operation() -> None:
    prompts = FakePrompts()
    channel = FakeChannel([HangUp(hear="chào", after_s=0.2)], prompts=prompts)

    async def main() -> None:
        with pytest.raises(CallerHungUp):
            await channel.play(prompts.audio("Xin chào quý vị"))
        with pytest.raises(CallerHungUp):
            await channel.next_digit(1.0)
        frames = [f async for f in channel.audio_frames()]
        assert frames == []

    run_virtual(main())
    assert channel.ended_by == "caller"


def test_caller_audio_appears_in_frames(speech_dir: Path) -> None:
    say = Say.wav(speech_dir / "call8k_1.wav", after_s=0.0)
    channel = FakeChannel([say], noise_level=0)

    async def main() -> list[bytes]:
        frames = []
        waiter = asyncio.create_task(channel.next_digit(10.0))  # the hotline listens
        async for frame in channel.audio_frames():
            frames.append(frame)
            if len(frames) == 250:
                break
        await waiter
        await channel.close()
        return frames

    frames = run_virtual(main())
    energy = [np.abs(np.frombuffer(f, "<i2")).mean() for f in frames]
    assert max(energy) > 100  # speech came through
    assert energy[-1] == 0  # and silence after the 2.8 s clip
    assert all(len(f) == 320 for f in frames)


def test_transfer_outcome_is_scripted() -> None:
    failed = TransferOutcome(False, 486, "Busy Here")
    channel = FakeChannel([], transfer_outcomes={"sip:busy@x": failed})

    async def main() -> None:
        assert (await channel.transfer("sip:busy@x")).status == 486
        assert not channel.ended
        assert (await channel.transfer("sip:ok@x")).ok
        assert channel.ended_by == "transfer"
        await channel.close()

    run_virtual(main())


def test_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        Press("12x")
