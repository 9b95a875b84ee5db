"""Keyed hashes of bearer secrets (session ids, API tokens), the only form stored."""

from __future__ import annotations

import hashlib
import hmac


def keyed_hash(key: bytes, secret: str) -> str:
    """HMAC-SHA-256 of ``secret`` under ``key``, hex."""
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two strings."""
    return hmac.compare_digest(a.encode(), b.encode())
