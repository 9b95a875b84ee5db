"""Settings of the web app: where it listens, how sign-in and its cookies behave, upload limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    """The admin, officer and assistant web app."""

    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str | None = Field(
        default=None,
        description="Keys the hashes of session ids and signs sign-in forms. None: read (or "
        "create, mode 0600) web_secret_key in the data folder. A placeholder is refused.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="Host header values served (anything else: 400); protects against DNS "
        "rebinding",
    )
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure: set it when served behind HTTPS"
    )
    session_idle_s: int = Field(default=1800, ge=60, description="Sign-out after this idle time")
    session_max_s: int = Field(default=43200, ge=60, description="Longest life of a session")
    login_failures_before_lockout: int = Field(default=5, ge=1)
    lockout_s: int = Field(default=900, ge=1, description="How long a locked account waits")
    login_attempts_per_minute: int = Field(
        default=20, ge=1, description="Sign-in attempts one address may make per minute"
    )
    assistant_requests_per_minute: int = Field(
        default=60, ge=1, description="Virtual-assistant requests one address may make per minute"
    )
    assistant_idle_s: int = Field(
        default=600, ge=10, description="A virtual-assistant conversation ends after this idle time"
    )
    assistant_wait_factor: float = Field(
        default=10.0,
        ge=1.0,
        description="A visitor reads and types slower than a caller answers: each wait of the "
        "menu tree (timeout_s, inter-digit) lasts this many times longer on the web",
    )
    recordings_dir: Path | None = Field(
        default=None, description="Uploaded prompt recordings (default: data folder/recordings)"
    )
    upload_max_bytes: int = Field(default=20_000_000, ge=1000)
    upload_max_s: float = Field(default=300.0, gt=0, description="Longest recording accepted")
