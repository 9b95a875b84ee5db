"""Spoken answers: real caller recordings through the real voice detector, barge-in by speech,
voice menu choices with spoken confirmation, spoken codes, and the keypad fallback when every
recognition slot is busy. The recogniser is scripted (its transcripts are given) but it is fed
exactly the frames the runtime cut out of the caller's audio."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ErrorCode
from ivr.events import CallError, PromptPlayed, SpeechRecognized
from ivr.runtime import phrases
from tests.runtime.fake_channel import HangUp, Press, Say
from tests.runtime.fakes import (
    Backends,
    ScriptedRecognizer,
    call,
    no_input_prompt,
    no_match_prompt,
    opening,
)
from tests.support import need

CLIP = "call8k_3.wav"  # 2.97 s of a real call-centre recording at 8 kHz


@pytest.fixture
def clip(speech_dir: Path) -> Path:
    path = speech_dir / CLIP
    need(path.is_file(), f"caller recording {path} missing")
    return path


def speaking(transcripts: list[str]) -> Backends:
    return Backends(recognizer=ScriptedRecognizer(transcripts))


def test_barge_in_by_speech_stops_the_prompt_and_picks_by_voice(clip: Path) -> None:
    backends = speaking(["cho tôi tra cứu hồ sơ"])
    say = Say.wav(clip, hear=opening("main"), after_s=2.0)
    r = call([say, HangUp(hear=opening("dossier_code"))], backends=backends)
    main = next(p for p in r.channel.played if p.text.startswith(opening("main")))
    assert main.outcome.speech and not main.outcome.completed
    # The detector needs the 60 ms onset run after the caller starts, at 2.0 s into the prompt.
    assert 2.0 < main.outcome.played_s < 2.5
    [heard_s] = backends.recognizer.heard_s if backends.recognizer else []
    assert 2.5 < heard_s < 4.5  # the utterance (2.97 s), its preroll and the trailing silence
    assert r.context.path[-1] == "dossier_code"
    assert r.context.recognized == ["cho tôi tra cứu hồ sơ"]
    [event] = [e for e in r.of(SpeechRecognized) if isinstance(e, SpeechRecognized)]
    assert event.matched == "dossier_code" and event.node_id == "main"
    interrupted = [e for e in r.of(PromptPlayed) if isinstance(e, PromptPlayed) and e.interrupted]
    assert [e.node_id for e in interrupted] == ["main"]


def test_no_speech_means_no_barge_in(clip: Path) -> None:
    # Line noise alone never interrupts a prompt; a key still does.
    backends = speaking([])
    r = call([Press("3"), HangUp(hear=opening("online"))], backends=backends)
    main = next(p for p in r.channel.played if p.text.startswith(opening("main")))
    assert main.outcome.completed
    assert backends.recognizer is not None and backends.recognizer.heard_s == []
    assert r.context.path[-1] == "online"


def test_spoken_choice_after_the_prompt(clip: Path) -> None:
    r = call([Say.wav(clip), HangUp(hear=opening("procedures"))], backends=speaking(["thủ tục"]))
    assert r.context.path[-1] == "procedures"


def test_unsure_match_is_confirmed_aloud(clip: Path) -> None:
    # "nộp mạng" is close to "nộp qua mạng" but not close enough to take without asking.
    backends = speaking(["nộp mạng", "không", "trực tuyến"])
    script = [Say.wav(clip), Say.wav(clip), Say.wav(clip), HangUp(hear=opening("online"))]
    r = call(script, backends=backends)
    assert r.channel.heard(phrases.spoken_confirmation("trực tuyến"))
    assert r.channel.heard(no_match_prompt())  # "không": not what was meant
    assert r.context.path[-1] == "online"
    assert r.context.recognized == ["nộp mạng", "không", "trực tuyến"]


def test_global_keyword_reaches_an_officer(clip: Path) -> None:
    r = call([Say.wav(clip)], backends=speaking(["tôi muốn gặp cán bộ"]))
    assert r.context.path[-2:] == ["officer", "officer_transfer"]
    assert r.context.outcome == "transferred"


def test_spoken_dossier_code_and_spoken_confirmation(clip: Path) -> None:
    transcripts = [
        "hồ sơ",
        "hai lăm không ba không ba chín không không bốn",
        "đúng rồi",
    ]
    script = [Say.wav(clip), Say.wav(clip), Say.wav(clip), HangUp(hear=opening("dossier_after"))]
    r = call(script, backends=speaking(transcripts))
    assert r.context.inputs == {"dossier_code": "2503039004"}
    assert r.channel.heard("đang được xử lý")


def test_find_a_procedure_by_its_spoken_name(clip: Path) -> None:
    backends = speaking(["đăng ký khuyến mại"])
    r = call(
        [Press("2"), Press("4"), Say.wav(clip), HangUp(hear=opening("procedure_after"))],
        backends=backends,
    )
    assert r.channel.heard("Thủ tục Đăng ký thực hiện khuyến mại")
    assert r.context.lookups[0].key == "2.000002"


def test_busy_recognizer_falls_back_to_the_keypad_at_once(clip: Path) -> None:
    # The slot is asked for only when the caller starts speaking; refused, the prompt stops,
    # the caller is told to use the keypad, and the question is asked again for keys.
    backends = Backends(recognizer=ScriptedRecognizer(busy=True))
    script = [
        Say.wav(clip, hear=opening("main"), after_s=1.0),
        Press("3"),
        Press("2"),
        HangUp(hear=opening("online_payment")),
    ]
    r = call(script, backends=backends)
    assert r.texts.count(phrases.KEYPAD_ONLY) == 1  # said once, not at every question
    main = [p for p in r.channel.played if p.text.startswith(opening("main"))]
    assert main[0].outcome.speech and len(main) == 2
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert [e.code for e in errors] == [ErrorCode.RECOGNIZER_BUSY]
    assert r.context.path[-2:] == ["online", "online_payment"]


def test_an_utterance_nobody_could_make_out_counts_as_no_input(clip: Path) -> None:
    r = call([Say.wav(clip), HangUp(hear=no_input_prompt())], backends=speaking([""]))
    assert r.context.path == ["greeting", "main"]
    assert r.channel.heard(no_input_prompt())


class CrashingSession:
    async def feed(self, pcm: bytes, rate: int) -> None:
        raise RuntimeError("native decoder crashed")

    async def hypothesis(self) -> str:
        raise AssertionError("never reached")

    async def finish(self) -> None:
        raise AssertionError("never reached")

    def close(self) -> None:
        return None


class CrashingRecognizer(ScriptedRecognizer):
    def open_session(self, *, grammar: object = None) -> CrashingSession:  # type: ignore[override]
        return CrashingSession()


def test_a_crashing_recognizer_costs_one_answer_not_the_call(clip: Path) -> None:
    backends = Backends(recognizer=CrashingRecognizer())
    r = call([Say.wav(clip), Press("3"), HangUp(hear=opening("online"))], backends=backends)
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert errors and errors[0].code is ErrorCode.INTERNAL and "crashed" in errors[0].detail
    assert r.context.path[-1] == "online"


def test_asking_for_an_officer_instead_of_a_code(clip: Path) -> None:
    r = call([Press("1"), Say.wav(clip)], backends=speaking(["thôi cho tôi gặp cán bộ"]))
    assert r.context.path[-3:] == ["dossier_code", "officer", "officer_transfer"]


def test_a_complete_answer_at_a_pause_ends_the_utterance_there(clip: Path) -> None:
    # call8k_3 pauses for about 0.5 s after its first second: the transcript so far already
    # names a choice, so the runtime decides at that pause instead of hearing the clip out.
    backends = Backends(
        recognizer=ScriptedRecognizer(
            ["cho tôi tra cứu hồ sơ"], hypotheses=["cho tôi tra cứu hồ sơ"]
        )
    )
    r = call([Say.wav(clip), HangUp(hear=opening("dossier_code"))], backends=backends)
    recognizer = backends.recognizer
    assert recognizer is not None
    # (what the caller says after the pause barges into the next question, as on a real line)
    assert recognizer.hypotheses_asked >= 1
    first = recognizer.heard_s[0]
    assert first < 1.8, f"heard {first:.2f} s: the turn should end at the first pause"
    assert "dossier_code" in r.context.path


def test_an_incomplete_answer_at_a_pause_keeps_listening(clip: Path) -> None:
    # "cho tôi" picks nothing yet: the turn waits for the full trailing silence.
    backends = Backends(
        recognizer=ScriptedRecognizer(["cho tôi tra cứu hồ sơ"], hypotheses=["cho tôi"])
    )
    r = call([Say.wav(clip), HangUp(hear=opening("dossier_code"))], backends=backends)
    recognizer = backends.recognizer
    assert recognizer is not None
    assert recognizer.hypotheses_asked >= 1
    [heard_s] = recognizer.heard_s
    assert heard_s > 2.9  # the whole 2.97 s clip (and its preroll) was listened to
    assert r.context.path[-1] == "dossier_code"
