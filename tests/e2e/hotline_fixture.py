"""A whole hotline for end-to-end calls: SQLite with the sample data, the default tree, the
prompt cache (espeak-ng here, sped up so tests run quickly), the call log and the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from config.settings import Settings
from db import create_engine_from_url, migrate, session_factory, unit_of_work
from integrations.calendar_vn import HolidayCalendar
from integrations.dossiers_db import upsert_dossiers
from integrations.sample_catalogue import load_sample
from integrations.sample_dossiers import demo_dossiers
from ivr.events import MemorySink
from ivr.hotline import Hotline, build_hotline
from ivr.officer_settings import QueueSettings
from ivr.recording_line_settings import RecordingLineSettings
from ivr.settings import MediaSettings, SipSettings, TrunkSettings
from ivr.worker import Worker
from speech.settings import SpeechSettings
from tests.e2e.harness import free_port, media_range


def next_working_morning(today: date | None = None) -> datetime:
    """09:30 in Vietnam on the next working day (not a weekend, not a public holiday)."""
    calendar = HolidayCalendar()
    day = (today or date.today()) + timedelta(days=1)
    while not calendar.is_working_day(day) or day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(9, 30), tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def prepare_database(path: Path) -> str:
    """A migrated SQLite file with the demo dossiers and the sample catalogue."""
    url = f"sqlite:///{path}"
    engine = create_engine_from_url(url)
    migrate(engine)
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        upsert_dossiers(session, demo_dossiers(date.today()))
    load_sample(factory)
    engine.dispose()
    return url


@dataclass
class RunningHotline:
    hotline: Hotline
    worker: Worker
    sink: MemorySink
    port: int
    settings: Settings
    stopped: bool = False

    async def stop(self) -> None:
        """Stop the worker and close the hotline (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        await self.worker.stop()
        await self.hotline.close()


async def start_hotline(
    database_url: str,
    prompt_dir: Path,
    *,
    transfer_target: str = "sip:operator@127.0.0.1:5999",
    speech_recognition: bool = False,
    trusted_proxies: list[str] | None = None,
    recordings_dir: Path | None = None,
    recording_line: RecordingLineSettings | None = None,
    messages_dir: Path | None = None,
    call_recordings_dir: Path | None = None,
    clock: datetime | None = None,
    trunk: TrunkSettings | None = None,
) -> RunningHotline:
    """Start the hotline app on free ports of 127.0.0.1, its clock at a working morning (or
    fixed at `clock`). Bridged conversations are recorded into `call_recordings_dir` (default:
    ``call-recordings`` beside `prompt_dir`)."""
    office_hours = clock or next_working_morning()
    lo, hi = media_range(100)
    settings = Settings(
        database_url=database_url,
        sip=SipSettings(
            host="127.0.0.1",
            port=free_port(),
            transfer_targets={"tong-dai": transfer_target},
            trusted_proxies=trusted_proxies or [],
            trunk=trunk,
        ),
        # sipp sends no RTP unless told to: a silent caller must not trip the inactivity timer
        media=MediaSettings(rtp_port_min=lo, rtp_port_max=hi, inactivity_timeout_s=300),
        speech=SpeechSettings(
            synthesizer="espeak-ng",
            rate_wpm=320,  # quick prompts: the tests wait through several of them
            prompt_cache_dir=prompt_dir,
            recognizer="viet-asr" if speech_recognition else "none",
            recordings_dir=recordings_dir or SpeechSettings().recordings_dir,
            messages_dir=messages_dir or SpeechSettings().messages_dir,
        ),
        recording_line=recording_line or RecordingLineSettings(),
        queues=QueueSettings(
            recordings_dir=call_recordings_dir or prompt_dir.parent / "call-recordings"
        ),
    )
    # a fixed working morning, so the officer branch does not depend on when the suite runs
    hotline = await build_hotline(settings, app="hotline", now=lambda: office_hours)
    sink = MemorySink()
    hotline.sink.add(sink)  # type: ignore[attr-defined]
    worker = Worker(
        sip=settings.sip, media=settings.media, on_call=hotline.on_call, sink=hotline.sink
    )
    await worker.start()
    return RunningHotline(hotline, worker, sink, worker.port, settings)


def serve_officers(running: RunningHotline) -> None:
    """What ``tongdai serve`` does once the worker exists (ivr/commands.py): REGISTERs reach
    the registrar and the bridge dials from the worker's port; MD5 digests only, as Debian's
    baresip 1.0 answers."""
    hotline = running.hotline
    assert hotline.registrar is not None and hotline.bridge is not None
    running.worker.endpoint.registrar = hotline.registrar
    hotline.bridge.dial = running.worker.endpoint.dial
    running.settings.registrar.digest_algorithms = ["MD5"]
