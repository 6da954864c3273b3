"""What a hostile contributor found in the curation tools (issue 11), one test per finding.

Each test feeds the tools the input that slipped through before: unreadable databases, outputs
that cannot be written, ids that cannot exist, years written oddly, titles carrying control or
bidirectional characters, URLs that hide a duplicate, and messages that pointed the wrong way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from reprogrammability import arxiv_ids, atomic, cli
from reprogrammability.arxiv import normalize_id
from reprogrammability.bibtex import export_bib
from reprogrammability.papers import Paper
from reprogrammability.validate import load_bytes
from test_validate import entry  # one valid paper's YAML, shared with the validator tests

ROOT = Path(__file__).resolve().parents[1]
VALID_DIR = ROOT / "tests" / "fixtures" / "collections" / "valid"


def messages(*entries: str) -> list[str]:
    text = "papers:\n" + "".join(entries)
    return [p.format() for p in load_bytes(text.encode("utf-8"), "data/papers.yaml").problems]


def one(*entries: str) -> str:
    found = messages(*entries)
    assert len(found) == 1, found
    return found[0]


def valid_tree(tmp_path: Path) -> Path:
    """A copy of the valid collection fixtures; returns the papers file."""
    data = tmp_path / "data"
    shutil.copytree(VALID_DIR, data)
    return data / "papers.yaml"


# --- exit codes: unreadable input is a usage error everywhere ----------------------------------


def _unreadable_inputs(tmp_path: Path) -> dict[str, Path]:
    directory = tmp_path / "adir.yaml"
    directory.mkdir()
    inputs = {"missing": tmp_path / "missing.yaml", "directory": directory}
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        locked = tmp_path / "locked.yaml"
        locked.write_text("papers: []\n", encoding="utf-8")
        locked.chmod(0)
        inputs["unreadable"] = locked
    return inputs


@pytest.mark.parametrize("command", [
    ["build"], ["render"], ["validate"], ["bib", "export", "--out", "-", "--database"],
    ["add", "2101.00001", "--api-url", "http://127.0.0.1:9/api", "--database"],
])
def test_unreadable_database_exits_2_everywhere(command, tmp_path, capsys):
    for what, path in _unreadable_inputs(tmp_path).items():
        argv = [*command, str(path)]
        if command[0] in ("build", "render"):
            argv += ["--root", str(tmp_path / "out")]
        assert cli.main(argv) == 2, (what, command)
        err = capsys.readouterr().err
        assert "cannot read" in err and str(path) in err and "Traceback" not in err, err
        assert not (tmp_path / "out").exists()


# --- outputs: all or nothing --------------------------------------------------------------------


def test_write_files_is_all_or_nothing_when_one_target_is_a_directory(tmp_path):
    first, blocked = tmp_path / "a.txt", tmp_path / "b" / "c.txt"
    first.write_text("old", encoding="utf-8")
    blocked.mkdir(parents=True)
    with pytest.raises(atomic.WriteError) as info:
        atomic.write_files({first: "new", blocked: "text", tmp_path / "z.txt": "z"})
    assert str(info.value).startswith(f"cannot write {blocked}: ")
    assert first.read_text(encoding="utf-8") == "old"
    assert not (tmp_path / "z.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b"]  # no temporary left


def test_write_files_rolls_back_when_a_rename_fails(tmp_path, monkeypatch):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a", encoding="utf-8")
    b.write_text("old b", encoding="utf-8")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if Path(dst) == b and len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(atomic.WriteError, match=f"cannot write {re.escape(str(b))}: "):
        atomic.write_files({a: "new a", b: "new b"})
    assert a.read_text(encoding="utf-8") == "old a"
    assert b.read_text(encoding="utf-8") == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_build_with_an_unwritable_output_changes_nothing_and_exits_2(tmp_path, capsys):
    papers = valid_tree(tmp_path)
    out = tmp_path / "out"
    (out / "docs" / "papers.bib").mkdir(parents=True)  # one output path is a directory
    (out / "README.md").write_text("old readme\n", encoding="utf-8")
    assert cli.main(["build", str(papers), "--root", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {out / 'docs' / 'papers.bib'}: " in err and "Traceback" not in err
    assert (out / "README.md").read_text(encoding="utf-8") == "old readme\n"
    assert not (out / "schema").exists()


def test_bib_export_to_a_directory_exits_2(tmp_path, capsys):
    papers = valid_tree(tmp_path)
    assert cli.main(["bib", "export", "--database", str(papers), "--out", str(tmp_path)]) == 2
    assert f"cannot write {tmp_path}: " in capsys.readouterr().err


# --- BibTeX keys: stable under insertion anywhere -----------------------------------------------


def _paper(i: int) -> Paper:
    return Paper(id=f"elsayed2019adversarial{'bcdefgh'[i - 1] if i else ''}",
                 title=f"Adversarial Work {i}", authors=("Gamaleldin F. Elsayed",), year=2019,
                 venue="ICLR", url=f"https://example.org/{i}", paradigm=("model reprogramming",),
                 configuration=("learnable",), location=("input",), operator=("additive",),
                 alignment=("linear",))


def _keys(text: str) -> list[str]:
    return re.findall(r"^@\w+\{([^,]+),", text, flags=re.MULTILINE)


@pytest.mark.parametrize("position", [0, 1, 2, 3])
def test_bibtex_keys_do_not_change_when_a_namesake_is_inserted_anywhere(position):
    papers = [_paper(i) for i in range(3)]
    before = _keys(export_bib(papers))
    new = _paper(3)
    papers.insert(position, new)
    after = _keys(export_bib(papers))
    assert [k for k in after if k != new.id] == before
    assert after[position] == new.id == "elsayed2019adversariald"


# --- BibTeX import: crossref, CoRR, incomplete author lists -------------------------------------

DBLP = r"""
@inproceedings{DBLP:conf/iclr/ElsayedGS19,
  author    = {Gamaleldin F. Elsayed and Ian J. Goodfellow and Jascha Sohl{-}Dickstein},
  title     = {Adversarial Reprogramming of Neural Networks},
  crossref  = {DBLP:conf/iclr/2019},
  url       = {https://openreview.net/forum?id=Syx\_Ss05tm},
}

@article{DBLP:journals/corr/abs-2202-10629,
  author    = {Pin{-}Yu Chen and others},
  title     = {Model Reprogramming: Resource-Efficient Cross-Domain Machine Learning},
  journal   = {CoRR},
  volume    = {abs/2202.10629},
  year      = {2022},
  url       = {http://arxiv.org/abs/2202.10629v3},
}

@proceedings{DBLP:conf/iclr/2019,
  title     = {7th International Conference on Learning Representations, {ICLR} 2019,
               New Orleans, LA, USA, May 6-9, 2019},
  publisher = {OpenReview.net},
  year      = {2019},
}
"""


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    path = tmp_path / "papers.yaml"
    path.write_text("papers: []\n", encoding="utf-8")
    return path


def test_bib_import_resolves_crossref_maps_corr_and_warns_on_others(empty_db, tmp_path, capsys):
    bib = tmp_path / "dblp.bib"
    bib.write_text(DBLP, encoding="utf-8")
    code = cli.main(["bib", "import", str(bib), "--database", str(empty_db)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "@proceedings" not in err and "cannot map" not in err
    line = DBLP.splitlines().index("@article{DBLP:journals/corr/abs-2202-10629,") + 1
    assert re.search(rf"{re.escape(str(bib))}:{line}: DBLP:journals/corr/abs-2202-10629: .*"
                     r"'and others'.*incomplete", err), err
    text = empty_db.read_text(encoding="utf-8")
    first, second = text.split("\n  - id: ")[1:]
    assert "venue: ICLR" in first and "year: 2019" in first
    assert "url: https://openreview.net/forum?id=Syx_Ss05tm" in first
    assert "venue: arXiv" in second
    assert 'arxiv: "2202.10629"' in second
    assert "url: https://arxiv.org/abs/2202.10629\n" in second


# --- years ---------------------------------------------------------------------------------------


def test_year_beyond_next_year_is_refused():
    next_year = date.today().year + 1
    assert messages(entry(year=str(next_year))) == []
    assert f"year {next_year + 1} is in the future" in one(entry(year=str(next_year + 1)))
    assert "year 2099 is in the future" in one(entry(year="2099"))


@pytest.mark.parametrize("written, advice", [
    ("2019.0", "write year: 2019"), ("0x7E3", "write 2019"), ("03743", "write 2019"),
    ("2_019", "write 2019"), ("+2019", "write 2019"), ("33:39", "write 2019"),
])
def test_year_must_be_written_as_a_plain_integer(written, advice):
    message = one(entry(year=written))
    assert "papers[0].year" in message and advice in message and written in message


def test_resource_years_follow_the_same_rules():
    text = (VALID_DIR / "resources.yaml").read_text(encoding="utf-8")
    year = re.search(r"^\s+year: (\d{4})$", text, flags=re.MULTILINE)
    assert year is not None
    for bad in ("2099", "0x7E3", "2019.0"):
        changed = text[:year.start(1)] + bad + text[year.end(1):]
        found = load_bytes(changed.encode(), "data/resources.yaml", "resources").problems
        assert len(found) == 1 and ".year" in found[0].field, [p.format() for p in found]


# --- arXiv ids: one rule -------------------------------------------------------------------------

IDS = {
    "2506.04650": True, "1809.01829": True, "0704.0001": True, "1412.9999": True,
    "1501.00001": True, "2101.00001v12": True, "cs/0112017": True, "math.GT/0309136v2": True,
    "hep-th/9901001": True,
    "1809.1829": False,  # five digits since 2015
    "1899.01829": False,  # month 99
    "1800.01829": False,  # month 00
    "1412.12345": False,  # five digits only from 1501
    "0703.0001": False,  # new-style ids start in 0704
    "cs/0199017": False,  # month 99 in an old-style id
    "2101.00001v0": False, "2101.00001v": False, "1809": False,
}


@pytest.mark.parametrize("value, ok", IDS.items())
def test_validator_and_repro_add_share_one_arxiv_rule(value, ok):
    assert (arxiv_ids.problem(value) is None) is ok
    assert bool(re.fullmatch(arxiv_ids.PATTERN, value)) is ok
    try:
        normalize_id(value)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is ok
    found = messages(entry(arxiv=f'"{value}"', url="https://example.org/p"))
    assert (found == []) is ok, found


def test_impossible_arxiv_ids_say_why():
    assert "five digits" in one(entry(arxiv='"1809.1829"', url="https://example.org/p"))
    assert "month 99" in one(entry(arxiv='"1899.01829"', url="https://example.org/p"))


def test_an_unquoted_invalid_arxiv_id_is_not_advised_to_be_quoted():
    message = one(entry(arxiv="1809", url="https://example.org/p"))
    assert '"1809"' not in message and "quote it" not in message
    assert "not an arXiv id" in message
    # a valid id YAML read as a number is still advised to be quoted
    message = one(entry(arxiv="2506.04650", url="https://example.org/p"))
    assert 'arxiv: "2506.04650"' in message


# --- titles --------------------------------------------------------------------------------------


@pytest.mark.parametrize("title, reason", [
    ('"Ring \\a the bell"', "control character U+0007"),
    ('"Reprogramming \u202eevil"', "bidirectional"),
    ('" Leading space"', "leading or trailing space"),
    ('"Trailing space "', "leading or trailing space"),
    ('"' + "x" * 10_000 + '"', "longer than"),
])
def test_bad_titles_are_refused(title, reason):
    message = one(entry(title=title))
    assert "papers[0].title" in message and reason in message, message


def test_control_characters_are_refused_in_every_collection_text_field():
    text = (VALID_DIR / "datasets.yaml").read_text(encoding="utf-8")
    name = re.search(r"^\s+name: (.+)$", text, flags=re.MULTILINE)
    assert name is not None
    changed = text[:name.start(1)] + '"CIFAR\\u202e-10"' + text[name.end(1):]
    found = load_bytes(changed.encode(), "data/datasets.yaml", "datasets").problems
    assert any(p.field.endswith(".name") and "bidirectional" in p.message for p in found)


def test_author_names_with_control_characters_are_refused():
    assert "control character" in one(entry(authors='["Ada\\tTsai"]'))


def test_titles_differing_only_in_normalisation_are_duplicates():
    nfc = unicodedata.normalize("NFC", "Réseaux neuronaux reprogrammés")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    message = one(entry(0, title=f'"{nfc}"'), entry(1, title=f'"{nfd}"'))
    assert "duplicate of papers[0]" in message and "same title" in message


# --- URLs ----------------------------------------------------------------------------------------


def test_url_schemes_are_case_insensitive():
    assert messages(entry(url="HTTPS://ARXIV.org/abs/2101.00000")) == []


def test_a_url_that_is_another_papers_arxiv_page_is_a_duplicate():
    message = one(entry(0, arxiv='"1809.01829"', url="https://arxiv.org/abs/1809.01829"),
                  entry(1, arxiv=None, url="https://arxiv.org/abs/1809.01829v2"))
    assert "papers[1].url" in message and "duplicate of papers[0]" in message
    assert "1809.01829" in message


def test_a_url_that_disagrees_with_the_papers_arxiv_id_is_flagged():
    message = one(entry(0, arxiv='"1809.01829"', url="https://arxiv.org/pdf/1809.01830v1"))
    assert "papers[0].url" in message and "1809.01830" in message and "1809.01829" in message
    assert messages(entry(0, arxiv='"1809.01829"', url="https://arxiv.org/abs/1809.01829v3")) \
        == []


# --- messages ------------------------------------------------------------------------------------


def test_a_value_from_another_axis_names_its_axis():
    message = one(entry(location="additive"))
    assert "'additive' is an operator value, not a location value" in message


def test_unknown_field_suggestions_are_only_close_names():
    assert "did you mean" not in one(entry(citations="12"))
    found = messages(entry(autors="[Ada]", authors=None))
    assert any("did you mean 'authors'" in m for m in found), found


def test_an_unknown_option_prints_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "--bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: repro validate" in err and "unrecognized arguments: --bogus" in err


# --- repro add ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["not-a-url", "file:///etc/passwd", "ftp://example.org/api",
                                 "http://"])
def test_add_refuses_an_api_url_that_is_not_http(url, empty_db, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["add", "2101.00001", "--database", str(empty_db), "--api-url", url])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: repro add" in err and "--api-url" in err and "Traceback" not in err


def _withdrawn_server():
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "arxiv"))
    from fake_arxiv import FakeArxiv, load_entries

    entries = load_entries()
    entries["2203.12119"] = entries["2203.12119"].replace(
        ">ECCV 2022<", ">This paper has been withdrawn by the author due to an error<")
    return FakeArxiv(entries=entries)


@pytest.mark.network
def test_add_refuses_a_withdrawn_paper_unless_allowed(empty_db, capsys):
    with _withdrawn_server().start() as server:
        argv = ["add", "2203.12119", "--database", str(empty_db), "--api-url", server.url,
                "--min-interval", "0"]
        assert cli.main(argv) == 1
        err = capsys.readouterr().err
        assert "withdrawn" in err and "--allow-withdrawn" in err
        assert empty_db.read_text(encoding="utf-8") == "papers: []\n"
        assert cli.main([*argv, "--allow-withdrawn"]) == 0
        captured = capsys.readouterr()
        assert "warning" in captured.err and "withdrawn" in captured.err
        assert 'arxiv: "2203.12119"' in empty_db.read_text(encoding="utf-8")


# --- npm: the pinned tools support the node we test with ----------------------------------------


def _version(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))  # type: ignore[return-value]


def _satisfies(version: tuple[int, int, int], comparator: str) -> bool:
    """One npm comparator (``>=20.18.1``, ``^14.13``, ``~1.2``, ``20.x``, ``*``) on ``version``."""
    m = re.fullmatch(r"(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?", comparator)
    if m is None:
        assert comparator in ("*", "x", "X", ""), f"unsupported comparator {comparator!r}"
        return True
    op = m.group(1) or ""
    given = [int(g) for g in m.groups()[1:] if g is not None and g.isdigit()]
    low = tuple(given + [0] * (3 - len(given)))
    if op == "^":  # up to the next change of the left-most non-zero field
        i = next((k for k, v in enumerate(low) if v), len(given) - 1)
        high = tuple(low[:i]) + (low[i] + 1,) + (0,) * (2 - i)
        return low <= version < high
    if op == "~":  # patch-level changes (minor-level when only the major is given)
        high = (low[0] + 1, 0, 0) if len(given) == 1 else (low[0], low[1] + 1, 0)
        return low <= version < high
    if op in ("", "=") and len(given) < 3:  # an x-range: 20, 20.x, 20.1
        high = (low[0] + 1, 0, 0) if len(given) == 1 else (low[0], low[1] + 1, 0)
        return low <= version < high
    return {">=": version >= low, "<=": version <= low, ">": version > low,
            "<": version < low, "=": version == low, "": version == low}[op]


def node_range_ok(version: tuple[int, int, int], spec: str) -> bool:
    """npm's ``engines.node`` semantics: ``||`` alternatives of space-separated comparators."""
    for alternative in spec.split("||"):
        text = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alternative.strip())
        if " - " in text:
            low, high = text.split(" - ")
            text = f">={low} <={high}"
        if all(_satisfies(version, c) for c in text.split()):
            return True
    return False


def test_engine_range_reader():
    assert node_range_ok((20, 20, 2), ">=20.18.1")
    assert not node_range_ok((20, 20, 2), ">=22")
    assert node_range_ok((20, 20, 2), "^12.17.0 || ^14.13 || >=16.0.0")
    assert not node_range_ok((20, 20, 2), "^18.0.0")
    assert node_range_ok((20, 1, 0), "20.x") and not node_range_ok((21, 0, 0), "20.x")
    assert node_range_ok((20, 0, 0), ">= 18 < 21") and not node_range_ok((21, 0, 0), ">=18 <21")


def test_every_locked_npm_package_supports_the_installed_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    version = _version(subprocess.run([node, "--version"], capture_output=True, text=True,
                                      check=True).stdout)
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    refused = {name: meta["engines"]["node"] for name, meta in lock["packages"].items()
               if isinstance(meta.get("engines"), dict) and "node" in meta["engines"]
               and not node_range_ok(version, meta["engines"]["node"])}
    assert refused == {}, f"node {'.'.join(map(str, version))} is refused by {refused}"
