"""Settings of how a node is operated: its health and metrics endpoint, logs, start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class NodeSettings(BaseModel):
    """Operations of one node (``tongdai serve``)."""

    http_host: str = Field(
        default="127.0.0.1", description="address of the node's /metrics, /healthz, /readyz"
    )
    http_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="port of the node's /metrics, /healthz, /readyz; 0: no such endpoint",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object a line, with the Call-ID"
    )
    database_retry_s: float = Field(
        default=5.0, gt=0, description="pause between attempts to reach the database at start"
    )
    database_wait_max_s: float = Field(
        default=0.0,
        ge=0,
        description="give up (exit status 3) when the database is still unreachable after "
        "this long; 0: keep waiting",
    )
    database_check_s: float = Field(
        default=5.0, gt=0, description="how often readiness re-checks the database once running"
    )
    database_timeout_s: float = Field(
        default=3.0, gt=0, description="connect timeout of one database check"
    )
    id: str = Field(
        default="",
        max_length=128,
        description="this node's name in the shared database, stable across restarts and "
        "unique among the nodes; empty: the host name and the SIP port",
    )
    heartbeat_s: float = Field(
        default=5.0, gt=0, description="how often the node writes its heartbeat to the database"
    )
    lost_after_s: float = Field(
        default=15.0,
        gt=0,
        description="a node whose heartbeat is older than this is gone: the calls it carried "
        "are recorded as lost (ended at its last heartbeat) by a node still running",
    )
