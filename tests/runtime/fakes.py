"""In-memory backends for runtime tests, and a helper that runs one scripted call.

The dossiers are the project's own demo dossiers; the calendar is the real holiday calendar;
the tree is the real default tree unless a test passes another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from integrations.base import (
    Channel,
    Department,
    Dossier,
    OpenState,
    Procedure,
    RequiredDocument,
    SourceUnavailable,
)
from integrations.calendar_vn import HolidayCalendar
from integrations.sample_dossiers import demo_dossiers
from integrations.verification import CheckFailures, CheckLimits, MemoryCheckFailures
from ivr.events import CallEvent, MemorySink
from ivr.runtime.deps import (
    CallbackRequest,
    CallContext,
    MessageBox,
    PinnedTree,
    RuntimeDeps,
    RuntimeTiming,
)
from ivr.runtime.interpreter import run_call
from menus.loader import read_file
from menus.model import MenuTree
from speech.asr import Capabilities, Partial, RecognizerBusy, Result
from speech.normalize import match_key
from speech.vad import SpeechDetector
from tests.runtime.fake_channel import FakeChannel, FakePrompts, Step, run_virtual

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = ROOT / "config" / "menus" / "hotline.yaml"
VN = timezone(timedelta(hours=7))
NOW = datetime(2025, 6, 10, 9, 30, tzinfo=VN)  # a Tuesday, office hours
TODAY = NOW.date()


def hotline_tree(version: int = 1) -> MenuTree:
    """The default tree as shipped, at ``version``."""
    return replace(MenuTree.from_dict(read_file(HOTLINE)), version=version)


def opening(node_id: str, chars: int = 24) -> str:
    """The first words of a node's prompt in the default tree, for scripts and assertions that
    should follow the tree's wording rather than copy it."""
    prompt = hotline_tree().nodes[node_id].prompt
    assert prompt is not None, f"{node_id} has no prompt"
    return prompt.text[:chars]


def no_input_prompt() -> str:
    """The default tree's no-input prompt."""
    return hotline_tree().defaults.no_input.text


def no_match_prompt() -> str:
    """The default tree's no-match prompt."""
    return hotline_tree().defaults.no_match.text


class MemoryDossiers:
    """A DossierSource over a list; ``fail`` makes every query raise SourceUnavailable."""

    def __init__(self, dossiers: Sequence[Dossier], *, fail: bool = False) -> None:
        self._by_code = {d.code: d for d in dossiers}
        self.fail = fail
        self.queries: list[str] = []

    async def get(self, code: str) -> Dossier | None:
        self.queries.append(code)
        if self.fail:
            raise SourceUnavailable("memory", "down", "scripted outage")
        return self._by_code.get(code)

    async def find_by_tail(self, tail: str) -> list[Dossier]:
        self.queries.append(tail)
        if self.fail:
            raise SourceUnavailable("memory", "down", "scripted outage")
        return [d for d in self._by_code.values() if d.code.replace("-", "").endswith(tail)]


def _procedure(code: str, name: str, field: str, dept: str, **extra: object) -> Procedure:
    return Procedure(
        code=code,
        name=name,
        field=field,
        department_id=dept,
        agency="Sở Công thương" if dept == "so-cong-thuong" else "Sở Tài nguyên và Môi trường",
        **extra,  # type: ignore[arg-type]
    )


PROCEDURES: tuple[Procedure, ...] = (
    _procedure(
        "2.000591",
        "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
        "An toàn thực phẩm",
        "so-cong-thuong",
        online_level=4,
        processing_days=20,
        fee_vnd=1_000_000,
        documents=(
            RequiredDocument("Đơn đề nghị cấp giấy chứng nhận", 1, "Mẫu 01"),
            RequiredDocument("Bản thuyết minh về cơ sở vật chất", 1),
        ),
        channels=(Channel.IN_PERSON, Channel.ONLINE, Channel.POST),
        keywords=("an toàn thực phẩm",),
    ),
    _procedure(
        "2.000002",
        "Đăng ký thực hiện khuyến mại",
        "Thương mại",
        "so-cong-thuong",
        online_level=4,
        processing_days=5,
        fee_vnd=0,
        documents=(RequiredDocument("Đăng ký thực hiện khuyến mại theo mẫu", 1, "Mẫu 02"),),
        channels=(Channel.ONLINE, Channel.POST),
        keywords=("khuyến mại", "đăng ký khuyến mại"),
    ),
    _procedure(
        "2.000003",
        "Thông báo thực hiện khuyến mại",
        "Thương mại",
        "so-cong-thuong",
        online_level=4,
        processing_days=3,
        fee_vnd=0,
        channels=(Channel.ONLINE,),
        keywords=("thông báo khuyến mại",),
    ),
    _procedure(
        "1.004227",
        "Đăng ký đất đai lần đầu",
        "Đất đai",
        "so-tn-mt",
        online_level=3,
        processing_days=30,
        fee_note="Lệ phí theo nghị quyết của Hội đồng nhân dân tỉnh",
        channels=(Channel.IN_PERSON, Channel.POST),
    ),
)


class MemoryCatalogue:
    """A ProcedureCatalogue over a tuple; ``fail`` makes every query raise."""

    def __init__(self, procedures: Sequence[Procedure] = PROCEDURES, *, fail: bool = False):
        self._procedures = list(procedures)
        self.fail = fail

    def _check(self) -> None:
        if self.fail:
            raise SourceUnavailable("catalogue", "down")

    async def get(self, code: str) -> Procedure | None:
        self._check()
        return next((p for p in self._procedures if p.code == code), None)

    async def search(self, text: str, limit: int = 5) -> list[Procedure]:
        self._check()
        words = set(match_key(text).split())
        scored = []
        for p in self._procedures:
            name = set(match_key(" ".join((p.name, *p.keywords))).split())
            overlap = len(words & name) / max(1, len(name))
            if overlap >= 0.5:
                scored.append((overlap, p))
        scored.sort(key=lambda s: -s[0])
        return [p for _, p in scored[:limit]]

    async def by_department(self, dept_id: str) -> list[Procedure]:
        self._check()
        return [p for p in self._procedures if p.department_id == dept_id]

    async def fields(self, dept_id: str) -> list[str]:
        self._check()
        out: list[str] = []
        for p in self._procedures:
            if p.department_id == dept_id and p.field not in out:
                out.append(p.field)
        return out


DEPARTMENTS = (
    Department(id="tong-dai", name="Tổng đài dịch vụ công"),
    Department(id="so-cong-thuong", name="Sở Công thương"),
    Department(id="so-tn-mt", name="Sở Tài nguyên và Môi trường"),
    Department(id="ubnd-xa", name="Ủy ban nhân dân cấp xã"),
)


class MemoryDirectory:
    """An OfficerDirectory with a fixed opening state."""

    def __init__(self, state: OpenState = OpenState.OPEN) -> None:
        self.state = state

    async def department(self, dept_id: str) -> Department | None:
        return next((d for d in DEPARTMENTS if d.id == dept_id), None)

    async def departments(self) -> list[Department]:
        return list(DEPARTMENTS)

    async def transfer_target(self, dept_id: str) -> str | None:
        return None  # the configured targets of RuntimeDeps are used

    async def is_open(self, dept_id: str, at: datetime) -> OpenState:
        return self.state


@dataclass
class MemoryCallbacks:
    """A CallbackStore keeping requests in a list."""

    requests: list[CallbackRequest] = field(default_factory=list)

    async def record(self, request: CallbackRequest) -> None:
        self.requests.append(request)


class ScriptedSession:
    """A recognition session that really consumes the frames it is fed and answers with the
    next scripted transcript."""

    def __init__(self, owner: ScriptedRecognizer) -> None:
        self._owner = owner
        self.fed_s = 0.0

    async def feed(self, pcm: bytes, rate: int) -> Partial | None:
        self.fed_s += len(pcm) / 2 / rate
        return None

    async def hypothesis(self) -> str:
        """The next scripted mid-utterance hypothesis ("" when none is scripted: the dialog
        then waits for the end of the utterance)."""
        self._owner.hypotheses_asked += 1
        return self._owner.hypotheses.pop(0) if self._owner.hypotheses else ""

    async def finish(self) -> Result:
        self._owner.heard_s.append(self.fed_s)
        text = self._owner.transcripts.pop(0) if self._owner.transcripts else ""
        return Result(text=text, confidence=0.9, duration_s=self.fed_s, engine="scripted")

    def close(self) -> None:
        self._owner.open_sessions -= 1


class ScriptedRecognizer:
    """A Recognizer whose transcripts are given in advance; ``busy`` refuses every session."""

    def __init__(
        self,
        transcripts: Sequence[str] = (),
        *,
        busy: bool = False,
        hypotheses: Sequence[str] = (),
    ) -> None:
        self.transcripts = list(transcripts)
        self.hypotheses = list(hypotheses)
        self.busy = busy
        self.open_sessions = 0
        self.hypotheses_asked = 0
        self.heard_s: list[float] = []
        self.grammars: list[Sequence[str] | None] = []

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            streaming=True, grammar=False, sample_rate=8000, languages=("vi",), partials=False
        )

    def open_session(self, *, grammar: Sequence[str] | None = None) -> ScriptedSession:
        if self.busy:
            raise RecognizerBusy("all recognition slots are taken")
        self.grammars.append(grammar)
        self.open_sessions += 1
        return ScriptedSession(self)

    async def load(self) -> None:
        return None

    def close(self) -> None:
        return None


TARGETS = {
    "tong-dai": "sip:tongdai@pbx.local",
    "so-cong-thuong": "sip:congthuong@pbx.local",
}


@dataclass
class Backends:
    """The fakes of one test, kept for assertions."""

    prompts: FakePrompts = field(default_factory=FakePrompts)
    dossiers: MemoryDossiers = field(default_factory=lambda: MemoryDossiers(demo_dossiers(TODAY)))
    catalogue: MemoryCatalogue = field(default_factory=MemoryCatalogue)
    officers: MemoryDirectory = field(default_factory=MemoryDirectory)
    callbacks: MemoryCallbacks = field(default_factory=MemoryCallbacks)
    recognizer: ScriptedRecognizer | None = None
    check_failures: CheckFailures = field(default_factory=MemoryCheckFailures)
    check_limits: CheckLimits = field(default_factory=CheckLimits)
    timing: RuntimeTiming = field(default_factory=RuntimeTiming)
    messages: MessageBox | None = None

    def deps(self) -> RuntimeDeps:
        return RuntimeDeps(
            prompts=self.prompts,
            dossiers=self.dossiers,
            catalogue=self.catalogue,
            officers=self.officers,
            callbacks=self.callbacks,
            calendar=HolidayCalendar(),
            now=lambda: NOW,
            transfer_targets=TARGETS,
            recognizer=self.recognizer,
            voice_detector=SpeechDetector if self.recognizer is not None else None,
            check_failures=self.check_failures,
            check_limits=self.check_limits,
            timing=self.timing,
            messages=self.messages,
        )


@dataclass
class CallResult:
    """What a scripted call left behind."""

    context: CallContext
    channel: FakeChannel
    events: list[CallEvent]
    backends: Backends

    def of(self, kind: type[CallEvent]) -> list[CallEvent]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def texts(self) -> list[str]:
        return self.channel.texts


def call(
    script: Sequence[Step],
    *,
    tree: MenuTree | None = None,
    backends: Backends | None = None,
    caller: str = "0912345678",
    **channel_options: object,
) -> CallResult:
    """Run one call of ``script`` through ``tree`` (the default tree) on a virtual clock."""
    backends = backends or Backends()
    pinned = PinnedTree.of(tree or hotline_tree())
    channel = FakeChannel(
        script,
        prompts=backends.prompts,
        caller=caller,
        **channel_options,  # type: ignore[arg-type]
    )
    sink = MemorySink()

    async def main() -> CallContext:
        try:
            return await run_call(channel, pinned, backends.deps(), sink)
        finally:
            await channel.close()

    context = run_virtual(main())
    return CallResult(context, channel, sink.events, backends)


def today() -> date:
    return TODAY
