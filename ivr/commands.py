"""``tongdai serve``: the IVR worker(s) and the web app."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add ``serve`` to the top-level parser."""
    p: argparse.ArgumentParser = sub.add_parser("serve", help="answer calls and serve the web app")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    raise SystemExit("serve: not available yet")
