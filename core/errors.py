"""Stable error codes, the same in every stage (signalling, media, speech, integrations)."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Stable error codes carried by CallError events and logs."""

    SIP_PARSE = "sip-parse"
    MEDIA_TIMEOUT = "media-timeout"
    NO_COMMON_CODEC = "no-common-codec"
    TRANSFER_FAILED = "transfer-failed"
    INTEGRATION_FAILED = "integration-failed"
    RECOGNIZER_MISSING = "stt-provider-missing"
    RECOGNIZER_BUSY = "stt-busy"
    SYNTHESIS_FAILED = "tts-failed"
    MENU_ERROR = "menu-error"
    INTERNAL = "internal"
