"""Input patterns: only bounded ones run by RE2 may be published; the ReDoS rule is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cli import main
from menus.patterns import MAX_PATTERN_INPUT, date_entry, pattern_matches, pattern_problem

REFUSED = [
    ("(0*)*1", "unbounded repetition"),
    ("(a|aa)+", "unbounded repetition"),
    ("[0-9]+", "unbounded repetition"),
    ("[0-9]{2,}", "unbounded repetition"),
    ("(a{1,3}){2}", "repetition of a repeated part"),
    ("(?:[0-9]?){9}", "repetition of a repeated part"),
    ("(?=1)[0-9]{3}", "only (?:…)"),
    ("([0-9])\\1", "linear-time engine"),
    ("[0-9]{41}", "at most 40"),
    ("[0-9]{3}", None),
    ("(?P<area>[0-9]{2,3})-[0-9]{4,7}", None),
    ("[A-Z]{2}[0-9]{1,6}|[0-9]{9}", None),
    ("x" * 201, "longer than 200"),
    ("", "empty"),
    ("([0-9]{3}", "unbalanced"),
]


@pytest.mark.parametrize(("pattern", "reason"), REFUSED, ids=[p[:20] for p, _ in REFUSED])
def test_pattern_problem_names_the_reason(pattern: str, reason: str | None) -> None:
    problem = pattern_problem(pattern)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None and reason in problem, problem


def test_patterns_run_in_linear_time_and_bound_the_value() -> None:
    assert pattern_matches("[0-9]{3}", "123")
    assert not pattern_matches("[0-9]{3}", "1234")
    # The refused ReDoS pattern matches nothing, immediately, whatever the value.
    started = time.perf_counter()
    assert not pattern_matches("(0*)*1", "0" * 40)
    assert not pattern_matches("[0-9]{1,40}", "1" * (MAX_PATTERN_INPUT + 1))
    assert time.perf_counter() - started < 0.05


def test_date_rule() -> None:
    assert date_entry("31122025") == "2025-12-31"
    assert date_entry("31122025#") == "2025-12-31"
    assert date_entry("30022025") is None
    assert date_entry("3112202") is None
    assert date_entry("3112a025") is None


def test_redos_rule_is_refused_by_menus_validate(
    tmp_path: Path, hotline_yaml: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "redos.yaml"
    tree.write_text(
        hotline_yaml.replace("rule: dossier_code", 'rule: {kind: regex, pattern: "(0*)*1"}', 1),
        encoding="utf-8",
    )
    code = main(
        ["menus", "validate", str(tree), "--departments=so-cong-thuong,so-tn-mt,ubnd-xa,tong-dai"]
    )
    out = capsys.readouterr().out
    assert code == 1
    line = next(line for line in out.splitlines() if "rule.pattern" in line)
    assert "[bad-rule]" in line and "unbounded repetition" in line, out
