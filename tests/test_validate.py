"""``validate.load``: every problem, with the right message, field, line and column.

Each test writes a tiny YAML database as a string, so the expected position can be found in
the text itself (``_at``) rather than counted by hand.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from reprogrammability import validate
from reprogrammability.papers import Paper
from reprogrammability.taxonomy import AXES, AXES_BY_FIELD, PARADIGM_KEYS
from reprogrammability.validate import Problem, load, load_bytes, report

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "validate"
DATABASE = ROOT / "data" / "papers.yaml"
LOCATION = AXES_BY_FIELD["location"].keys
ALIGNMENT = AXES_BY_FIELD["alignment"].keys


def entry(n: int = 0, drop: tuple[str, ...] = (), **raw: str) -> str:
    """YAML text of one valid entry (unique by ``n``); ``raw`` replaces or adds fields (None, or
    ``drop``, leaves a field out)."""
    fields = {
        "id": f"paper-{n}",
        "title": f'"Paper number {n}"',
        "authors": "[Ada Tsai, Bo Chen]",
        "year": "2021",
        "venue": "ICLR",
        "arxiv": f'"2101.{n:05d}"',
        "url": f"https://arxiv.org/abs/2101.{n:05d}",
        "paradigm": PARADIGM_KEYS[0],
        **{axis.field: axis.keys[0] for axis in AXES},
    }
    fields.update(raw)
    lines = [f"{k}: {v}" for k, v in fields.items() if k not in drop and v is not None]
    return "  - " + "\n    ".join(lines) + "\n"


def db(*entries: str) -> str:
    return "papers:\n" + "".join(entries)


def check(text: str) -> validate.LoadResult:
    return load_bytes(text.encode("utf-8"), "data/papers.yaml")


def problems(text: str) -> list[Problem]:
    return check(text).problems


def only(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, [p.format() for p in found]
    return found[0]


def _at(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, col) of the nth occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# --- valid data -------------------------------------------------------------------------------


def test_valid_fixture_gives_papers_with_lines() -> None:
    path = FIXTURES / "valid.yaml"
    text = path.read_text(encoding="utf-8")
    result = load(path)
    assert result.problems == []
    assert [p.year for p in result.papers] == [2019, 2021, 2021, 2020]
    first, lester, prefix, brown = result.papers
    assert isinstance(first, Paper)
    assert first.location == ("input",) and first.alignment == ("rule-based",)
    assert lester.alignment == ("identity", "rule-based")
    assert lester.authors == ("Brian Lester", "Rami Al-Rfou", "Noah Constant")
    assert brown.paradigm == ("prompt instruction",)
    assert prefix.arxiv == "2101.00190v1" and prefix.code.startswith("https://github.com/")
    assert first.doi is None and first.note is None
    assert first.line == _at(text, "id: elsayed2019adversarial")[0]
    assert lester.lines["alignment"] == _at(text, "alignment: [identity")[0]
    assert lester.line_of("authors") == _at(text, "authors:\n      - Brian")[0]
    assert set(first.lines) == {"id", "title", "authors", "year", "venue", "arxiv", "url",
                                "paradigm", "configuration", "location", "operator",
                                "alignment"}


def test_real_database_is_valid() -> None:
    if not DATABASE.exists():
        pytest.skip("data/papers.yaml is not written yet")
    result = load(DATABASE)
    assert [p.format() for p in result.problems] == []
    assert result.papers and all(p.line > 0 for p in result.papers)
    lines = [p.line for p in result.papers]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)


def test_empty_papers_list_is_valid() -> None:
    assert check("papers: []\n").problems == []


def test_tag_lists_and_single_values_both_become_tuples() -> None:
    result = check(db(entry(alignment=f"[{ALIGNMENT[0]}, {ALIGNMENT[1]}]")))
    assert result.problems == []
    (paper,) = result.papers
    assert paper.alignment == ALIGNMENT[:2]
    assert paper.location == (LOCATION[0],)
    assert paper.authors == ("Ada Tsai", "Bo Chen") and paper.year == 2021


# --- tag values ---------------------------------------------------------------------------------


def test_unknown_tag_value_with_did_you_mean() -> None:
    text = db(entry(location="imput"))
    p = only(text)
    assert (p.line, p.col) == _at(text, "imput")
    assert p.field == "papers[0].location"
    assert p.message == (f"'imput' is not a location value; did you mean 'input'? "
                         f"(expected one of {', '.join(LOCATION)})")
    assert p.format() == f"data/papers.yaml:{p.line}:{p.col}: papers[0].location: {p.message}"


def test_unknown_value_without_close_match_names_the_allowed_values() -> None:
    p = only(db(entry(operator="multiplicative-ish")))
    assert "did you mean" not in p.message
    assert "expected one of " + ", ".join(AXES_BY_FIELD["operator"].keys) in p.message


def test_wrong_case_and_hyphenation_are_recognised() -> None:
    assert "did you mean 'input'" in only(db(entry(location="Input"))).message
    p = only(db(entry(paradigm="model-reprogramming")))
    assert "did you mean 'model reprogramming'" in p.message and "paradigm" in p.message


def test_unknown_value_inside_a_list_points_at_the_item() -> None:
    text = db(entry(alignment="[linear, statistcal]"))
    p = only(text)
    assert p.field == "papers[0].alignment[1]"
    assert (p.line, p.col) == _at(text, "statistcal")
    assert "did you mean 'statistical'" in p.message


def test_repeated_tag_value_in_a_list() -> None:
    text = db(entry(alignment="[linear, statistical, linear]"))
    p = only(text)
    assert p.field == "papers[0].alignment[2]"
    assert (p.line, p.col) == _at(text, "linear", 1)
    first_line, first_col = _at(text, "linear")
    assert f"'linear' is repeated in alignment (first at line {first_line}, column {first_col})" \
        in p.message


def test_empty_tag_list_and_missing_value() -> None:
    found = problems(db(entry(alignment="[]", operator="")))
    assert {p.field: p.message.split(" (")[0] for p in found} == {
        "papers[0].alignment": "alignment must list at least one value",
        "papers[0].operator": "operator is empty",
    }


# --- fields -----------------------------------------------------------------------------------


def test_missing_required_field_points_at_the_entry() -> None:
    text = db(entry(), entry(1, drop=("venue",)))
    p = only(text)
    assert p.field == "papers[1].venue"
    assert (p.line, p.col) == _at(text, "id: paper-1")
    assert p.message == "missing required field 'venue'"


def test_unknown_field_with_did_you_mean_at_the_key() -> None:
    text = db(entry(drop=("location",), locaton="input"))
    found = {p.field: p for p in problems(text)}
    assert set(found) == {"papers[0].locaton", "papers[0].location"}
    typo = found["papers[0].locaton"]
    assert (typo.line, typo.col) == _at(text, "locaton")
    assert typo.message.startswith("unknown field 'locaton'; did you mean 'location'?")
    assert "(is 'locaton' a typo?)" in found["papers[0].location"].message


def test_unquoted_arxiv_id_that_lost_digits() -> None:
    text = db(entry(arxiv="2506.00620"))
    p = only(text)
    assert p.field == "papers[0].arxiv"
    assert (p.line, p.col) == _at(text, "2506.00620")
    assert "YAML read the unquoted 2506.00620 as the number 2506.0062" in p.message
    assert 'quote it: arxiv: "2506.00620"' in p.message


def test_unquoted_arxiv_id_read_as_integer() -> None:
    # No arXiv id is a bare integer, so quoting it would not help; say so instead (issue 11).
    p = only(db(entry(arxiv="1234")))
    assert "as the number 1234" in p.message and "is not an arXiv id" in p.message
    assert 'arxiv: "1234"' not in p.message


@pytest.mark.parametrize("raw, hint", [
    ('"2506.4650x"', None),
    ('"arXiv:2506.04650"', 'write the id only: arxiv: "2506.04650"'),
    ('"https://arxiv.org/abs/2506.04650v3"', 'write the id only: arxiv: "2506.04650v3"'),
    ('"cs/011201"', None),
])
def test_malformed_arxiv_ids(raw: str, hint: str | None) -> None:
    text = db(entry(arxiv=raw))
    p = only(text)
    assert p.field == "papers[0].arxiv" and (p.line, p.col) == _at(text, raw)
    assert "is not an arXiv id" in p.message and '"cs/0112017"' in p.message
    if hint:
        assert hint in p.message


@pytest.mark.parametrize("raw", ['"cs/0112017"', '"math.GT/0309136v2"', '"2506.04650v2"',
                                 '"1412.6980"'])
def test_old_style_and_versioned_arxiv_ids_are_valid(raw: str) -> None:
    # the url is no arXiv page, so it cannot disagree with the id
    assert problems(db(entry(arxiv=raw, url="https://example.org/paper"))) == []


def test_year_as_string() -> None:
    text = db(entry(year='"2021"'))
    p = only(text)
    assert p.field == "papers[0].year" and (p.line, p.col) == _at(text, '"2021"')
    assert "YAML read the string '2021'; write year: 2021 without quotes" in p.message


def test_year_as_date() -> None:
    text = db(entry(year="2021-05-01"))
    p = only(text)
    assert (p.line, p.col) == _at(text, "2021-05-01")
    assert p.message == ("year must be the year only, but YAML read the date 2021-05-01; "
                         "write year: 2021")


def test_year_out_of_range_and_fractional() -> None:
    assert "outside" in only(db(entry(year="20211"))).message
    assert "must be an integer" in only(db(entry(year="2021.5"))).message


def test_unquoted_date_in_a_text_field() -> None:
    text = db(entry(note="2021-05-01"))
    p = only(text)
    assert p.field == "papers[0].note" and (p.line, p.col) == _at(text, "2021-05-01")
    assert "as the date 2021-05-01" in p.message and 'quote it: note: "2021-05-01"' in p.message


def test_yaml_booleans_and_nulls_in_text_fields() -> None:
    assert "as the boolean true" in only(db(entry(venue="yes"))).message
    assert only(db(entry(title="~"))).message == "title is empty (required)"


def test_authors_problems() -> None:
    assert "must be a list" in only(db(entry(authors="Ada Tsai, Bo Chen"))).message
    assert "at least one author" in only(db(entry(authors="[]"))).message
    text = db(entry(authors='[Ada Tsai, "  ", 42]'))
    found = problems(text)
    assert [(p.field, (p.line, p.col)) for p in found] == [
        ("papers[0].authors[1]", _at(text, '"  "')),
        ("papers[0].authors[2]", _at(text, "42")),
    ]
    assert found[1].message.startswith("author 3 must be a quoted string")


def test_url_doi_and_blank_title() -> None:
    assert "not an http(s) URL" in only(db(entry(url="arxiv.org/abs/1"))).message
    p = only(db(entry(doi="https://doi.org/10.1145/3292500")))
    assert "write the DOI only, without a resolver prefix: doi: 10.1145/3292500" in p.message
    assert only(db(entry(title='"   "'))).message == "title must not be blank"


# --- duplicates ------------------------------------------------------------------------------


def test_duplicate_arxiv_id_ignoring_version() -> None:
    text = db(entry(0), entry(1),
              entry(2, arxiv='"2101.00000v2"', url="https://arxiv.org/abs/2101.00000v2"))
    p = only(text)
    assert p.field == "papers[2].arxiv" and (p.line, p.col) == _at(text, '"2101.00000v2"')
    first_line = _at(text, "id: paper-0")[0]
    assert p.message.startswith(f"duplicate of papers[0] at line {first_line} (Paper number 0)")
    assert "same arXiv id 2101.00000" in p.message


def test_duplicate_doi_case_insensitive() -> None:
    text = db(entry(0, doi="10.1000/ABC"), entry(1, doi="10.1000/abc"))
    p = only(text)
    assert p.field == "papers[1].doi" and "same DOI" in p.message
    assert (p.line, p.col) == _at(text, "10.1000/abc")


def test_duplicate_title_after_normalisation() -> None:
    text = db(entry(0, title='"Visual Prompting: a survey"'),
              entry(1, title='"visual prompting  -- A Survey!"'))
    p = only(text)
    assert p.field == "papers[1].title" and "same title" in p.message
    assert p.line == _at(text, "visual prompting  --")[0]


def test_duplicate_url_ignoring_host_case_and_trailing_slash() -> None:
    text = db(entry(0, url="https://github.com/org/Repo"),
              entry(1, url="https://GitHub.com/org/Repo/"))
    p = only(text)
    assert p.field == "papers[1].url" and "same URL" in p.message
    assert (p.line, p.col) == _at(text, "https://GitHub.com/org/Repo/")
    # The path stays case-sensitive: these are two different pages.
    assert not problems(db(entry(0, url="https://x.org/A"), entry(1, url="https://x.org/a")))


def test_one_report_for_a_paper_duplicated_several_ways() -> None:
    text = db(entry(0, doi="10.1000/x"), entry(0, doi="10.1000/x"))
    p = only(text)
    assert "same arXiv id 2101.00000 and same DOI and same title and same URL" in p.message
    result = check(text)
    assert len(result.papers) == 2  # each entry is valid on its own; build refuses anyway


# --- reading problems ------------------------------------------------------------------------


def test_duplicate_keys_name_both_lines() -> None:
    text = db(entry(location="input\n    location: hidden"))
    p = only(text)
    first, second = _at(text, "location: input")[0], _at(text, "location: hidden")[0]
    assert p.field == "papers[0].location"
    assert (p.line, p.col) == _at(text, "location: hidden")
    assert f"first at line {first}, again at line {second}" in p.message
    assert check(text).papers == []  # not valid on its own


def test_anchors_and_aliases_are_refused_where_written() -> None:
    text = db(entry(0, venue="&v ICLR"), entry(1, venue="*v"))
    found = problems(text)
    assert [(p.field, (p.line, p.col)) for p in found] == [
        ("papers[0].venue", _at(text, "&v")),
        ("papers[1].venue", _at(text, "*v")),
    ]
    assert "anchors (&v) are not allowed" in found[0].message
    assert "aliases (*v) are not allowed" in found[1].message


def test_alias_bomb_is_not_expanded() -> None:
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(rows) + "\n"  # 9**9 (387 million) strings if expanded
    found = problems(text)
    aliases = [p for p in found if "aliases" in p.message]
    assert len(aliases) == 8 * 9
    assert (aliases[0].line, aliases[0].col) == _at(text, "*a")


def test_malformed_yaml_reports_the_parser_position() -> None:
    text = "papers:\n  - title: [unclosed\n    year: 2021\n"
    p = only(text)
    assert p.message.startswith("invalid YAML: ")
    assert p.line >= 2 and p.field == ""
    assert "flow sequence started at line 2" in p.message


def test_tab_indentation_hint() -> None:
    p = only("papers:\n\t- title: x\n")
    assert (p.line, p.col) == (2, 1) and "never tabs" in p.message


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("# nothing but a comment\n", "the file is empty"),
    ("- title: x\n", "the top level must be a mapping with a 'papers' list, not a list"),
    ("title: x\n", "missing the 'papers' list"),
    ("papers:\n", "papers must be a list of entries"),
    ("papers: {title: x}\n", "papers must be a list of entries ('- id: ...'), not a mapping"),
])
def test_wrong_top_level(text: str, message: str) -> None:
    assert any(message in p.message for p in problems(text)), [p.format() for p in problems(text)]


def test_top_level_typo() -> None:
    p = only("paper:\n  - title: x\n")
    assert p.field == "paper" and "did you mean 'papers'?" in p.message


def test_entry_that_is_not_a_mapping() -> None:
    text = db(entry(0), "  - just a title\n", entry(2))
    result = check(text)
    p = only(text)
    assert p.field == "papers[1]" and (p.line, p.col) == _at(text, "just a title")
    assert [paper.title for paper in result.papers] == ["Paper number 0", "Paper number 2"]


def test_unsupported_tags() -> None:
    text = db(entry(note="!!python/object:os.system x"))
    p = only(text)
    assert p.field == "papers[0].note" and "unsupported YAML tag !!python/object:os.system" \
        in p.message


def test_impossible_date_and_huge_number_do_not_crash() -> None:
    assert "cannot make one of it" in only(db(entry(note="2021-02-30"))).message
    assert "too large" in only(db(entry(note="0x" + "f" * 5000))).message


def test_deep_nesting_does_not_crash() -> None:
    deep = "[" * 990 + "]" * 990
    found = problems(db(entry(location=deep)))
    assert [p.field for p in found] == ["papers[0].location[0]"]
    assert problems(db(entry(location="[" * 2000 + "]" * 2000)))[0].message.startswith(
        "invalid YAML: exceeded maximum nesting depth")


def test_invalid_utf8_and_control_characters() -> None:
    result = load_bytes(b'papers:\n  - title: "caf\xe9"\n', "p.yaml")
    (p,) = result.problems
    assert (p.line, p.col) == (2, 16) and "not valid UTF-8" in p.message
    text = 'papers:\n  - title: "é\x07"\n'
    p = only(text)
    assert (p.line, p.col) == _at(text, "\x07") and "U+0007" in p.message


def test_unreadable_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    result = load(tmp_path / "absent.yaml")
    assert result.papers == []
    (p,) = result.problems
    assert p.line == 0 and "cannot read the file" in p.message
    assert p.format().startswith(f"{tmp_path / 'absent.yaml'}: cannot read")


# --- everything at once ------------------------------------------------------------------------


def test_every_problem_is_reported_in_file_order() -> None:
    text = db(
        entry(0, location="imput", year='"2021"'),
        entry(1),
        entry(2, arxiv="2506.00620", drop=("venue",), extra="1"),
        entry(3, title='"Paper number 1"', alignment="[linear, linear]"),
        "  - 42\n",
        entry(5, operator="*x"),
    )
    found = problems(text)
    assert [p.field for p in found] == [
        "papers[0].year", "papers[0].location",
        "papers[2].venue", "papers[2].arxiv", "papers[2].extra",
        "papers[3].title", "papers[3].alignment[1]",
        "papers[4]",
        "papers[5].operator",
    ]
    assert [(p.line, p.col) for p in found] == sorted((p.line, p.col) for p in found)
    assert (found[0].line, found[0].col) == _at(text, '"2021"')
    assert (found[5].line, found[5].col) == _at(text, '"Paper number 1"', 1)
    # only the entries without problems become papers
    assert [p.title for p in check(text).papers] == ["Paper number 1"]
    assert validate.summary(found) == "9 problems in 5 papers"


def test_fast_path_never_calls_jsonschema_for_valid_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.synthetic import make_synthetic_yaml

    _, accept = validate._validators()

    class Boom:
        def iter_errors(self, _entry: object) -> None:
            raise AssertionError("jsonschema ran on a valid entry")

    monkeypatch.setattr(validate, "_validators", lambda *_: (Boom(), accept))
    result = check(make_synthetic_yaml(300))
    assert result.problems == [] and len(result.papers) == 300
    with pytest.raises(AssertionError, match="jsonschema ran"):
        check(db(entry(location="imput")))


# --- output ----------------------------------------------------------------------------------


def test_annotation_escapes_workflow_command_characters() -> None:
    p = Problem("data/a,b:c.yaml", 3, 7, "papers[1].note", "50% done\r\nnext: a, b")
    assert p.annotation() == (
        "::error file=data/a%2Cb%3Ac.yaml,line=3,col=7,title=papers[1].note::"
        "50%25 done%0D%0Anext: a, b"
    )
    whole_file = Problem("p.yaml", 0, 0, "", "cannot read the file: denied")
    assert whole_file.annotation() == "::error file=p.yaml,title=p.yaml::cannot read the " \
        "file: denied"


def test_report_sorts_summarises_and_annotates(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [
        Problem("p.yaml", 9, 5, "papers[1].year", "b", entry=1),
        Problem("p.yaml", 2, 3, "papers[0].title", "a", entry=0),
        Problem("p.yaml", 1, 1, "", "c"),
    ]
    out = io.StringIO()
    report(found, out, github=False)
    assert out.getvalue().splitlines() == [
        "p.yaml:1:1: c",
        "p.yaml:2:3: papers[0].title: a",
        "p.yaml:9:5: papers[1].year: b",
        "3 problems in 2 papers, 1 outside any paper",
    ]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = io.StringIO()
    report(found, out)
    assert "::error file=p.yaml,line=2,col=3,title=papers[0].title::a" in out.getvalue()
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    out = io.StringIO()
    report(found, out)
    assert "::error" not in out.getvalue()
    out = io.StringIO()
    report(found[:1], out, github=True)
    assert out.getvalue().splitlines()[-1] == "1 problem in 1 paper"


# --- agreement and robustness ------------------------------------------------------------------

_SNIPPETS = [
    '"x"', "x", "2021", '"2021"', "2021-05-01", "[]", "[a, b]", "~", "yes", "1.5", "{a: 1}",
    "https://x.org/a", '"2101.00001v2"', "2101.00001", '"cs/0112017"', "10.1234/x", "[[]]",
    '"  "', "[Ada, Ada]", *PARADIGM_KEYS[:1], *(a.keys[0] for a in AXES),
    f"[{LOCATION[0]}, {LOCATION[1]}]", f"[{LOCATION[0]}, {LOCATION[0]}]", "[input, 3]",
]


def test_problems_exactly_when_jsonschema_rejects() -> None:
    """Over random entries, the detailed checks agree with the schema, entry by entry."""
    import random

    import yaml
    from jsonschema import Draft202012Validator
    from reprogrammability.schema import FIELDS, paper_schema

    schema_validator = Draft202012Validator(paper_schema())
    rng = random.Random(11)
    names = [*FIELDS, "extra"]
    for _ in range(400):
        changes = {rng.choice(names): rng.choice(_SNIPPETS) for _ in range(rng.randint(1, 3))}
        drop = tuple(rng.sample(names, 1)) if rng.random() < 0.2 else ()
        text = db(entry(drop=drop, **changes))
        result = check(text)
        valid = schema_validator.is_valid(yaml.safe_load(text)["papers"][0])
        assert (not result.problems) == valid, (text, [p.format() for p in result.problems])
        assert len(result.papers) == int(valid)


def test_mangled_files_never_crash() -> None:
    """Random edits of a valid file: always problems with sane positions, never an exception."""
    import random

    base = (FIXTURES / "valid.yaml").read_bytes()
    alphabet = b" \n\t:-[]{},#&*!|>'\"%@`?0123456789.abcT~\xc3\xa9\x00\x07\r"
    rng = random.Random(5)
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            if rng.random() < 0.5:
                del data[pos]
            else:
                data.insert(pos, rng.choice(alphabet))
        result = load_bytes(bytes(data), "f.yaml")
        last_line = data.count(b"\n") + 2
        for p in result.problems:
            assert 1 <= p.line <= last_line and p.col >= 1, p
            assert p.format().startswith(f"f.yaml:{p.line}:{p.col}: ")
