"""Randomly damaged menu files never crash the checks: every outcome is a list of problems."""

from __future__ import annotations

import random

import pytest

from menus.model import MenuTree
from menus.schema import dump_json, load_tree
from menus.validate import check_text
from tests.menus.conftest import SAMPLE_KNOWN

MUTATIONS_PER_FORMAT = 100
NASTY = [b"&a ", b"*a", b"!!python/object:os.system ", b"!x ", b"[", b"{", b"}", b"]", b":",
         b"\t", b"\xff", b"\xc3", b"\x00", b"- ", b"? ", b"<<: ", b"\n  ", b'"', b"'", b"#",
         b"---\n", b"\\u0000", b"1e999", b"NaN", b"-1", b"null", b"~"]  # fmt: skip


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.3:
            data[at] = rng.randrange(256)
        elif choice < 0.6:
            data[at:at] = rng.choice(NASTY)
        elif choice < 0.8:
            end = min(len(data), at + rng.randint(1, 80))
            del data[at:end]
        else:
            line_start = data.rfind(b"\n", 0, at) + 1
            line_end = data.find(b"\n", at)
            line = bytes(data[line_start : line_end if line_end >= 0 else len(data)])
            data[line_start:line_start] = line + b"\n"  # duplicated line: duplicate keys
    return bytes(data)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_damaged_files_give_problems_not_crashes(fmt: str, hotline_yaml: str) -> None:
    rng = random.Random(20260 if fmt == "yaml" else 4475)
    original = (
        hotline_yaml.encode() if fmt == "yaml" else dump_json(load_tree(hotline_yaml)).encode()
    )
    outcomes = {"tree": 0, "problems": 0}
    for _ in range(MUTATIONS_PER_FORMAT):
        damaged = _mutate(original, rng)
        tree, problems = check_text(
            damaged,
            fmt="json" if fmt == "json" else "yaml",
            departments=SAMPLE_KNOWN.departments,
            procedures=SAMPLE_KNOWN.procedures,
        )
        assert tree is None or isinstance(tree, MenuTree)
        if problems:
            outcomes["problems"] += 1
            assert all(p.message for p in problems)
        else:
            outcomes["tree"] += 1
            assert tree is not None
    # most damage is noticed; some (inside a prompt's text) is harmless
    assert outcomes["problems"] > MUTATIONS_PER_FORMAT // 2
