"""The personal-details check cannot be skipped by a claimed number or brute-forced."""

from __future__ import annotations

from pathlib import Path

from core.errors import ErrorCode
from db import create_engine_from_url, migrate, session_factory
from integrations.verification import CheckLimits, DbCheckFailures, MemoryCheckFailures
from ivr.events import CallerCheck, CallError
from ivr.runtime import phrases
from ivr.runtime.deps import RuntimeTiming
from tests.runtime.fake_channel import HangUp, Press
from tests.runtime.fakes import Backends, call, hotline_tree, opening

NAME = "Công ty TNHH Hải Đăng"  # the demo applicant: personal
VERIFY = hotline_tree().nodes["dossier_lookup"].verify_prompt
CODE = [Press("1"), Press("2503039006#"), Press("1")]  # main → code → confirm → lookup
AGAIN = [Press("1"), Press("2503039006#"), Press("1")]  # dossier_after → another lookup


def results(r: object) -> list[str]:
    return [e.result for e in r.of(CallerCheck)]  # type: ignore[attr-defined]


def test_a_claimed_from_number_skips_nothing() -> None:
    # The From header says the dossier's own phone, but nothing trusted asserted it.
    r = call([*CODE, Press("#"), HangUp(hear=opening("dossier_after"))], caller_asserted=False)
    assert VERIFY is not None and r.channel.heard(VERIFY.text)
    assert r.channel.heard("nghĩa vụ tài chính")  # the status is public
    assert not r.channel.heard(NAME) and not r.channel.heard("Phí thẩm định")
    assert results(r) == ["skipped"]


def test_an_asserted_number_passes_without_digits() -> None:
    r = call([*CODE, HangUp(hear=opening("dossier_after"))])
    assert r.channel.heard(NAME) and results(r) == ["asserted"]


def test_brute_force_is_locked_across_lookups_in_one_call() -> None:
    guesses = [Press("0000#"), Press("1111#"), Press("2222#")]
    after = [Press("5678#"), HangUp(hear=opening("dossier_after"))]
    r = call([*CODE, *guesses, *AGAIN, *after], caller="0987000111", caller_asserted=False)
    assert results(r)[:4] == ["failed", "failed", "failed", "locked-call"]
    assert results(r)[-1] == "locked-call"  # re-entering the code resets nothing
    assert r.texts.count(phrases.CHECK_LOCKED) == 2
    assert not r.channel.heard(NAME)  # 5678, the right answer, is never even asked for


def test_lockout_holds_across_calls_in_the_database(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'checks.db'}")
    migrate(engine)
    backends = Backends(check_failures=DbCheckFailures(session_factory(engine)))
    first = [*CODE, Press("0000#"), Press("1111#"), Press("2222#")]
    r1 = call(
        [*first, HangUp(hear=opening("dossier_after"))],
        backends=backends,
        caller="0987000111",
        caller_asserted=False,
        call_id="brute-1",
    )
    second = [*CODE, Press("3333#"), Press("4444#"), Press("5678#")]
    r2 = call(
        [*second, HangUp(hear=opening("dossier_after"))],
        backends=backends,
        caller="0987000112",
        caller_asserted=False,
        call_id="brute-2",
    )
    assert results(r1) == ["failed", "failed", "failed", "locked-call"]
    # Five failures for this dossier across calls: the right answer comes too late.
    assert results(r2) == ["failed", "failed", "locked-dossier"]
    assert not r2.channel.heard(NAME)
    r3 = call(
        [*CODE, HangUp(hear=opening("dossier_after"))],
        backends=backends,
        caller="0987000113",
        caller_asserted=False,
        call_id="brute-3",
    )
    assert results(r3) == ["locked-dossier"] and r3.channel.heard(phrases.CHECK_LOCKED)
    assert VERIFY is not None and not r3.channel.heard(VERIFY.text)
    engine.dispose()


def test_lockout_window_ends() -> None:
    failures = MemoryCheckFailures()
    backends = Backends(check_failures=failures, check_limits=CheckLimits(lockout_window_s=60))
    call(
        [
            *CODE,
            Press("0000#"),
            Press("1111#"),
            Press("2222#"),
            HangUp(hear=opening("dossier_after")),
        ],
        backends=backends,
        caller_asserted=False,
    )
    call(
        [*CODE, Press("0000#"), Press("1111#"), HangUp(hear=opening("dossier_after"))],
        backends=backends,
        caller_asserted=False,
    )
    assert len(failures.rows) == 5
    failures.rows = [
        (code, call_id, at.replace(year=at.year - 1)) for code, call_id, at in failures.rows
    ]
    r = call(
        [*CODE, Press("5678#"), HangUp(hear=opening("dossier_after"))],
        backends=backends,
        caller_asserted=False,
    )
    assert results(r) == ["passed"] and r.channel.heard(NAME)


def test_lookups_per_call_are_limited() -> None:
    backends = Backends(check_limits=CheckLimits(max_lookups_per_call=2))
    script = [*CODE, *AGAIN, *AGAIN, HangUp(hear=phrases.TOO_MANY_LOOKUPS[:20])]
    r = call(script, backends=backends)
    assert len(r.context.lookups) == 2
    assert r.channel.heard(phrases.TOO_MANY_LOOKUPS)
    assert any(isinstance(e, CallError) and e.code is ErrorCode.LIMIT_REACHED for e in r.events)


def test_a_call_has_a_maximum_length() -> None:
    backends = Backends(timing=RuntimeTiming(max_call_s=20.0))
    r = call([], backends=backends)  # a silent caller sits in the menus
    assert r.context.outcome == "max-call-length" and r.channel.ended_by == "ivr"
    assert r.channel.played[-1].at_s < 40
