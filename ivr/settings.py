"""Settings of the telephony layer: SIP listener, media ports, timers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ivr.priority import Priority


class RegisterSettings(BaseModel):
    """Optional outbound registration to a PBX or SIP trunk that owns the hotline number."""

    registrar: str = Field(description="SIP URI of the registrar, e.g. sip:pbx.example:5060")
    username: str
    password: str = ""
    realm: str | None = None
    expires_s: int = 600


class SipSettings(BaseModel):
    """The SIP user agent (UAS that needs no registrar)."""

    host: str = "0.0.0.0"
    port: int = 5060
    transports: list[str] = Field(default_factory=lambda: ["udp", "tcp"])
    public_address: str | None = Field(
        default=None, description="Address put in Contact/SDP; default: the local address used"
    )
    user_agent: str = "tongdai"
    max_calls: int = 500
    retry_after_s: int = 30
    timer_t1_ms: int = 500
    timer_t2_ms: int = 4000
    refer_notify_timeout_s: float = Field(
        default=60.0, description="How long a transfer waits for the final NOTIFY of its REFER"
    )
    hangup_grace_s: float = Field(
        default=2.0,
        description="After a call ends, how long its dialog runtime has to notice before its "
        "task is cancelled",
    )
    registration: RegisterSettings | None = None
    transfer_targets: dict[str, str] = Field(
        default_factory=dict,
        description="Named REFER targets (department id -> SIP URI); never taken from the caller",
    )


class MediaSettings(BaseModel):
    """RTP media engine."""

    rtp_port_min: int = 16000
    rtp_port_max: int = 20000
    ptime_ms: int = 20
    codecs: list[str] = Field(default_factory=lambda: ["PCMA", "PCMU"])
    inactivity_timeout_s: float = 30.0
    inband_dtmf: bool = True
    priority: Priority = Field(
        default=Priority.REALTIME,
        description="CPU priority of call-carrying processes: normal, high (nice -10) or "
        "realtime (round-robin); above normal needs root or CAP_SYS_NICE",
    )
