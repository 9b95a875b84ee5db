"""Hostile menu files are refused with a clear MenuLoadError (and a line), never a crash."""

from __future__ import annotations

import pytest

from menus.loader import LoadLimits, MenuLoadError, load_json, load_yaml, read_file

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]
"""

YAML_CASES = [
    ("alias bomb", BILLION_LAUGHS, "anchors are not allowed", 1),
    ("alias alone", "a: x\nb: *x\n", "", 2),
    ("python object", "id: !!python/object/apply:os.system ['true']\n", "not allowed", 1),
    ("python name", "x: 1\nid: !!python/name:os.system\n", "not allowed", 2),
    ("binary tag", "id: !!binary aGVsbG8=\n", "not allowed", 1),
    ("set tag", "id: !!set {a, b}\n", "not allowed", 1),
    ("custom tag", "id: !include other.yaml\n", "not allowed", 1),
    ("duplicate key", "id: a\ntitle: b\nid: c\n", "duplicate key 'id'", 3),
    ("nested duplicate", "nodes:\n  a: {kind: say}\n  a: {kind: menu}\n", "duplicate key 'a'", 3),
    ("merge key", "base: {a: 1}\nx:\n  <<: {a: 2}\n", "merge keys", 3),
    ("two documents", "id: a\n---\nid: b\n", "one YAML document", 2),
    ("flow 10000 deep", "x: " + "[" * 10_000 + "]" * 10_000 + "\n", "nesting", 1),
    ("mixed 10000 deep", "x: " + "{a: [" * 5_000 + "]}" * 5_000, "nesting", 1),
    ("block 100 deep", "".join(" " * i + "k:\n" for i in range(100)), "nesting deeper", 41),
    ("complex key", "? [a, b]\n: 1\n", "plain values", 1),
    ("syntax error", "id: a\ntitle: [unclosed\nstart: x\n", "syntax", None),
    ("top-level list", "- a\n- b\n", "top level", 1),
    ("empty", "", "empty", None),
    ("only a comment", "# nothing\n", "empty", None),
]


@pytest.mark.parametrize(
    ("name", "text", "words", "line"), YAML_CASES, ids=[c[0] for c in YAML_CASES]
)
def test_hostile_yaml_refused(name: str, text: str, words: str, line: int | None) -> None:
    with pytest.raises(MenuLoadError) as err:
        load_yaml(text.encode())
    assert words in err.value.message
    if line is not None:
        assert err.value.line == line


JSON_CASES = [
    ("duplicate key", '{"id": "a",\n "id": "b"}', "duplicate key 'id'", 2),
    ("nested duplicate", '{"nodes": {"a": {}, "b": {},\n"a": {}}}', "duplicate key 'a'", 2),
    ("10000 deep", "[" * 10_000 + "]" * 10_000, "nesting", 1),
    ("10000 deep objects", '{"a":' * 10_000 + "1" + "}" * 10_000, "nesting", 1),
    ("NaN", '{"timeout_s": NaN}', "NaN", None),
    ("Infinity", '{"timeout_s": -Infinity}', "Infinity", None),
    ("syntax", '{"id": "a",\n"title" "b"}', "syntax", 2),
    ("top-level list", "[1, 2]", "top level", 1),
]


@pytest.mark.parametrize(
    ("name", "text", "words", "line"), JSON_CASES, ids=[c[0] for c in JSON_CASES]
)
def test_hostile_json_refused(name: str, text: str, words: str, line: int | None) -> None:
    with pytest.raises(MenuLoadError) as err:
        load_json(text.encode())
    assert words in err.value.message
    if line is not None:
        assert err.value.line == line


@pytest.mark.parametrize("loader", [load_yaml, load_json])
def test_non_utf8_refused(loader: object) -> None:
    latin1 = '{"title": "Tổng đài"}'.encode("utf-16")
    with pytest.raises(MenuLoadError, match="not UTF-8"):
        loader(latin1)  # type: ignore[operator]
    with pytest.raises(MenuLoadError, match="not UTF-8") as err:
        loader(b'{"id": "a",\n "title": "T\xf4ng"}')  # type: ignore[operator]
    assert err.value.line == 2


def test_size_limit() -> None:
    big = b"id: " + b"a" * 2_000 + b"\n"
    with pytest.raises(MenuLoadError, match="too large"):
        load_yaml(big, limits=LoadLimits(max_bytes=1_000))
    assert load_yaml(big, limits=LoadLimits(max_bytes=5_000))["id"] == "a" * 2_000


def test_depth_limit_is_configurable() -> None:
    text = '{"a": ' * 5 + "1" + "}" * 5
    assert load_json(text, limits=LoadLimits(max_depth=5))
    with pytest.raises(MenuLoadError):
        load_json(text, limits=LoadLimits(max_depth=4))
    assert load_yaml(text, limits=LoadLimits(max_depth=5))
    with pytest.raises(MenuLoadError):
        load_yaml(text, limits=LoadLimits(max_depth=4))


def test_plain_values_are_read_as_data() -> None:
    data = load_yaml(
        "\ufeffid: hotline\nkeys: {9: repeat, '*': back}\nn: ~\nok: true\nt: 2.5\n"
        "day: 2024-02-03\nq: !!str 12\ntext: 'Xin chào [quý vị]'\n".encode()
    )
    assert data == {
        "id": "hotline",
        "keys": {9: "repeat", "*": "back"},
        "n": None,
        "ok": True,
        "t": 2.5,
        "day": "2024-02-03",
        "q": "12",
        "text": "Xin chào [quý vị]",
    }
    assert load_json('{"a": "[[[[{{{", "b": [1, {"c": null}]}') == {
        "a": "[[[[{{{",
        "b": [1, {"c": None}],
    }


def test_read_file_checks_size_before_reading(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "big.json"
    path.write_bytes(b" " * 3_000 + b"{}")
    with pytest.raises(MenuLoadError, match="too large"):
        read_file(path, limits=LoadLimits(max_bytes=1_000))
    with pytest.raises(MenuLoadError, match="cannot read"):
        read_file(Path(str(tmp_path)) / "missing.yaml")


@pytest.mark.parametrize(
    "text", ["global_keys: {*: back}\n", "global_keys:\n  '9': repeat\n  *: back\n"]
)
def test_unquoted_star_key_gets_a_hint(text: str) -> None:
    with pytest.raises(MenuLoadError, match=r"quote the \* and # keys"):
        load_yaml(text)


def test_only_true_and_false_are_booleans() -> None:
    # YAML 1.1 would read these words as booleans and silently change a keyword list.
    data = load_yaml("keywords: [yes, no, on, off, y, n]\nflags: [true, False, TRUE]\n")
    assert data == {"keywords": ["yes", "no", "on", "off", "y", "n"], "flags": [True, False, True]}
