"""Files tongdai writes are readable by its own user only: the database, prompt audio, logs.

:func:`restrict_data_files` sets the process's umask to 077 (every file created afterwards is
0600, every directory 0700, in this process and the workers it starts) and tightens what already
exists: the data directory, the SQLite database file (and its WAL and shared-memory files), the
prompt cache."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL, or None (another database, or in memory)."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _tighten(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)


def _tighten_tree(root: Path) -> None:
    if not root.exists():
        return
    _tighten(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _tighten(Path(folder) / name)
        for name in files:
            _tighten(Path(folder) / name)


def restrict_data_files(settings: Any) -> None:
    """Umask 077 from now on, and owner-only modes on the data that already exists."""
    os.umask(PRIVATE_UMASK)
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    _tighten_tree(data_dir)
    _tighten_tree(Path(settings.speech.prompt_cache_dir))
    _tighten_tree(Path(settings.speech.messages_dir))  # callers' voice messages
    _tighten_tree(Path(settings.queues.recordings_dir))  # bridged conversations
    database = sqlite_file(settings.database_url)
    if database is not None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = database.with_name(database.name + suffix)
            if path.exists():
                _tighten(path)
