"""``yamlsource``: the same values as ``yaml.safe_load``, plus positions and refusals.

The validator trusts this reader for every value and every line number, so its values are
checked against PyYAML's own ``safe_load`` on the fixture, the real database, a synthetic one
and a list of YAML 1.1 corner cases.
"""

from __future__ import annotations

import datetime
import gc
from pathlib import Path

import pytest
import yaml
from reprogrammability import yamlsource
from reprogrammability.yamlsource import MapSpan, SeqSpan, parse_bytes, parse_text

from benchmarks.synthetic import make_synthetic_yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "validate" / "valid.yaml"
DATABASE = ROOT / "data" / "papers.yaml"

CORNER_CASES = """\
plain: text with:colon and a # not-comment
int: 2021
zero: 0
octal: 0o17
legacy_octal: 017
hex: 0x1F
underscored: 1_000
sexagesimal: 12:30
negative: -42
float: 2506.00620
exp: 6.02e+23
inf: .inf
nan_is_skipped: 1.5
bools: [yes, No, true, FALSE, on, Off]
nulls: [~, null, Null, ]
empty:
date: 2021-05-01
datetime: 2021-05-01 10:30:00
quoted: ["2021", '2506.00620', "yes"]
explicit: [!!str 2021, !!int "7", !!float "1", ! 12]
block: |
  first line
  second line
folded: >-
  one
  two
escapes: "tab\\there \\u00e9 \\"q\\""
unicode: Müller, Ł, 東京
nested: {a: [1, {b: c}], "d e": []}
"2021": numeric-looking key
"""


def _safe(text: str) -> object:
    return yaml.load(text, Loader=yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def _values(text: str) -> object:
    result = parse_text(text)
    # Integers in YAML 1.1's other notations are read as safe_load reads them, and reported.
    assert [i for i in result.issues if i.kind != "number"] == []
    return result.document.data


def test_corner_cases_match_safe_load() -> None:
    expected = _safe(CORNER_CASES)
    expected["2021"] = expected.pop("2021")  # our keys are their source text
    assert _values(CORNER_CASES) == expected
    value = _values(CORNER_CASES)
    assert isinstance(value["float"], float) and value["float"] == 2506.0062
    assert value["quoted"] == ["2021", "2506.00620", "yes"]


TRICKY_PLAIN_SCALARS = [
    "yes", "Yes", "YES", "yES", "y", "Y", "n", "NO", "No", "nO", "on", "ON", "oN", "Off", "OFF",
    "oFF", "true", "TRUE", "tRUE", "False", "null", "NULL", "nULL", "Null", "~", "~x", "none",
    "1", "10", "0", "007", "08", "1_000", "12:30", "1e3", "1.e3", "1.0e+3", ".5", "+1", "-1",
    "٣", "١٢", "2021", "99999999999999999999", "0x1F", "0b101", "0o17", ".inf", "-.Inf",
    ".NaN", "2021-05-01", "2021-5-1", "2021-05-01t10:00:00z", "<<", "=", "Ünïcode", "ﬁne",
]


@pytest.mark.parametrize("word", TRICKY_PLAIN_SCALARS)
def test_plain_scalar_typing_matches_safe_load(word: str) -> None:
    text = f"value: {word}\n"
    if word in ("<<", "="):  # merge and value tags: safe_load cannot build them, we keep text
        with pytest.raises(yaml.constructor.ConstructorError):
            _safe(text)
        assert _values(text) == {"value": word}
        return
    assert _values(text) == _safe(text)
    assert type(_values(text)["value"]) is type(_safe(text)["value"])
    notation = [i.message for i in parse_text(text).issues if i.kind == "number"]
    if word in ("007", "1_000", "12:30", "+1", "0x1F", "0b101"):
        value = _safe(text)["value"]
        assert len(notation) == 1 and f"as the integer {value}" in notation[0], notation
    else:
        assert notation == []


@pytest.mark.parametrize("path", [FIXTURE, DATABASE], ids=["fixture", "database"])
def test_files_match_safe_load(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not written yet")
    text = path.read_text(encoding="utf-8")
    assert _values(text) == _safe(text)


def test_synthetic_database_matches_safe_load() -> None:
    text = make_synthetic_yaml(200, seed=3)
    assert _values(text) == _safe(text)


def test_every_key_and_value_position_is_where_it_is_written() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    lines = text.splitlines()
    doc = parse_text(text).document
    papers = doc.span(("papers",))
    assert isinstance(papers, SeqSpan) and len(papers.items) == 4
    checked = 0
    for index, entry in enumerate(doc.data["papers"]):
        span = doc.span(("papers", index))
        assert isinstance(span, MapSpan)
        for key in entry:
            line, col = doc.position(("papers", index, key), key=True)
            assert lines[line - 1][col - 1:].startswith(f"{key}:")
            vline, vcol = doc.position(("papers", index, key))
            assert vline == line or lines[vline - 1][vcol - 1:].startswith("- ")
            checked += 1
    assert checked > 40
    line, col = doc.position(("papers", 1, "authors", 2))
    assert lines[line - 1][col - 1:] == "Noah Constant"


def test_position_falls_back_to_the_nearest_existing_ancestor() -> None:
    doc = parse_text("papers:\n  - title: x\n").document
    assert doc.position(("papers", 0, "venue")) == (2, 5)
    assert doc.position(("papers", 7)) == (2, 3)
    assert doc.position(("nothing", "here")) == (1, 1)


def test_text_as_written_for_what_yaml_did_not_read_as_strings() -> None:
    text = "arxiv: 2506.00620\nq: '2506.00620'\nyear: 2021\nt: !!int '7'\nd: 2021-05-01\n"
    doc = parse_text(text).document
    assert doc.data == {"arxiv": 2506.0062, "q": "2506.00620", "year": 2021, "t": 7,
                        "d": datetime.date(2021, 5, 1)}
    assert doc.plain_text(("arxiv",), 2506.0062) == "2506.00620"
    assert doc.plain_text(("year",), 2021) == "2021"
    assert doc.plain_text(("d",), doc.data["d"]) == "2021-05-01"
    assert doc.plain_text(("q",), "2506.00620") is None  # quoted: nothing to quote
    assert doc.plain_text(("t",), 7) is None  # tagged on purpose
    assert doc.scalar(("arxiv",)).value == "2506.00620" and doc.scalar(("q",)) is None
    assert doc.position(("d",)) == (5, 4) and doc.position(("q",)) == (2, 4)


def test_duplicate_keys_keep_the_first_and_report_both_lines() -> None:
    result = parse_text("a: 1\nb: 2\na: 3\n")
    assert result.document.data == {"a": 1, "b": 2}
    (issue,) = result.issues
    assert (issue.line, issue.col, issue.path, issue.kind) == (3, 1, ("a",), "duplicate-key")
    assert "first at line 1, again at line 3" in issue.message


def test_complex_and_alias_keys_are_refused() -> None:
    result = parse_text("? [a, b]\n: 1\nc: 2\n")
    assert result.document.data == {"c": 2}
    assert [(i.kind, i.line, i.col) for i in result.issues] == [("key", 1, 3)]
    result = parse_text("x: &k key\n*k : 2\n")
    assert [i.kind for i in result.issues] == ["anchor", "alias"]
    assert (result.issues[1].line, result.issues[1].col) == (2, 1)


def test_aliases_are_never_expanded() -> None:
    rows = ["a: &a [" + ", ".join(["x"] * 50) + "]"]
    for prev, name in zip("abcdefghijklmno", "bcdefghijklmnop"):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 50) + "]")
    result = parse_text("\n".join(rows))  # 50**16 items if expanded
    assert len([i for i in result.issues if i.kind == "alias"]) == 15 * 50
    assert len([i for i in result.issues if i.kind == "anchor"]) == 16
    assert result.document.data["p"] == [None] * 50


def test_second_document_and_empty_input() -> None:
    result = parse_text("a: 1\n---\nb: 2\n")
    assert [(i.kind, i.line) for i in result.issues] == [("documents", 2)]
    assert parse_text("").document is None and parse_text("").issues == []
    assert parse_text("# only a comment\n").document is None


def test_syntax_error_has_position_and_no_document() -> None:
    result = parse_text("a: [1, 2\nb: 3\n")
    assert result.document is None
    (issue,) = result.issues
    assert issue.kind == "syntax" and issue.line == 2 and issue.message.startswith("invalid YAML")


def test_byte_order_mark_and_bad_utf8() -> None:
    assert parse_bytes(b"\xef\xbb\xbfa: 1\n").document.data == {"a": 1}
    result = parse_bytes(b"a: 1\nb: \xc3\x28\n")
    assert result.document is None
    (issue,) = result.issues
    assert (issue.line, issue.col, issue.kind) == (2, 4, "encoding")


def test_garbage_collector_is_restored() -> None:
    assert gc.isenabled()
    parse_text("a: [1, 2]\n")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_text("a: [1, 2]\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
    parse_text("a: [1, 2\n")  # after a syntax error too
    assert gc.isenabled()


def test_uses_the_c_loader_when_available() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    assert yamlsource.HAVE_LIBYAML and yamlsource._Loader is yaml.CSafeLoader


def test_pure_python_loader_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where PyYAML lacks libyaml the reader falls back to its Python parser: same answers."""
    text = FIXTURE.read_text(encoding="utf-8")
    fast = parse_text(text).document
    bad = 'papers:\n  - title: "é\x07"\n'
    fast_issue = parse_text(bad).issues[0]
    monkeypatch.setattr(yamlsource, "_Loader", yaml.SafeLoader)
    monkeypatch.setattr(yamlsource, "HAVE_LIBYAML", False)
    slow = parse_text(text).document
    assert slow.data == fast.data
    for index, entry in enumerate(fast.data["papers"]):
        for key in entry:
            path = ("papers", index, key)
            assert slow.position(path) == fast.position(path)
            assert slow.position(path, key=True) == fast.position(path, key=True)
    (slow_issue,) = parse_text(bad).issues
    assert (slow_issue.line, slow_issue.col) == (fast_issue.line, fast_issue.col) == (2, 14)
