"""``tongdai`` subcommands of the integrations package."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this package's subcommands to the top-level parser."""
    _ = (sub, argparse)
