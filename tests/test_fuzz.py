"""Property-based fuzzing of every parser that reads user input (Hypothesis, bounded).

Each target (``fuzz/targets.py``) takes mutations of a real repository file (lines deleted,
duplicated, swapped or re-indented, YAML syntax inserted, random bytes, invalid UTF-8) and must
return a result or problems with line numbers and a clean exit code: never raise, never take
longer than the bound, never write a file when it reports a problem. The examples are
derandomised, so the suite is repeatable; ``python -m fuzz.run`` runs the same targets for
tens of thousands of cases. The regression tests below hold the minimal inputs that failed.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.mutate import OPS, TOKENS, apply, random_mutations, window
from fuzz.targets import TARGETS, Violation

MUTATION = st.tuples(
    st.sampled_from(OPS), st.integers(0, 1 << 20), st.integers(0, 1 << 20),
    st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8),
)


def _fuzz(name: str):
    target = TARGETS[name]

    @settings(max_examples=target.test_examples, deadline=None, derandomize=True,
              database=None, suppress_health_check=list(HealthCheck))
    @given(seed=st.integers(0, 1 << 16), start=st.integers(0, 1 << 20),
           mutations=st.lists(MUTATION, min_size=1, max_size=4), rng_seed=st.integers(0, 1 << 30))
    def run(seed: int, start: int, mutations: list, rng_seed: int) -> None:
        data = apply(target.case(seed, start), mutations)
        target.check(data, random.Random(rng_seed))

    return run


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_parser_never_raises_on_mutated_input(name):
    _fuzz(name)()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_unmutated_seeds_are_read_cleanly(name):
    """The seeds themselves pass through every target (a broken seed would hide bugs)."""
    target = TARGETS[name]
    for i in range(len(target.corpus)):
        target.check(target.case(i, 0), random.Random(0))


def test_the_mutations_change_the_input_and_stay_deterministic():
    base = b"papers:\n  - id: a\n    title: x\n"
    rng = random.Random(1)
    cases = [random_mutations(rng) for _ in range(50)]
    outputs = [apply(base, m) for m in cases]
    assert outputs == [apply(base, m) for m in cases]
    assert sum(o != base for o in outputs) >= 45
    assert apply(base, [("delete", 1, 0, b"")]) == b"papers:\n    title: x\n"
    assert apply(base, [("swap", 0, 2, b"")]) == b"    title: x\n  - id: a\npapers:\n"
    assert apply(base, [("truncate", 9, 0, b"")]) == b"papers:\n "


def test_windows_cut_at_entry_boundaries():
    data = b"# c\npapers:\n  - id: a\n    x: 1\n  - id: b\n    x: 2\n  - id: c\n    x: 3\n"
    assert window(data, 0, 2) == b"# c\npapers:\n  - id: a\n    x: 1\n"
    assert window(data, 1, 3) == b"# c\npapers:\n  - id: b\n    x: 2\n  - id: c\n    x: 3\n"


def test_a_violation_is_reported_not_swallowed():
    """The property check itself can fail: a parser that reports a line past the end does."""
    target = TARGETS["validate-papers"]
    from fuzz import targets

    real = target.run

    def lying(data, rng):
        raise Violation("problem at line 99 of a 2-line file")

    target.run = lying
    try:
        with pytest.raises(Violation):
            target.check(b"papers: []\n")
    finally:
        target.run = real
    assert targets.TARGETS["validate-papers"].run is real


# --- regressions: the minimal inputs the fuzzers found -----------------------------------------

ISSUE_13 = """\
papers:
  - id: a2020a
    title: "A"
    authors: [X Y]
    year: 2020
    venue: ICLR
    url: https://example.org/a
    paradigm: model reprogramming
    configuration: learnable
    location: input
    operator: additive
?
  - title: "B"
"""


def test_issue_13_missing_field_before_a_complex_key_is_reported_at_its_line(tmp_path, capsys):
    from reprogrammability.cli import main

    path = tmp_path / "papers.yaml"
    path.write_text(ISSUE_13, encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:5: papers[0].alignment: missing required field 'alignment'" in err
    assert f"{path}:13:3: a key must be a plain name" in err  # the complex key itself


def test_syntax_error_at_the_end_points_at_the_last_line():
    from reprogrammability.yamlsource import parse_bytes

    result = parse_bytes(b"papers:\n    year: 2021\n    u")
    (issue,) = result.issues
    assert (issue.line, issue.col) == (3, 6)
    assert "at the end of the file" in issue.message


def test_a_file_of_comments_and_a_document_marker_is_empty_at_line_1():
    from reprogrammability.validate import load_bytes

    result = load_bytes(b"# only a comment\n---\n", "papers.yaml", "papers")
    assert [(p.line, p.col) for p in result.problems] == [(1, 1)]
    assert "the file is empty" in result.problems[0].message


def test_an_empty_tagged_int_is_a_problem_not_a_traceback():
    from reprogrammability.yamlsource import parse_bytes

    result = parse_bytes(b"papers:\n  - year: !!int\n")
    assert [i.line for i in result.issues] == [2]
    assert "cannot read" in result.issues[0].message


def test_config_with_invalid_utf8_is_a_config_error(tmp_path):
    from reference.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_bytes(b"model:\n  name: resnet18\nlr: 0.1 \xf9\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3:1: config: not valid UTF-8 \(byte 0xf9\)"):
        load_config(path)


@pytest.mark.parametrize("text, where", [
    ("model: !custom x\n", ":1:8: model: cannot read this value"),
    ("? [a]\n: 1\n", ":1:3: config: a key must be a plain name"),
    ("lr: 0.1\nlr: 0.2\n", ":2:1: lr: duplicate key (first given at line 1)"),
])
def test_config_values_yaml_cannot_construct_are_config_errors(tmp_path, text, where):
    from reference.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert where in str(info.value)


@pytest.mark.parametrize("override", ["lr=!!int", "lr=!!float x", "lr=[1,"])
def test_bad_override_values_are_config_errors(tmp_path, override):
    from reference.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="--override:1:4: lr: invalid value"):
        load_config(path, [override])


@pytest.mark.parametrize("author", ["c?", "0\U0001F6000%?%9*@", "X~\ufeff\"0", "A: B", "#x"])
def test_appended_authors_read_back_with_both_yaml_readers(tmp_path, author):
    import yaml
    from reprogrammability.yamledit import Database, NewEntry

    path = tmp_path / "papers.yaml"
    path.write_text("papers:\n  - id: a2020x\n    title: \"X\"\n", encoding="utf-8")
    entry = NewEntry(title="T", authors=(author, "Ann Lee"), year=2020, venue="ICLR",
                     url="https://example.org/t")
    new_text, _ = Database.load(path).appended([entry])
    for loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        assert yaml.load(new_text, Loader=loader)["papers"][1]["authors"] == [author, "Ann Lee"]
    assert "[Ann Lee" not in new_text or '"' + author.replace('"', '\\"') in new_text


def test_append_to_a_file_with_an_unreadable_tag_is_a_database_error(tmp_path):
    from reprogrammability.yamledit import Database, DatabaseError, NewEntry

    path = tmp_path / "papers.yaml"
    text = "papers:\n  - id: a2020x\n    title: !Rami x\n"
    path.write_text(text, encoding="utf-8")
    entry = NewEntry(title="T", authors=("A B",), year=2020, venue="ICLR",
                     url="https://example.org/t")
    with pytest.raises(DatabaseError, match=r"papers\.yaml:3: cannot read a value"):
        Database.load(path).appended([entry])
    assert path.read_text(encoding="utf-8") == text


def test_append_after_an_empty_list_item_is_no_value_error(tmp_path):
    from reprogrammability.yamledit import Database, DatabaseError, NewEntry

    path = tmp_path / "papers.yaml"
    path.write_bytes(b"papers:\n  - ")
    entry = NewEntry(title="T", authors=("A B",), year=2020, venue="ICLR",
                     url="https://example.org/t")
    try:
        new_text, _ = Database.load(path).appended([entry])
    except DatabaseError:
        return
    import yaml

    assert yaml.safe_load(new_text)["papers"][-1]["title"] == "T"


def test_markdown_links_are_numbered_by_line_ends_not_by_form_feeds():
    from reprogrammability.links.extract import extract_markdown_text

    text = "a\x0cb \u2028 c\n[x](https://example.org/x)\n"
    (link,) = extract_markdown_text(text, "f.md")
    assert link.line == 2
