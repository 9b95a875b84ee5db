"""The web app's secret key: configured, or generated once into the data folder.

The key keys the hashes under which session ids and API tokens are stored and signs the
anonymous forms' CSRF cookie. A configured key that is a placeholder or too short is refused at
start with one line; with none configured, ``<data_dir>/web_secret_key`` is read, or created
with mode 0600 on first start (see docs/decisions/0010-web-sessions-and-secret-key.md).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

KEY_FILE_NAME = "web_secret_key"
MIN_KEY_LENGTH = 32
_PLACEHOLDER_WORDS = ("change", "secret", "example", "placeholder", "default", "xxxx", "todo")


class SecretKeyError(ValueError):
    """The secret key is unusable; the message is one line saying what to do."""


def check_key(key: str) -> str:
    """``key`` when it is usable; SecretKeyError for a placeholder or a short key."""
    lowered = key.strip().lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(lowered)) < 8:
        raise SecretKeyError(
            "web.secret_key is a placeholder: set TONGDAI_WEB__SECRET_KEY to the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'` or unset it to "
            "have one generated into the data folder"
        )
    if len(key.strip()) < MIN_KEY_LENGTH:
        raise SecretKeyError(
            f"web.secret_key is shorter than {MIN_KEY_LENGTH} characters: use a random one"
        )
    return key.strip()


def resolve_key(configured: str | None, data_dir: Path) -> bytes:
    """The key to use: the configured one (checked), else the key file (created if absent)."""
    if configured is not None:
        return check_key(configured).encode()
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretKeyError(f"{path} is readable by others (mode {mode:o}): chmod 600 {path}")
    return check_key(path.read_text(encoding="ascii")).encode()


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not overwrite each other's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
