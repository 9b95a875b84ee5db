"""Settings of the telephony layer: SIP listener, media ports, timers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ivr.priority import Priority


class RegisterSettings(BaseModel):
    """Optional outbound registration to a PBX or SIP trunk that owns the hotline number."""

    registrar: str = Field(description="SIP URI of the registrar, e.g. sip:pbx.example:5060")
    username: str
    password: str = ""
    realm: str | None = None
    expires_s: int = 600


class TrunkSettings(BaseModel):
    """The SIP trunk (or PBX) through which tongdai reaches the public network to call a
    citizen back (``sip.trunk.*``). Without it the console offers no "call back now"."""

    uri: str = Field(
        description="SIP URI of the trunk, host and port: sip:192.0.2.10:5060 "
        "(;transport=tcp for TCP); the number is put in its user part"
    )
    username: str = Field(default="", description="digest user when the trunk challenges")
    password: str = ""
    realm: str | None = None
    number_format: Literal["national", "e164"] = Field(
        default="national",
        description="national: the number as stored (0912345678); e164: +84912345678",
    )
    country_code: str = Field(default="84", pattern=r"^[0-9]{1,3}$")
    prefix: str = Field(
        default="", pattern=r"^[0-9*#+]{0,8}$", description="dialled before the number (9 …)"
    )
    caller_id: str = Field(
        default="hotline", description="user part of our From towards the trunk (the hotline)"
    )
    ring_timeout_s: float = Field(
        default=30.0, gt=0, description="how long the citizen's phone rings before no answer"
    )
    officer_ring_timeout_s: float = Field(
        default=20.0, gt=0, description="how long the officer's phones ring first"
    )


class SourceLimitSettings(BaseModel):
    """Per-source limits of the SIP listener (``sip.limits.*``)."""

    invite_rate_per_s: float = Field(default=5.0, gt=0, description="INVITEs per second")
    invite_burst: int = Field(default=20, ge=1, description="INVITEs at once before the rate")
    request_rate_per_s: float = Field(default=50.0, gt=0, description="requests per second")
    request_burst: int = Field(default=200, ge=1)
    strikes_to_ban: int = Field(default=20, ge=1, description="drops in a row before a ban")
    ban_s: float = Field(default=60.0, gt=0, description="how long a banned source is ignored")
    max_sources: int = Field(default=65536, ge=16, description="sources tracked at once")
    max_early_dialogs_per_source: int = Field(
        default=20, ge=1, description="unanswered or un-ACKed calls one address may hold"
    )
    max_tcp_per_address: int = Field(default=32, ge=1)
    max_tcp_total: int = Field(
        default=1000, ge=1, description="also kept below a quarter of the file limit"
    )
    tcp_idle_s: float = Field(default=120.0, gt=0, description="a silent connection is closed")
    tcp_message_s: float = Field(
        default=10.0, gt=0, description="a started message must be complete within this"
    )
    verified_sources: int = Field(default=4096, ge=16, description="UDP sources remembered")
    exempt: list[str] = Field(
        default_factory=list,
        description="Addresses or networks the per-source limits do not apply to: a proxy in "
        "front (Kamailio, whose pike limits each caller) sends every caller's traffic",
    )


class SipSettings(BaseModel):
    """The SIP user agent (UAS that needs no registrar)."""

    host: str = "0.0.0.0"
    port: int = 5060
    transports: list[str] = Field(default_factory=lambda: ["udp", "tcp"])
    public_address: str | None = Field(
        default=None, description="Address put in Contact/SDP; default: the local address used"
    )
    user_agent: str = "tongdai"
    max_call_s: float = Field(default=1800.0, gt=0, description="A call is ended after this long")
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
    trunk: TrunkSettings | None = Field(
        default=None, description='the trunk "call back now" dials citizens through'
    )
    limits: SourceLimitSettings = Field(default_factory=SourceLimitSettings)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of proxies and trunks whose P-Asserted-Identity "
        "(or Remote-Party-ID) is believed; a From header never is",
    )
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
