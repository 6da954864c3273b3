"""The website's pages and build, without a browser (tests/test_site_browser.py has one).

The explorer and cell pages are derived files (``website.py``); ``repro site`` stages them with
every page and file they link to and builds the HTML (``sitegen.py``). These tests pin what the
pages contain for hand-built papers, how staging follows links, that the navigation is made from
the pages that exist, and that the command refuses bad input before writing anything.
"""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import markupsafe
import pytest
from reprogrammability import cli, taxonomy
from reprogrammability.papers import Paper, Reference
from reprogrammability.render import sort_key
from reprogrammability.sitegen import SiteError, build_site, config_text, navigation, stage
from reprogrammability.website import (
    EXPLORER_PATH,
    FACETS,
    cell_filters,
    cell_slug,
    explorer_href,
    has_reference,
    site_outputs,
)

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = 'A <script>alert("x")</script> & <b>bold</b> "title"'


def paper(title: str, year: int, **kw) -> Paper:
    fields = {
        "id": re.sub(r"\W+", "", title.lower())[:20] + str(year),
        "authors": ("Ada Tsai", "Bo Chen"), "venue": "ICLR", "url": f"https://example.org/{year}",
        "paradigm": ("model reprogramming",), "configuration": ("learnable",),
        "location": ("input",), "operator": ("additive",), "alignment": ("linear",),
    }
    fields.update(kw)
    return Paper(title=title, year=year, **fields)


@pytest.fixture()
def papers() -> list[Paper]:
    return [
        paper("Visual reprogramming", 2021, code="https://example.org/code",
              alignment=("rule-based", "statistical")),
        paper(HOSTILE, 2023, venue="Work & Shop <2023>", url="https://example.org/h?a=1&b=2",
              location=("hidden", "embedding"), operator=("concatenative",),
              paradigm=("prompt tuning", "model reprogramming"), note="Why <here> & there."),
        paper("Chain of thought", 2022, venue="NeurIPS", configuration=("fixed",),
              operator=("concatenative",), alignment=("identity",),
              paradigm=("prompt instruction",)),
    ]


class Explorer:
    """The explorer page parsed back: facet options in order, and each item's decoded values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.options: dict[str, list[str]] = {}
        self.counts: dict[str, list[int]] = {}
        for key, body in re.findall(r'<fieldset class="explorer-facet" data-facet="([^"]+)">'
                                    r"(.*?)</fieldset>", text, re.DOTALL):
            found = re.findall(r'value="([^"]*)" data-i="(\d+)"> .*? '
                               r'<span class="explorer-count">(\d+)</span>', body)
            assert [int(i) for _v, i, _c in found] == list(range(len(found)))
            self.options[key] = [html.unescape(v) for v, _i, _c in found]
            self.counts[key] = [int(c) for _v, _i, c in found]
        self.items = re.findall(r'<li data-v="([^"]*)" data-y="\d+"><a class="t" href="[^"]*">'
                                r"(.*?)</a>", text)

    def values(self, codes: str) -> dict[str, set[str]]:
        parts = codes.split(";")
        assert len(parts) == len(self.options)
        return {key: {self.options[key][int(i)] for i in part.split(",") if i}
                for key, part in zip(self.options, parts)}


def test_the_explorer_lists_every_paper_with_its_facet_values(papers: list[Paper]) -> None:
    page = Explorer(site_outputs(papers)[EXPLORER_PATH])
    assert list(page.options) == [f.key for f in FACETS]
    ordered = sorted(papers, key=sort_key)
    assert [html.unescape(t) for _codes, t in page.items] == [p.title for p in ordered]
    for (codes, _title), p in zip(page.items, ordered):
        assert page.values(codes) == {f.key: set(f.values(p)) for f in FACETS}, p.title


def test_the_form_counts_are_the_database_counts(papers: list[Paper]) -> None:
    page = Explorer(site_outputs(papers)[EXPLORER_PATH])
    for facet in FACETS:
        wanted = [sum(1 for p in papers if key in facet.values(p))
                  for key in page.options[facet.key]]
        assert page.counts[facet.key] == wanted, facet.key
    assert page.options["year"] == ["2023", "2022", "2021"]  # newest first
    assert page.options["venue"] == ["ICLR", "NeurIPS", "Work & Shop <2023>"]
    assert page.counts["code"] == [1, 2]


def test_free_text_is_html_escaped(papers: list[Paper]) -> None:
    text = site_outputs(papers)[EXPLORER_PATH]
    assert "<script>alert" not in text and "<b>bold" not in text
    assert str(markupsafe.escape(HOSTILE)) in text
    assert "Why &lt;here&gt; &amp; there." in text
    assert 'href="https://example.org/h?a=1&amp;b=2"' in text


def test_facets_cover_the_taxonomy() -> None:
    by_key = {f.key: f for f in FACETS}
    for axis in taxonomy.AXES:
        assert [k for k, _ in by_key[axis.field].vocabulary] == list(axis.keys)
    assert [k for k, _ in by_key["paradigm"].vocabulary] == list(taxonomy.PARADIGM_KEYS)
    assert {"source", "target", "year", "venue", "code", "reference"} <= set(by_key)


def test_the_reference_facet_reads_the_papers_reference_field(papers: list[Paper]) -> None:
    """The "has a reference implementation" filter counts the papers whose ``reference`` is set."""
    assert not has_reference(papers[0])
    implemented = dataclasses.replace(
        papers[0], reference=Reference("padding_prompt", "ilm", "simplified"))
    assert has_reference(implemented)
    page = Explorer(site_outputs([implemented, *papers[1:]])[EXPLORER_PATH])
    assert page.options["reference"] == ["yes", "no"]
    assert page.counts["reference"] == [1, 2]


def test_explorer_links() -> None:
    assert explorer_href({"venue": ["A & B", "C"], "configuration": "fixed"}) == (
        "explorer.md?venue=A+%26+B&venue=C&configuration=fixed")
    assert explorer_href({}, "../explorer.md") == "../explorer.md"
    with pytest.raises(KeyError, match="not an explorer facet"):
        explorer_href({"configurtion": "fixed"})


def test_one_page_per_cell_listing_its_papers(papers: list[Paper]) -> None:
    outputs = site_outputs(papers)
    cells = sorted(r for r in outputs if r.startswith("docs/cells/"))
    assert len(cells) == len(list(taxonomy.manipulation_cells())) == 18
    page = outputs["docs/cells/learnable-hidden-concatenative.md"]
    assert page.startswith("# Learnable · Hidden space · Concatenative\n")
    assert "1 paper, newest first" in page and "A \\<script\\>" in page
    linear = cell_filters(("learnable", "hidden", "concatenative"), "linear")
    assert f"[1]({explorer_href(linear, '../explorer.md')})" in page
    assert "No paper in the database falls in this cell yet." in outputs[
        "docs/cells/fixed-hidden-parametric.md"]
    assert cell_slug(("fixed", "input", "additive")) == "fixed-input-additive"


# --------------------------------------------------------------------------------------------
# Staging and navigation.


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel, text in {
        "docs/papers.md": "# Stale committed copy\n",
        "docs/notes.md": ("# Hand-written notes\n\n[licence](../LICENSE), "
                          "[cfg](../reference/configs/)\n"),
        "docs/leaderboards.md": "# Leaderboards\n\n![figure](figures/a.svg)\n",
        "docs/figures/a.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
        "LICENSE": "MIT\n",
        "CONTRIBUTING.md": "# Contributing\n\n[data](data/papers.yaml)\n",
        "data/papers.yaml": "papers: []\n",
        "reference/README.md": "# Reference\n\n[contributing](../CONTRIBUTING.md#contributing)\n",
        "reference/configs/a.yaml": "a: 1\n",
        "unlinked.md": "# Not linked from anywhere\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


OUTPUTS = {
    "README.md": ("# Home\n\n[papers](docs/papers.md#x), [bib](docs/papers.bib), "
                  "[ref](reference/)\n"),
    "docs/papers.md": "# Papers\n\n[tax](taxonomy.md)\n",
    "docs/taxonomy.md": "# Taxonomy\n",
    "docs/explorer.md": "# Paper explorer\n",
    "docs/cells/fixed-input-additive.md": "# Fixed · Input space · Additive\n",
    "docs/cells/learnable-input-additive.md": "# Learnable · Input space · Additive\n",
    "docs/papers.bib": "@article{x}\n",
    "schema/papers.schema.json": "{}",
}


def test_staging_follows_links_and_prefers_the_derived_files(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    staged = stage(root, OUTPUTS)
    assert staged.pages["docs/papers.md"] == OUTPUTS["docs/papers.md"]  # not the stale copy
    assert staged.pages["docs/papers.bib"] == OUTPUTS["docs/papers.bib"]
    assert "schema/papers.schema.json" not in staged.pages  # nothing links it
    assert {"README.md", "docs/notes.md", "docs/leaderboards.md", "reference/README.md",
            "CONTRIBUTING.md"} <= set(staged.pages)
    assert set(staged.files) == {"docs/figures/a.svg", "LICENSE", "data/papers.yaml",
                                 "reference/configs/a.yaml"}
    assert list(staged.listings) == ["reference/configs/index.md"]
    assert "[a.yaml](a.yaml)" in staged.listings["reference/configs/index.md"]
    assert "unlinked.md" not in staged.pages


def test_navigation_is_made_from_the_pages_that_exist(tmp_path: Path) -> None:
    nav = navigation(stage(_repo(tmp_path), OUTPUTS))
    flat = [(title, value) for item in nav for title, value in item.items()]
    assert [t for t, _ in flat] == [
        "Home", "Paper explorer", "Papers", "Taxonomy", "Taxonomy cells", "Leaderboards",
        "Hand-written notes", "Reference implementations", "Contributing"]
    cells = dict(flat)["Taxonomy cells"]
    assert [next(iter(c.values())) for c in cells] == [
        "docs/cells/learnable-input-additive.md", "docs/cells/fixed-input-additive.md"]


def test_the_generated_config_is_valid_for_mkdocs(tmp_path: Path) -> None:
    from mkdocs.config import load_config

    staged = stage(_repo(tmp_path), OUTPUTS)
    (tmp_path / "src").mkdir()
    path = tmp_path / "mkdocs.yml"
    path.write_text(config_text(staged, docs_dir="src", site_dir=str(tmp_path / "out"),
                                site_url=None), encoding="utf-8")
    config = load_config(str(path))
    assert config["theme"].name == "material"
    assert config["not_in_nav"].match_file("reference/configs/index.md")
    toc = next(e for e in config["markdown_extensions"] if e == "toc")
    slugify = config["mdx_configs"][toc]["slugify"]
    assert slugify("Input space (ℓ)", "-") == "input-space-ℓ"  # GitHub's anchor


# --------------------------------------------------------------------------------------------
# The command.


def test_repro_site_refuses_invalid_data_and_writes_nothing(tmp_path: Path, capsys) -> None:
    db = tmp_path / "papers.yaml"
    db.write_text("papers:\n  - title: no other field\n", encoding="utf-8")
    out = tmp_path / "html"
    code = cli.main(["site", str(db), "--root", str(tmp_path), "--out", str(out)])
    assert code == 1 and not out.exists()
    assert "site not built" in capsys.readouterr().err


def test_build_refuses_an_output_directory_that_is_not_a_site(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me", encoding="utf-8")
    with pytest.raises(SiteError, match="holds no previous site build"):
        build_site(ROOT, {}, out, staging=tmp_path / "staging")
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "keep me"


def test_repro_site_builds_the_real_site(tmp_path: Path, capsys) -> None:
    out = tmp_path / "html"
    code = cli.main(["site", str(ROOT / "data" / "papers.yaml"), "--root", str(ROOT),
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    explorer = (out / "docs" / "explorer" / "index.html").read_text(encoding="utf-8")
    assert explorer.count("<li data-v=") == len(Explorer(
        (ROOT / "docs" / "explorer.md").read_text(encoding="utf-8")).items)
    assert (out / "index.html").is_file() and (out / "search" / "search_index.json").is_file()
    assert (out / "docs" / "cells" / "learnable-input-additive" / "index.html").is_file()
    assert (out / "reference" / "index.html").is_file()
