"""The comment-preserving append behind ``repro add`` and ``repro bib import``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from reprogrammability.yamledit import (
    Database,
    DatabaseError,
    NewEntry,
    entry_values,
    inserted_block,
    render_entries,
)

ENTRY = NewEntry(title='Prompting: a "Survey" #1', authors=("Ada Lovelace", "No", "O'Neil, J."),
                 year=2024, venue="2021", url="https://arxiv.org/abs/2401.00001",
                 arxiv="2401.00001", doi="10.1000/x_y")


def db_from(tmp_path: Path, text: str, name: str = "papers.yaml") -> Database:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return Database.load(path)


def test_rendered_entries_read_back_as_the_intended_values():
    text = render_entries([ENTRY])
    assert text.startswith('  - title: "Prompting: a \\"Survey\\" #1"\n')
    # YAML 1.1 would read an author "No" as false and a venue "2021" as a number: quoted.
    assert "    authors: [Ada Lovelace, \"No\", \"O'Neil, J.\"]\n" in text
    assert '    venue: "2021"\n' in text and '    arxiv: "2401.00001"\n' in text
    (value,) = yaml.safe_load(text)
    assert value == entry_values(ENTRY)
    assert list(value) == ["title", "authors", "year", "venue", "arxiv", "doi", "url", "paradigm",
                           "configuration", "location", "operator", "alignment"]


def test_identities_read_scalars_as_written(tmp_path):
    db = db_from(tmp_path, "papers:\n"
                           "  - title: One\n    arxiv: 2109.01130\n    doi: HTTPS://doi.org/10.1/AB\n"
                           "  - title: \"Two\"\n    arxiv: 'hep-th/9901001v2'\n")
    one, two = db.entries
    assert (one.line, one.arxiv, one.doi) == (2, "2109.01130", "10.1/ab")  # not the float 2109.0113
    assert (two.line, two.title, two.arxiv) == (5, "Two", "hep-th/9901001")
    dup = NewEntry(title="x", authors=(), year=1, venue="v", url="u", doi="10.1/ab")
    assert db.duplicate_of(dup) == f"already in {db.path}:2 (same DOI 10.1/ab)"
    assert db.duplicate_of(NewEntry(title="  t-w-o ", authors=(), year=1, venue="v", url="u")) \
        == f"already in {db.path}:5 (same title)"


@pytest.mark.parametrize("header", ["papers:\n", "papers: []\n", "papers: ~   # none yet\n",
                                    "# top\npapers:\n\n# the end\n"])
def test_append_to_an_empty_list(tmp_path, header):
    db = db_from(tmp_path, header)
    new_text, lines = db.appended([ENTRY])
    with_id = replace(ENTRY, id="lovelace2024prompting")
    assert yaml.safe_load(new_text)["papers"] == [entry_values(with_id)]
    assert new_text.splitlines()[lines[0] - 1] == "  - id: lovelace2024prompting"
    assert "# none yet" in new_text if "none yet" in header else True


def test_crlf_files_stay_crlf(tmp_path):
    db = db_from(tmp_path, "papers:\r\n  - title: One\r\n    year: 2020\r\n")
    new_text, _ = db.appended([ENTRY])
    assert new_text.startswith("papers:\r\n  - title: One\r\n    year: 2020\r\n  - id:")
    assert "\n" not in new_text.replace("\r\n", "")


def test_a_block_scalar_at_the_end_keeps_its_value(tmp_path):
    text = ("papers:\n  - title: One\n    note: |\n      line one\n      line two\n\n"
            "# closing remark\n")
    db = db_from(tmp_path, text)
    new_text, _ = db.appended([ENTRY])
    papers = yaml.safe_load(new_text)["papers"]
    assert papers[0]["note"] == "line one\nline two\n"
    assert new_text.endswith("\n# closing remark\n")


def test_a_keep_chomped_scalar_is_not_corrupted(tmp_path):
    # |+ keeps trailing blank lines in the value; inserting after them must not change it.
    text = "papers:\n  - title: One\n    note: |+\n      kept\n\n\n"
    db = db_from(tmp_path, text)
    new_text, _ = db.appended([ENTRY])
    assert yaml.safe_load(new_text)["papers"][0] == yaml.safe_load(text)["papers"][0]


def test_flow_lists_and_non_lists_are_refused_clearly(tmp_path):
    db = db_from(tmp_path, "papers: [{title: One}]\n")
    with pytest.raises(DatabaseError, match=r"papers\.yaml:1: papers: is a \[flow, list\]"):
        db.appended([ENTRY])
    with pytest.raises(DatabaseError, match=r"b\.yaml:1: papers: must be a list"):
        db_from(tmp_path, "papers: 3\n", "b.yaml")
    with pytest.raises(DatabaseError, match="papers: missing"):
        db_from(tmp_path, "other: []\n", "c.yaml")
    with pytest.raises(DatabaseError, match="the file is empty"):
        db_from(tmp_path, "# nothing\n", "d.yaml")
    with pytest.raises(DatabaseError, match=r"e\.yaml:3: invalid YAML: did not find expected"):
        db_from(tmp_path, "papers:\n  - title: [\n", "e.yaml")


def test_inserted_block_is_the_difference():
    old = "a\nb\nc\n"
    new = "a\nb\nX\nY\nc\n"
    assert inserted_block(new, old) == "X\nY\n"
    assert inserted_block("a\nb\nc\nZ\n", old) == "Z\n"
