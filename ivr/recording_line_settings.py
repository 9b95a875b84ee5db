"""Settings of the recording line, the number editors call to record prompts by phone."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class RecordingLineSettings(BaseModel):
    """``recording_line.*``: who reaches the line, the PIN, and the limits of one take."""

    user: str = Field(
        default="record",
        description="SIP user part of the recording line; calls to it skip the hotline tree",
    )
    pin: SecretStr = Field(
        default=SecretStr(""), description="digits an editor enters; empty: the line is off"
    )
    pin_tries: int = Field(default=3, ge=1, description="wrong PINs in one call before it ends")
    failures_to_lock: int = Field(
        default=10, ge=1, description="wrong PINs across calls that lock the line"
    )
    failure_window_s: float = Field(default=3600.0, gt=0, description="window of those failures")
    lock_s: float = Field(default=900.0, gt=0, description="how long a locked line refuses PINs")
    digit_timeout_s: float = Field(default=10.0, gt=0, description="wait for the first key")
    max_record_s: float = Field(default=30.0, gt=0, description="a take stops at this length")
    silence_end_s: float = Field(
        default=2.5, gt=0, description="a take stops after this much silence following speech"
    )
    no_speech_s: float = Field(
        default=8.0, gt=0, description="a take with no speech in this long is dropped"
    )
    speech_rms: int = Field(
        default=300, ge=1, description="frame level (16-bit RMS) counted as speech, not line noise"
    )
