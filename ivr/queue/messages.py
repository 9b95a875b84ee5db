"""Voice messages: a queue entry of kind MESSAGE and its audio, a WAV file at the line rate.

A message waits in its department's list (WAITING, never in the call line: see
:attr:`~ivr.queue.model.QueueEntry.in_line`) until an officer marks it handled (DONE). Its
file is named from the entry id only (``message-<id>.wav``), never from anything the caller
sent, in the messages folder (owner-only, mode 0600). Messages and their files go with the
calls' retention (:func:`purge_messages`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.audio import LINE_RATE
from ivr.audio_take import write_recording
from ivr.queue.model import EntryKind
from ivr.queue.store import QueueStore
from ivr.queue.tables import QueueEntryRow

log = logging.getLogger(__name__)

_FILE = re.compile(r"^message-(\d+)\.wav$")


def message_name(entry_id: int) -> str:
    """The file stem of a message's audio (the id is the database's, never caller input)."""
    return f"message-{int(entry_id)}"


def message_path(directory: Path, entry_id: int) -> Path:
    """Where the audio of message `entry_id` is."""
    return directory / f"{message_name(entry_id)}.wav"


@dataclass(frozen=True)
class LeftMessage:
    """A stored message: its queue entry and the length of its audio."""

    entry_id: int
    duration_s: float


@dataclass
class VoiceMessageBox:
    """Stores callers' messages: the entry first (its id names the file), then the audio; an
    entry whose audio could not be written is closed as abandoned, and the error raised."""

    store: QueueStore
    directory: Path
    clock: Callable[[], float] = time.time

    async def leave(self, department: str, *, call_id: str, caller: str, pcm: bytes) -> LeftMessage:
        """Store 16-bit PCM at the line rate for `department`."""
        entry = await self.store.join(
            department, call_id=call_id, caller=caller, kind=EntryKind.MESSAGE, now=self.clock()
        )
        try:
            await asyncio.to_thread(write_recording, self.directory, message_name(entry.id), pcm)
        except Exception:
            await self.store.leave(entry.id, now=self.clock())
            raise
        return LeftMessage(entry.id, len(pcm) / 2 / LINE_RATE)


def purge_messages(sessions: sessionmaker[Session], directory: Path, *, before: float) -> int:
    """Delete the messages left before `before` (Unix seconds) with their audio, and any
    message file older than that whose entry is gone; how many messages went."""
    with sessions() as session, session.begin():
        old = list(
            session.scalars(
                select(QueueEntryRow.id).where(
                    QueueEntryRow.kind == EntryKind.MESSAGE.value,
                    QueueEntryRow.enqueued_at < before,
                )
            )
        )
        if old:
            session.execute(delete(QueueEntryRow).where(QueueEntryRow.id.in_(old)))
    for entry_id in old:
        message_path(directory, entry_id).unlink(missing_ok=True)
    if directory.is_dir():
        for path in directory.iterdir():
            if _FILE.match(path.name) and path.stat().st_mtime < before:
                path.unlink(missing_ok=True)
    return len(old)
