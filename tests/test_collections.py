"""Every collection through the same checks: specs, fixtures, references, ids, rendering, CLI.

The fixtures in ``tests/fixtures/collections`` (see its README) hold one valid and one invalid
file per collection. An invalid file marks each line that must be reported with
``# ERROR: <part of the message>``, so the expected problems sit next to the YAML that causes
them and every collection runs through the same parametrised tests.
"""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from reprogrammability import cli, taxonomy
from reprogrammability.bibtex import export_bib, new_id
from reprogrammability.collections import (
    BY_NAME,
    COLLECTIONS,
    DATASETS,
    PAPERS,
    RESULTS,
    Catalog,
    name_key,
)
from reprogrammability.papers import DomainPair, Paper
from reprogrammability.records import Dataset, Resource, Result, Tool
from reprogrammability.render import render_outputs
from reprogrammability.schema import compile_checker
from reprogrammability.validate import load, load_bytes, load_collections

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "collections"
VALID, INVALID = FIXTURES / "valid", FIXTURES / "invalid"
NAMES = [c.name for c in COLLECTIONS]
RECORDS = {"papers": Paper, "datasets": Dataset, "tools": Tool, "resources": Resource,
           "results": Result}


def _file(c) -> str:
    return Path(c.file).name


def _valid_bytes(except_: str | None = None) -> dict[str, bytes]:
    return {c.name: (VALID / _file(c)).read_bytes() for c in COLLECTIONS if c.name != except_}


def _expected(text: str) -> dict[int, list[str]]:
    """Line -> the message parts its ``# ERROR:`` comment demands."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if "# ERROR:" in line:
            out[number] = [part.strip() for part in line.split("# ERROR:", 1)[1].split(" | ")]
    return out


# --- the specs ------------------------------------------------------------------------------


def test_every_collection_is_a_complete_spec() -> None:
    assert NAMES == ["papers", "datasets", "tools", "resources", "results"]
    for c in COLLECTIONS:
        assert c.file == f"data/{c.name}.yaml" and c.key == c.name
        assert c.record is RECORDS[c.name] and c.make == c.record.from_entry
        assert c.schema_path == f"schema/{c.name}.schema.json"
        names = c.field_names()
        assert len(set(names)) == len(names)
        assert c.label_field in names and all(path[0] in names for path in c.link_fields)
        assert {d.field for d in c.duplicates} <= set(names)
        assert set(c.references.values()) <= set(NAMES)
        # "id" is the first field of every collection that has one, and always required
        if "id" in names:
            assert names[0] == "id" and c.fields()[0].required
    assert PAPERS.required and not any(c.required for c in COLLECTIONS[1:])
    assert PAPERS.references == {"datasets": "datasets"}
    assert RESULTS.references == {"paper": "papers", "dataset": "datasets"}
    assert DATASETS.references == {"members": "datasets"}
    assert BY_NAME["tools"].references == {"implements": "papers"}


def test_vocabularies_match_formats() -> None:
    assert [(d.key, d.label) for d in taxonomy.DOMAINS] == [
        ("image", "image"), ("text", "text"), ("audio", "speech/audio"),
        ("time-series", "time-series"), ("graph", "graph"), ("molecule", "molecule/protein"),
        ("tabular", "tabular"), ("video", "video"), ("3d", "3-D"), ("multimodal", "multimodal"),
    ]
    names = taxonomy.BACKBONE_NAMES
    assert len(set(names)) == len(names)
    for name in ("ResNet-18", "ViT-B/16", "CLIP ViT-L/14", "T5-XXL", "GPT-J 6B", "LLaVA",
                 "wav2vec 2.0", "MAE-VQGAN", "Wide ResNet-50-2"):
        assert name in names
    assert all(b.modality in taxonomy.DOMAIN_KEYS for b in taxonomy.BACKBONES)
    metrics = taxonomy.METRICS_BY_NAME
    for name in ("top-1 accuracy", "accuracy", "F1", "mIoU", "exact match", "AUROC"):
        assert (metrics[name].minimum, metrics[name].maximum) == (0, 100)
        assert metrics[name].higher_is_better
    assert metrics["MSE"].maximum is None and not metrics["MSE"].higher_is_better
    assert metrics["MSE"].range_text == ">= 0" and metrics["F1"].range_text == "[0, 100]"


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_and_enums_come_from_taxonomy(name: str) -> None:
    c = BY_NAME[name]
    schema = c.schema()
    Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    assert defs[c.singular]["additionalProperties"] is False
    assert list(defs[c.singular]["properties"]) == list(c.field_names())
    if "domain" in defs:
        assert defs["domain"]["enum"] == list(taxonomy.DOMAIN_KEYS)
    if "backbone" in defs:
        assert defs["backbone"]["enum"] == list(taxonomy.BACKBONE_NAMES)
    if "metric" in defs:
        assert defs["metric"]["enum"] == list(taxonomy.METRIC_NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_schema_file_is_fresh(name: str) -> None:
    c = BY_NAME[name]
    assert (ROOT / c.schema_path).read_text(encoding="utf-8") == c.schema_json(), (
        f"{c.schema_path} is stale: run `repro build`")


# --- valid and invalid fixtures ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_valid_fixture(name: str) -> None:
    c = BY_NAME[name]
    path = VALID / _file(c)
    result = load(path)
    assert [p.format() for p in result.problems] == []
    assert result.records and all(isinstance(r, c.record) for r in result.records)
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))[c.key]
    assert len(result.records) == len(entries)
    text = path.read_text(encoding="utf-8")
    starts = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("  - ")]
    assert [r.line for r in result.records] == starts
    ids = [r.id for r in result.records]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[a-z][a-z0-9-]*", i) for i in ids)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_fixture_reports_each_marked_line(name: str) -> None:
    c = BY_NAME[name]
    text = (INVALID / _file(c)).read_text(encoding="utf-8")
    result = load_bytes(text.encode("utf-8"), c.file, others=_valid_bytes(name))
    expected = _expected(text)
    assert expected, "the invalid fixture marks no line"
    found: dict[int, list[str]] = {}
    for p in result.problems:
        assert p.path == c.file and p.field.startswith(f"{c.key}[")
        found.setdefault(p.line, []).append(p.message)
    report = "\n".join(p.format() for p in result.problems)
    assert sorted(found) == sorted(expected), report
    for line, parts in expected.items():
        assert len(found[line]) == len(parts), (line, found[line])
        for part in parts:
            assert any(part in message for message in found[line]), (line, part, found[line])


def test_collections_load_together_into_a_catalog() -> None:
    loaded = load_collections(VALID / "papers.yaml")
    assert loaded.problems == [] and loaded.unreadable == []
    catalog = loaded.catalog
    assert [len(catalog[n]) for n in NAMES] == [2, 3, 1, 2, 2]
    elsayed = catalog.papers[0]
    assert elsayed.domain == DomainPair(("image",), ("image",))
    assert elsayed.backbones == ("Inception-v3", "ResNet-50")
    assert elsayed.datasets == ("mnist", "cifar10")
    assert catalog.papers[1].domain.target == ("text", "multimodal")
    suite = catalog.datasets[2]
    assert suite.kind == "suite" and suite.members == ("mnist", "cifar10")
    first, second = catalog.results
    assert first.cell.combination() in set(elsayed.combinations())
    assert first.source.kind == "reported" and first.source.where == "Table 1"
    assert second.shots == 16 and second.source.date == "2025-01-31"
    assert second.source.commit == "0123abc" and first.params == 100000.0
    assert first.note == "The row of the shape-only fixture table." and second.note is None
    assert first.id == "elsayed2019adversarial-ar-resnet-50-mnist-test-full-top-1-accuracy-reported"
    assert catalog.tools[0].implements == ("elsayed2019adversarial", "lester2021power")
    assert [r.level for r in catalog.resources] == [1, 2]


def test_missing_optional_files_are_empty_collections(tmp_path: Path) -> None:
    shutil.copy(VALID / "papers.yaml", tmp_path / "papers.yaml")
    text = (tmp_path / "papers.yaml").read_text(encoding="utf-8")
    (tmp_path / "papers.yaml").write_text(text.replace("    datasets: [mnist, cifar10]\n", ""),
                                          encoding="utf-8")
    loaded = load_collections(tmp_path / "papers.yaml")
    assert loaded.problems == []
    assert len(loaded.catalog.papers) == 2 and loaded.catalog.datasets == ()
    assert set(loaded.results) == set(NAMES)


def test_a_reference_into_an_absent_collection_says_so(tmp_path: Path) -> None:
    shutil.copy(VALID / "papers.yaml", tmp_path / "papers.yaml")
    p, cifar = load(tmp_path / "papers.yaml").problems
    assert (p.field, cifar.field) == ("papers[0].datasets[0]", "papers[0].datasets[1]")
    assert p.message == ("'mnist' is not a dataset id: data/datasets.yaml has no entries yet; "
                         "add it there first")
    text = (tmp_path / "papers.yaml").read_text(encoding="utf-8")
    assert (p.line, p.col) == (text[:text.index("[mnist")].count("\n") + 1,
                               text.split("\n")[p.line - 1].index("mnist") + 1)


def test_one_file_resolves_against_the_files_beside_it(tmp_path: Path) -> None:
    for c in COLLECTIONS:
        shutil.copy(VALID / _file(c), tmp_path / _file(c))
    assert load(tmp_path / "results.yaml").problems == []
    (tmp_path / "papers.yaml").unlink()  # results alone: every paper id dangles
    problems = load(tmp_path / "results.yaml").problems
    assert [p.field for p in problems] == ["results[0].paper", "results[1].paper"]


def test_results_whose_ids_would_collide_are_duplicates() -> None:
    text = (VALID / "results.yaml").read_text(encoding="utf-8")
    first = text[text.index("  - paper:"):text.index("\n\n  - paper:") + 1]
    again = first.replace("method: AR\n", "method: ar\n").replace("Table 1", "Table 9")
    result = load_bytes(f"results:\n{first}\n{again}".encode(), "data/results.yaml",
                        others=_valid_bytes("results"))
    (p,) = result.problems
    assert p.field == "results[1].paper" and "duplicate of results[0] at line 2" in p.message


def test_unicode_names_are_duplicates_after_nfkc_and_case_folding() -> None:
    assert name_key("ＣＩＦＡＲ－10") == name_key("cifar 10") == "cifar10"
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("") is None and name_key(3) is None


# --- agreement with the schema --------------------------------------------------------------

_BAD = [None, True, 0, -1, 1.5, "", " ", "x", "Not A Slug", [], ["x", "x"], [None], [[]], {},
        {"a": 1}, "https://x.org", "2021", 2021, "full", 101, "image", "ResNet-50"]


#: Fields whose values cross-file references and rules also judge, beyond the schema.
_RULED = {"papers": {"datasets"}, "datasets": {"id", "kind", "members"}, "tools": {"implements"},
          "resources": set(), "results": {"paper", "dataset", "cell", "metric", "value"}}


@pytest.mark.parametrize("name", NAMES)
def test_detailed_checks_agree_with_jsonschema(name: str) -> None:
    """Random damage to valid entries: a problem exactly when jsonschema rejects the entry,
    and the compiled acceptance check never accepts what jsonschema rejects."""
    c = BY_NAME[name]
    validator = Draft202012Validator(c.entry_schema())
    accept = compile_checker(c.entry_schema())
    base = yaml.safe_load((VALID / _file(c)).read_text(encoding="utf-8"))[c.key]
    base = [e for e in base if "members" not in e]  # alone in its file, a suite's members dangle
    fields = [*c.field_names(), "extra"]
    rng = random.Random(3)
    checked = 0
    for _ in range(300):
        entry = copy.deepcopy(rng.choice(base))
        touched = set()
        for _ in range(rng.randint(1, 2)):
            touched.add(field := rng.choice(fields))
            if rng.random() < 0.2:
                entry.pop(field, None)
            else:
                entry[field] = copy.deepcopy(rng.choice(_BAD))
        valid = validator.is_valid(entry)
        if accept(entry):
            assert valid, entry
        if touched & _RULED[name]:
            continue
        text = yaml.safe_dump({c.key: [entry]}, allow_unicode=True)
        result = load_bytes(text.encode("utf-8"), c.file, others=_valid_bytes(name))
        assert (not result.problems) == valid, (entry, [p.format() for p in result.problems])
        checked += 1
    assert checked > 30


# --- stable ids -----------------------------------------------------------------------------


def _anchors(markdown: str) -> list[str]:
    return re.findall(r'<a id="([^"]+)"></a>', markdown)


def test_inserting_a_paper_before_a_namesake_changes_no_other_key_or_anchor(
    tmp_path: Path,
) -> None:
    """A new paper with the same first author and year goes before the existing one: it gets
    a fresh id (``b``) and every other BibTeX key and anchor stays as it was."""
    path = tmp_path / "papers.yaml"
    shutil.copy(VALID / "papers.yaml", path)
    for c in COLLECTIONS[1:]:
        shutil.copy(VALID / _file(c), tmp_path / _file(c))
    before = load_collections(path).catalog
    keys_before = re.findall(r"^@\w+\{([^,]+),", export_bib(before.papers), re.M)
    anchors_before = _anchors(render_outputs(before)["docs/papers.md"])

    taken = [p.id for p in before.papers]
    new = new_id(["Gamaleldin F. Elsayed"], 2019, "Adversarial Examples Revisited", taken)
    assert new == "elsayed2019adversarialb"
    text = path.read_text(encoding="utf-8")
    entry = (f"  - id: {new}\n    title: \"Adversarial Examples Revisited\"\n"
             "    authors: [Gamaleldin F. Elsayed]\n    year: 2019\n    venue: arXiv\n"
             "    url: https://example.org/revisited\n    paradigm: model reprogramming\n"
             "    configuration: learnable\n    location: input\n    operator: additive\n"
             "    alignment: rule-based\n\n")
    path.write_text(text.replace("papers:\n", "papers:\n" + entry, 1), encoding="utf-8")
    after = load_collections(path)
    assert after.problems == []
    keys_after = re.findall(r"^@\w+\{([^,]+),", export_bib(after.catalog.papers), re.M)
    assert keys_after == [new, *keys_before]
    outputs = render_outputs(after.catalog)
    assert sorted(_anchors(outputs["docs/papers.md"])) == sorted([new, *anchors_before])
    # links into the papers page still land on the same papers
    assert "(papers.md#elsayed2019adversarial)" in outputs["docs/tools.md"]
    assert "(papers.md#elsayed2019adversarial)" in outputs["docs/datasets.md"]


# --- rendering from hand-built entries -------------------------------------------------------


def _paper(id_: str, title: str, year: int, **kw) -> Paper:
    fields = {"authors": ("Ada Tsai",), "venue": "ICLR", "url": f"https://example.org/{id_}",
              "paradigm": ("model reprogramming",), "configuration": ("learnable",),
              "location": ("input",), "operator": ("additive",), "alignment": ("linear",)}
    fields.update(kw)
    return Paper(id=id_, title=title, year=year, **fields)


@pytest.fixture()
def catalog() -> Catalog:
    return Catalog(
        papers=(
            _paper("tsai2020audio", "Audio From Images", 2020, datasets=("esc",),
                   domain=DomainPair(("image",), ("audio", "time-series")),
                   backbones=("ResNet-18",)),
            _paper("tsai2021text", "Text to Text", 2021, datasets=("esc", "glue-x"),
                   domain=DomainPair(("text",), ("text",)), backbones=("BERT-base", "GPT-2")),
            _paper("tsai2022none", "No Domains Recorded", 2022),
        ),
        datasets=(
            Dataset("esc", "ESC Sounds", "dataset", "audio", "sound classification",
                    "https://example.org/esc", "Environmental sounds"),
            Dataset("glue-x", "GLUE-X", "suite", "text", "language understanding",
                    "https://example.org/glue-x", "A suite.", members=("esc",)),
        ),
        tools=(Tool(id="kit", name="Kit", kind="library", url="https://example.org/kit",
                    language="Python", implements=("tsai2020audio", "tsai2021text"),
                    description="Implements both", license="MIT"),),
        resources=(
            Resource(id="deep-dive", title="Deep Dive", kind="lecture notes",
                     url="https://example.org/deep", level=2, description="Second"),
            Resource(id="start-here", title="Start Here", year=2023, kind="survey",
                     url="https://example.org/start", level=1, description="First",
                     authors=("Ada Tsai", "Bo Chen", "Chen Li")),
        ),
    )


def test_datasets_page_has_anchors_members_and_backlinks(catalog: Catalog) -> None:
    doc = render_outputs(catalog)["docs/datasets.md"]
    assert _anchors(doc) == ["glue-x", "esc"]  # grouped by domain, in DOMAINS order
    assert doc.index("## text") < doc.index("## speech/audio")
    esc = doc[doc.index('<a id="esc">'):]
    assert ("Reported on by 2 papers: [Text to Text](papers.md#tsai2021text) · "
            "[Audio From Images](papers.md#tsai2020audio)") in esc
    assert "Part of: [GLUE-X](#glue-x)" in esc and "Environmental sounds." in esc
    glue = doc[doc.index('<a id="glue-x">'):doc.index('<a id="esc">')]
    assert "Members: [ESC Sounds](#esc)" in glue


def test_papers_page_shows_facets_linking_to_datasets(catalog: Catalog) -> None:
    doc = render_outputs(catalog)["docs/papers.md"]
    row = next(line for line in doc.splitlines() if 'id="tsai2021text"' in line)
    cells = [c.strip() for c in row.split(" | ")]
    assert cells[9:12] == ["text → text", "BERT-base, GPT-2",
                           "[ESC Sounds](datasets.md#esc) · [GLUE-X](datasets.md#glue-x)"]
    row = next(line for line in doc.splitlines() if 'id="tsai2020audio"' in line)
    assert "image → speech/audio, time-series" in row


def test_tools_and_resources_pages(catalog: Catalog) -> None:
    out = render_outputs(catalog)
    tools = out["docs/tools.md"]
    assert "## Library" in tools and '<a id="kit"></a>' in tools
    assert ("Implements 2 papers: [Audio From Images](papers.md#tsai2020audio) · "
            "[Text to Text](papers.md#tsai2021text)") in tools
    resources = out["docs/resources.md"]
    assert resources.index("## Level 1") < resources.index("Start Here") < \
        resources.index("## Level 2") < resources.index("Deep Dive")
    assert "Level 1, survey by Ada Tsai et al., 2023. First." in resources
    assert "Level 2, lecture notes. Second." in resources  # no year recorded


def test_applications_group_papers_under_every_domain_pair(catalog: Catalog) -> None:
    out = render_outputs(catalog)
    doc = out["docs/applications.md"]
    headings = re.findall(r"^## (.+)$", doc, re.M)
    assert headings == ["Index", "image → speech/audio", "image → time-series", "text → text"]
    assert doc.count("[Audio From Images](papers.md#tsai2020audio)") == 2
    assert "No Domains Recorded" not in doc and "2 of the database's papers" in doc
    readme = out["README.md"]
    table = readme[readme.index("## Applications"):readme.index("## Tools & Libraries")]
    rows = [line for line in table.splitlines() if line.startswith("| [")]
    assert [r.split("|")[1].strip() for r in rows] == [
        "[Ada Tsai 2020](docs/papers.md#tsai2020audio)",
        "[Ada Tsai 2021](docs/papers.md#tsai2021text)",
    ]
    assert "speech/audio, time-series" in rows[0] and "BERT-base, GPT-2" in rows[1]


def test_readme_sections_follow_the_collections(catalog: Catalog) -> None:
    readme = render_outputs(catalog)["README.md"]
    sections = re.findall(r"^## (.+)$", readme, re.M)
    assert sections == ["Contents", "Set-up", "Taxonomy", "Quick Stats", "Papers",
                        "Applications", "Tools & Libraries", "Datasets & Benchmarks",
                        "Learning Resources", "Documentation", "Contributing"]
    assert "- [Kit](https://example.org/kit) - Library in Python, MIT. Implements both." in readme
    assert ("- [ESC Sounds](https://example.org/esc) - Dataset, speech/audio: sound "
            "classification. Environmental sounds.") in readme
    learning = readme[readme.index("## Learning Resources"):readme.index("## Documentation")]
    assert learning.index("Start Here") < learning.index("Deep Dive")
    assert re.search(r"\| Datasets and benchmark suites +\| 2 +\|", readme)
    assert re.search(r"\| Tools and libraries +\| 1 +\|", readme)
    assert "[docs/tools.md](docs/tools.md)" in readme

    empty = render_outputs(Catalog(papers=catalog.papers[2:]))
    bare = empty["README.md"]
    assert re.findall(r"^## (.+)$", bare, re.M) == [
        "Contents", "Set-up", "Taxonomy", "Quick Stats", "Papers", "Documentation",
        "Contributing"]
    assert "docs/tools.md" not in bare and "docs/datasets.md" not in bare
    for page, words in (("docs/datasets.md", "No dataset is listed yet."),
                        ("docs/tools.md", "No tool is listed yet."),
                        ("docs/resources.md", "No resource is listed yet."),
                        ("docs/applications.md", "No paper records its source and target")):
        assert words in empty[page]


def test_a_url_already_linked_is_left_to_the_docs_page(catalog: Catalog) -> None:
    """awesome-lint forbids linking one URL twice (and relative list links): a tool at a
    paper's URL is listed only in docs/tools.md, and the README says so."""
    from dataclasses import replace

    twin = replace(catalog.tools[0], id="twin", name="Twin", url="https://example.org/tsai2021text")
    out = render_outputs(replace(catalog, tools=(catalog.tools[0], twin)))
    readme = out["README.md"]
    assert "- [Kit](https://example.org/kit)" in readme and "[Twin]" not in readme
    assert "also lists the 1 entry whose page is already linked above" in readme
    assert '<a id="twin"></a>' in out["docs/tools.md"]
    alone = render_outputs(replace(catalog, tools=(twin,)))["README.md"]
    assert "## Tools & Libraries" not in alone and "[docs/tools.md](docs/tools.md)" in alone


# --- the command line -------------------------------------------------------------------------


def _data_dir(tmp_path: Path, invalid: str | None = None) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for c in COLLECTIONS:
        source = INVALID if c.name == invalid else VALID
        shutil.copy(source / _file(c), data / _file(c))
    return data


def test_validate_checks_every_collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _data_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "data/papers.yaml: 2 papers valid", "data/datasets.yaml: 3 datasets valid",
        "data/tools.yaml: 1 tool valid", "data/resources.yaml: 2 resources valid",
        "data/results.yaml: 2 results valid"]
    assert cli.main(["validate", "data/tools.yaml"]) == 0
    assert capsys.readouterr().out == "data/tools.yaml: 1 tool valid\n"


@pytest.mark.parametrize("name", NAMES)
def test_invalid_collection_exits_1_and_builds_nothing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    _data_dir(tmp_path, invalid=name)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate"]) == 1
    err = capsys.readouterr().err
    expected = _expected((INVALID / _file(BY_NAME[name])).read_text(encoding="utf-8"))
    reported = {int(m) for m in re.findall(rf"^data/{name}\.yaml:(\d+):\d+: ", err, re.M)}
    assert reported == set(expected)
    assert re.search(rf"\d+ problems in \d+ {BY_NAME[name].name}\n$", err) or \
        re.search(rf"\d+ problems in \d+ {BY_NAME[name].singular}s?", err), err
    assert cli.main(["build"]) == 1
    assert not (tmp_path / "README.md").exists() and not (tmp_path / "docs").exists()


def test_validate_usage_and_unreadable_input_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    data = _data_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "data/absent.yaml"]) == 2
    assert "cannot read data/absent.yaml" in capsys.readouterr().err
    (data / "tools.yaml").unlink()
    (data / "tools.yaml").mkdir()  # exists, but cannot be read as a file
    assert cli.main(["validate"]) == 2
    assert "cannot read data/tools.yaml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", "--no-such-option"])
    assert info.value.code == 2


def test_build_renders_every_collection_and_checks_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _data_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rendered 2 papers, 3 datasets, 1 tools, 2 resources, 2 results;")
    for rel in ("README.md", "docs/datasets.md", "docs/tools.md", "docs/resources.md",
                "docs/applications.md", "docs/papers.bib", *(c.schema_path for c in COLLECTIONS)):
        assert (tmp_path / rel).is_file(), rel
    assert json.loads((tmp_path / "schema/results.schema.json").read_text())["required"] == [
        "results"]
    assert cli.main(["build", "--check"]) == 0
    (tmp_path / "docs" / "tools.md").write_text("stale\n", encoding="utf-8")
    assert cli.main(["build", "--check"]) == 1
    assert "+++ b/docs/tools.md" in capsys.readouterr().out
