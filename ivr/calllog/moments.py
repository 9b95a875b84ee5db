"""Moments as the call log stores them: UTC, whatever the database keeps."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    """Every stored or compared moment is UTC: SQLite keeps no offset, only the wall time."""
    return aware(moment).astimezone(UTC)
