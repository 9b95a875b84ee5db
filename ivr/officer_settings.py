"""Settings of the officers' side of the switchboard: the registrar and the department queues."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DigestAlgorithm = Literal["MD5", "SHA-256"]
DIGEST_ALGORITHMS: tuple[DigestAlgorithm, ...] = ("SHA-256", "MD5")


class RegistrarSettings(BaseModel):
    """Officers' softphones registering to tongdai (RFC 3261 §10, digest per RFC 8760)."""

    enabled: bool = True
    realm: str = Field(
        default="tongdai",
        description="Digest realm; the officers' stored HA1s are computed with it",
    )
    digest_algorithms: list[DigestAlgorithm] = Field(
        default_factory=lambda: list(DIGEST_ALGORITHMS),
        min_length=1,
        description="Challenges offered, strongest first (RFC 8760). Phones on old SIP stacks "
        "(libre/baresip 1.x) give up on any SHA-256 challenge: list only MD5 for them "
        "(docs/decisions/0050)",
    )
    min_expires_s: int = Field(default=60, ge=1, description="shorter asks get 423 + Min-Expires")
    max_expires_s: int = Field(default=3600, ge=1, description="longer asks are shortened")
    default_expires_s: int = Field(default=600, ge=1)
    max_devices: int = Field(default=5, ge=1, description="registered contacts per officer")
    nonce_ttl_s: int = Field(default=300, ge=10, description="a nonce older than this is stale")
    nonce_secret: str = Field(
        default_factory=lambda: secrets.token_hex(16),
        description="Signs nonces; worker processes forked from one serve share it",
    )
    ban_failures: int = Field(default=5, ge=1, description="failed attempts before a ban")
    ban_window_s: float = Field(default=60.0, gt=0, description="window the failures count in")
    ban_s: float = Field(default=300.0, gt=0, description="how long a source stays banned")
    max_tracked_sources: int = Field(default=10_000, ge=100, description="failure table size")


class QueueSettings(BaseModel):
    """Department queues: distribution, announcements, limits (per department overrides later)."""

    strategy: Literal["longest_idle", "round_robin", "ring_all"] = "longest_idle"
    wrap_up_s: float = Field(default=15.0, ge=0, description="officer rest after each call")
    announce_every_s: float = Field(default=30.0, gt=0, description="position + wait, every N s")
    max_length: int = Field(default=20, ge=1, description="waiting callers beyond: callback offer")
    max_wait_s: float = Field(default=600.0, gt=0, description="after this: callback offered")
    ring_timeout_s: float = Field(default=15.0, gt=0, description="officer not answering: next")
    default_handle_s: float = Field(
        default=240.0, gt=0, description="estimate before any call was handled (3-5 min calls)"
    )
    handle_window: int = Field(default=20, ge=1, description="recent calls the estimate uses")
    poll_s: float = Field(default=1.0, gt=0, description="queue re-read period without NOTIFY")
    music_file: Path | None = Field(default=None, description="music on hold; default generated")
    record_bridges: bool = Field(
        default=True,
        description="Record every bridged conversation (the default greeting says calls are "
        "recorded: change it if this is turned off)",
    )
    recordings_dir: Path = Field(
        default=Path("var/call-recordings"),
        description="Recordings of bridged conversations (stereo WAV, owner-only, purged "
        "with the calls after integrations.retention_days)",
    )
