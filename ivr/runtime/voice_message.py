"""The message node: a caller leaves a recorded voice message for a department.

The caller hears the prompt and a tone, then speaks until ``#``, a pause after speech, the
maximum length or hanging up (a caller who hangs up after speaking still leaves the message).
The message is stored through the injected :class:`~ivr.runtime.deps.MessageBox`; when that
fails, the caller hears an apology and is offered a callback or the main menu, never silence.
"""

from __future__ import annotations

import asyncio

from core.errors import ErrorCode
from ivr.audio_take import Take, TakeLimits, record_take, tone
from ivr.channel import WEB_CODEC, CallerHungUp
from ivr.events import VoiceMessageLeft
from ivr.runtime.conversation import Conversation
from ivr.runtime.people import offer_help
from ivr.runtime.steps import Go, Step, node_prompt
from menus.model import MessageNode

LEAVE_MESSAGE = "Xin mời quý vị để lại lời nhắn sau tiếng bíp, nhấn phím thăng khi nói xong."
NOTHING_HEARD = "Tôi chưa nghe thấy lời nhắn của quý vị."
MESSAGE_SAVED = "Lời nhắn của quý vị đã được ghi lại. Cán bộ sẽ nghe và liên hệ với quý vị."
NOT_SAVED = "Xin lỗi quý vị, hiện chưa lưu được lời nhắn."
PHONE_ONLY = "Lời nhắn thoại chỉ để lại được khi gọi điện thoại tới tổng đài."
MAX_TRIES = 2  # a caller who says nothing is asked once more


def limits_for(conv: Conversation, node: MessageNode) -> TakeLimits:
    """The take's limits: the node's length when set, else the runtime's."""
    timing = conv.deps.timing
    return TakeLimits(
        max_s=node.max_s if node.max_s is not None else timing.message_max_s,
        silence_end_s=timing.message_silence_end_s,
        no_speech_s=timing.message_no_speech_s,
        speech_rms=timing.speech_rms,
    )


async def visit_message(conv: Conversation, node: MessageNode) -> Step:
    """Record the caller's message and store it for the node's department."""
    if conv.channel.info.codec == WEB_CODEC:  # the virtual assistant has no voice to record
        await conv.say(PHONE_ONLY)
        return Go(node.next)
    if conv.deps.messages is None:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, "voice messages are not set up")
        await conv.say(NOT_SAVED)
        return await offer_help(conv, node)
    take: Take | None = None
    for _ in range(MAX_TRIES):
        await conv.say(node_prompt(conv, node) or LEAVE_MESSAGE, barge_in=False)
        await conv.channel.play(tone(), barge_in_digits=False)
        conv.channel.flush_digits()  # keys pressed before the tone do not end the message
        take = await record_take(conv.channel, limits_for(conv, node))
        if take.stopped_by != "nothing" or take.hung_up:
            break
        await conv.say(NOTHING_HEARD)
    if take is None or not take.pcm:
        if take is not None and take.hung_up:
            raise CallerHungUp("hung up without a message")
        return Go(node.next)
    return await _store(conv, node, take)


async def _store(conv: Conversation, node: MessageNode, take: Take) -> Step:
    box = conv.deps.messages
    assert box is not None
    info = conv.channel.info
    try:
        # shielded: a caller who hung up gets the call's task cancelled after a grace period,
        # and the message they left must still be stored
        leaving = box.leave(node.department, call_id=info.call_id, caller=info.caller, pcm=take.pcm)
        stored = await asyncio.wait_for(
            asyncio.shield(leaving), conv.deps.timing.integration_timeout_s
        )
    except Exception as exc:
        conv.emit_error(ErrorCode.INTEGRATION_FAILED, f"voice message: {exc}")
        if take.hung_up:
            raise CallerHungUp("hung up; the message was not stored") from exc
        await conv.say(NOT_SAVED)
        return await offer_help(conv, node)
    conv.sink.emit(
        VoiceMessageLeft(
            call_id=info.call_id,
            node_id=node.id,
            department=node.department,
            entry_id=stored.entry_id,
            duration_s=round(stored.duration_s, 2),
        )
    )
    if take.hung_up:
        raise CallerHungUp("hung up after leaving a message")
    await conv.say(MESSAGE_SAVED)
    return Go(node.next)
