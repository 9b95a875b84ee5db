"""Settings of the dossier sources and other integrations."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HttpDossierSettings(BaseModel):
    """A provincial one-stop / integration-platform API."""

    base_url: str = ""
    token: str = ""
    timeout_s: float = 2.0
    retries: int = 2
    backoff_s: float = 0.2
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    cache_ttl_s: float = 60.0
    field_map: dict[str, str] = Field(default_factory=dict)
    status_map: dict[str, int] = Field(default_factory=dict)


class CallerCheckSettings(BaseModel):
    """Limits of the personal-details check (see integrations/verification.py)."""

    max_failures_per_call: int = Field(default=3, ge=1)
    max_failures_per_dossier: int = Field(default=5, ge=1)
    lockout_window_s: float = Field(default=86400.0, gt=0)
    max_lookups_per_call: int = Field(default=6, ge=1)


class IntegrationSettings(BaseModel):
    """Where dossier status comes from."""

    dossier_source: str = Field(default="db", description="db | http")
    http: HttpDossierSettings = Field(default_factory=HttpDossierSettings)
    retention_days: int = 365
    purge_interval_s: float = Field(
        default=3600.0, gt=0, description="how often old calls and check failures are deleted"
    )
    caller_check: CallerCheckSettings = Field(default_factory=CallerCheckSettings)
