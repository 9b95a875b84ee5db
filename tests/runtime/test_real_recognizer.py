"""The runtime with the real viet-asr recogniser and the real voice detector: a caller reads a
number aloud (a real call-centre recording) and the input node stores its digits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.events import SpeechRecognized
from menus.model import MenuTree
from speech.recognition_pool import RecognitionPool
from speech.vietasr_engine import VietAsrRecognizer
from tests.runtime.fake_channel import Say
from tests.runtime.fakes import Backends, call
from tests.support import need

pytestmark = pytest.mark.slow

TREE = MenuTree.from_dict(
    {
        "id": "number",
        "title": "Đọc số",
        "start": "number",
        "officer_department": "tong-dai",
        "nodes": {
            "number": {
                "kind": "input",
                "prompt": "Xin quý vị đọc số điện thoại.",
                "variable": "number",
                "rule": {"kind": "digits", "min": 4, "max": 12},
                "mode": "speech",
                "timeout_s": 6,
                "next": "bye",
            },
            "bye": {"kind": "hangup"},
        },
    }
)


@pytest.fixture(scope="module")
def vietasr() -> Iterator[VietAsrRecognizer]:
    recognizer = VietAsrRecognizer(pool=RecognitionPool(workers=1, max_streams=2))
    yield recognizer
    recognizer.close()


def test_spoken_number_through_the_real_recognizer(
    vietasr: VietAsrRecognizer, speech_dir: Path
) -> None:
    clip = speech_dir / "call8k_1.wav"  # "tám bảy lăm ba là năm sáu bốn bảy"
    need(clip.is_file(), f"caller recording {clip} missing")
    backends = Backends()
    backends.recognizer = vietasr  # type: ignore[assignment]
    r = call([Say.wav(clip)], tree=TREE, backends=backends)
    assert r.context.inputs["number"].startswith("8753"), r.context.recognized
    [event] = [e for e in r.of(SpeechRecognized) if isinstance(e, SpeechRecognized)]
    assert event.node_id == "number" and event.matched == r.context.inputs["number"]
    assert r.context.outcome == "hangup"
