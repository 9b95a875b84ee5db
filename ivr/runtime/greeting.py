"""The built-in greeting: answers every call in Vietnamese and reads back the digits pressed.

Used by ``tongdai serve --app digits`` (telephony checks with a softphone or sipp) and as the
fallback when no menu tree is published.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ivr.channel import Audio, CallChannel, CallerHungUp, DigitSpec, collect_digits

PromptFn = Callable[[str], Awaitable[Audio]]

GREETING = (
    "Xin chào, quý vị đã gọi tới tổng đài dịch vụ công. "
    "Xin mời bấm các phím số, sau đó bấm phím thăng. Tôi sẽ đọc lại các số quý vị đã bấm."
)
NOTHING = "Tôi chưa nhận được phím nào."
GOODBYE = "Cảm ơn quý vị đã gọi. Xin chào."
DIGIT_WORDS = {
    "0": "không", "1": "một", "2": "hai", "3": "ba", "4": "bốn", "5": "năm", "6": "sáu",
    "7": "bảy", "8": "tám", "9": "chín", "*": "sao", "#": "thăng",
    "A": "A", "B": "B", "C": "C", "D": "D",
}  # fmt: skip


def read_back(digits: str) -> str:
    """The sentence that reads the digits back one by one."""
    if not digits:
        return NOTHING
    return "Quý vị đã bấm: " + ", ".join(DIGIT_WORDS.get(d, d) for d in digits) + "."


async def digits_greeting(
    channel: CallChannel, prompts: PromptFn, *, timeout_s: float = 10.0
) -> str:
    """Greet, collect digits up to '#', read them back, say goodbye and hang up."""
    try:
        await channel.play(await prompts(GREETING))
        got = await collect_digits(
            channel,
            DigitSpec(
                max_digits=32,
                min_digits=1,
                terminator="#",
                first_timeout_s=timeout_s,
                inter_timeout_s=timeout_s,
            ),
        )
        await channel.play(await prompts(read_back(got.digits)), barge_in_digits=False)
        await channel.play(await prompts(GOODBYE), barge_in_digits=False)
        await channel.hangup()
        return got.digits
    except CallerHungUp:
        return ""
