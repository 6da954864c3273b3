"""The renderer: pure, stable, escaping, link-unique, and honest about stale committed files.

The committed README and docs are what most readers see of the database, and CI only knows
they are right because ``render_outputs`` is deterministic and ``--check`` compares against it;
these tests pin both properties and the invariants awesome-lint relies on (every ToC link has
its heading, no URL twice, titles never turn into markup).
"""

from __future__ import annotations

import html
import io
import re
from collections import Counter
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from reprogrammability import cli, taxonomy
from reprogrammability.markdown import escape_md, github_slug, unique_slugs
from reprogrammability.papers import Paper
from reprogrammability.website import cell_filters, cell_slug, explorer_href
from reprogrammability.render import (
    FIGURE_PATHS,
    SCHEMA_PATH,
    SCHEMA_PATHS,
    SURVEY_URL,
    TEMPLATES,
    aligned_table,
    check_outputs,
    normalize_url,
    render_outputs,
    write_outputs,
)

from reprogrammability.bibtex import base_key

TRICKY_TITLE = r"A *Bold* <b>Idea</b> | [x](y) & `code` _under_ #1 \ {ok}"
SHARED_CODE = "https://github.com/example/shared"


def paper(title: str, year: int, url: str, **kw) -> Paper:
    """A valid Paper with sensible defaults; tags may be given as tuples."""
    fields = {
        "authors": ("Ada Tsai", "Bo Chen", "Chen Li"), "venue": "ICLR",
        "paradigm": ("model reprogramming",),
        "configuration": ("learnable",), "location": ("input",), "operator": ("additive",),
        "alignment": ("linear",),
    }
    fields.update(kw)
    fields.setdefault("id", base_key(fields["authors"], year, title))
    return Paper(title=title, year=year, url=url, **fields)


@pytest.fixture()
def papers() -> list[Paper]:
    return [
        paper("Adversarial Reprogramming of Neural Networks", 2019,
              "https://arxiv.org/abs/1806.11146", arxiv="1806.11146",
              authors=("Gamaleldin F. Elsayed", "Ian Goodfellow", "Jascha Sohl-Dickstein"),
              alignment=("rule-based", "statistical"), code=SHARED_CODE),
        paper(TRICKY_TITLE, 2023, "https://example.org/bold", venue="Work<shop> *2023*",
              authors=("de Vries, A.",), paradigm=("prompt tuning", "model reprogramming"),
              location=("hidden", "embedding"), operator=("concatenative",),
              note="Why: tags | judged *carefully* <here>.", code=SHARED_CODE),
        paper("Chain-of-Thought Prompting Elicits Reasoning in Large Language Models", 2022,
              "https://arxiv.org/abs/2201.11903", authors=("Jason Wei", "Xuezhi Wang"),
              venue="NeurIPS", paradigm=("prompt instruction",), configuration=("fixed",),
              operator=("concatenative",), alignment=("identity",), doi="10.5555/cot",
              backbones=("PaLM 540B",)),
        # Same year as the first: ordering then falls back to the title.
        paper("Bayesian-guided Label Mapping for Visual Reprogramming", 2019,
              "https://example.org/blm", code="https://github.com/example/blm",
              alignment=("statistical",)),
        # The survey itself: the README's introduction must then not link it a second time.
        paper("Neural Network Reprogrammability", 2025, SURVEY_URL, arxiv="2506.04650",
              paradigm=("model reprogramming", "prompt tuning", "prompt instruction"),
              configuration=("learnable", "fixed"), location=("input", "embedding", "hidden"),
              operator=("additive", "concatenative", "parametric"),
              alignment=("identity", "rule-based", "linear", "statistical")),
    ]


@pytest.fixture()
def outputs(papers: list[Paper]) -> dict[str, str]:
    return render_outputs(papers, ".")


# -- helpers ------------------------------------------------------------------------------------

_FENCE = re.compile(r"^```")
_LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)\)")


def headings(text: str) -> list[str]:
    """ATX heading texts outside code fences, in document order."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6} (.*)$", line)):
            out.append(m.group(1).strip())
    return out


def link_targets(text: str) -> list[str]:
    """Destinations of inline links (not images) outside code, in document order."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "image", text)
    return _LINK.findall(text)


def paper_lines(readme: str) -> list[str]:
    return [line for line in readme.splitlines() if line.startswith("- [") and " - " in line]


# -- purity and freshness -------------------------------------------------------------------------


def test_outputs_are_the_four_files(outputs: dict[str, str]) -> None:
    assert set(outputs) == set(TEMPLATES) | set(SCHEMA_PATHS) | set(FIGURE_PATHS)
    assert SCHEMA_PATH in SCHEMA_PATHS
    for rel, text in outputs.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), rel


def test_schema_output_is_schema_json(outputs: dict[str, str]) -> None:
    from reprogrammability.schema import schema_json

    assert outputs[SCHEMA_PATH].rstrip("\n") == schema_json().rstrip("\n")


def test_rendering_is_a_pure_function_of_the_papers(papers: list[Paper]) -> None:
    first = render_outputs(papers, ".")
    assert render_outputs(list(reversed(papers)), "/elsewhere") == first
    assert render_outputs(papers, ".") == first


def test_tag_order_in_the_yaml_does_not_show(papers: list[Paper]) -> None:
    import dataclasses

    shuffled = [dataclasses.replace(p, location=tuple(reversed(p.location)),
                                    alignment=tuple(reversed(p.alignment))) for p in papers]
    assert render_outputs(shuffled, ".") == render_outputs(papers, ".")


def test_write_then_check_reports_nothing(tmp_path: Path, outputs: dict[str, str]) -> None:
    changed = write_outputs(outputs, tmp_path)
    assert changed == sorted(outputs)
    stream = io.StringIO()
    assert check_outputs(outputs, tmp_path, stream) is False
    assert stream.getvalue() == ""
    # Unchanged content: nothing rewritten, not even the mtime.
    mtimes = {rel: (tmp_path / rel).stat().st_mtime_ns for rel in outputs}
    assert write_outputs(outputs, tmp_path) == []
    assert {rel: (tmp_path / rel).stat().st_mtime_ns for rel in outputs} == mtimes


def test_check_shows_a_diff_for_a_modified_and_a_missing_file(
    tmp_path: Path, outputs: dict[str, str]
) -> None:
    write_outputs(outputs, tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("## Papers", "## Stale"),
                      encoding="utf-8")
    (tmp_path / "docs" / "taxonomy.md").unlink()
    stream = io.StringIO()
    assert check_outputs(outputs, tmp_path, stream) is True
    report = stream.getvalue()
    assert "--- a/README.md" in report and "+++ b/README.md" in report
    assert "\n-## Stale\n" in report and "\n+## Papers\n" in report
    assert "docs/taxonomy.md: missing" in report
    assert (f"2 of {len(outputs)} rendered files are stale: README.md, docs/taxonomy.md"
            in report)
    # Checking never writes.
    assert not (tmp_path / "docs" / "taxonomy.md").exists()


# -- escaping ----------------------------------------------------------------------------------


def test_markdown_characters_in_titles_render_literally(outputs: dict[str, str]) -> None:
    """Parsed as markdown, every document shows the tricky title, venue and note verbatim."""
    md = MarkdownIt("commonmark").enable("table")
    for rel in ("README.md", "docs/papers.md", "docs/taxonomy.md"):  # the papers' documents
        rendered = md.render(outputs[rel])
        assert html.escape(TRICKY_TITLE, quote=False) in rendered, rel
        # Nothing of the title became markup.
        assert "<b>Idea</b>" not in rendered and "<em>Bold</em>" not in rendered
    readme_html = md.render(outputs["README.md"])
    assert html.escape("Work<shop> *2023*", quote=False) in readme_html
    papers_html = md.render(outputs["docs/papers.md"])
    assert html.escape("Why: tags | judged *carefully* <here>.", quote=False) in papers_html


def test_escaped_table_cells_keep_the_column_count(outputs: dict[str, str]) -> None:
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(outputs["docs/papers.md"])
    header_cells = sum(1 for t in tokens if t.type == "th_open")
    rows = [i for i, t in enumerate(tokens) if t.type == "tr_open"]
    assert header_cells == 15 and len(rows) == 1 + 5
    cells_per_row = Counter()
    row = -1
    for t in tokens:
        if t.type == "tr_open":
            row += 1
        elif t.type in ("td_open", "th_open"):
            cells_per_row[row] += 1
    assert set(cells_per_row.values()) == {15}


def test_urls_with_parentheses_stay_inside_the_link() -> None:
    url = "https://en.example.org/wiki/Prompt_(engineering)"
    out = render_outputs([paper("Parens", 2020, url)], ".")
    md = MarkdownIt("commonmark")
    assert 'href="https://en.example.org/wiki/Prompt_%28engineering%29">Parens</a>' in md.render(
        out["README.md"])


def test_control_characters_in_text_cannot_break_the_layout() -> None:
    """Separators the renderer uses internally, pasted into a title, become plain spaces."""
    out = render_outputs([paper("Bad\x1epaste\x1fhere\rnow", 2020, "https://example.org/x",
                                note="line\nbreak")], ".")
    assert "- [Bad paste here now](https://example.org/x) - Ada Tsai et al., ICLR 2020." in (
        out["README.md"])
    assert "| line break |" in out["docs/papers.md"]
    assert not any(ch in text for text in out.values() for ch in "\x1e\x1f\r")


# -- README structure --------------------------------------------------------------------------


def test_readme_opens_with_title_badge_and_intro(outputs: dict[str, str]) -> None:
    readme = outputs["README.md"]
    assert readme.startswith(
        "# Awesome Neural Network Reprogrammability "
        "[![Awesome](https://awesome.re/badge.svg)](https://awesome.re)\n")
    assert "`y = O_ω ∘ f ∘ I_{λ,ℓ,τ}(x)`" in readme
    assert "2506.04650" in readme and "AAAI 2026 tutorial" in readme


def test_every_toc_link_resolves_to_a_heading(outputs: dict[str, str]) -> None:
    for rel in ("README.md", "docs/taxonomy.md"):
        text = outputs[rel]
        slugs = set(unique_slugs(headings(text)))
        anchors = [t[1:] for t in link_targets(text) if t.startswith("#")]
        assert anchors, rel
        missing = [a for a in anchors if a not in slugs]
        assert not missing, (rel, missing)


def test_readme_toc_lists_every_section_in_order(outputs: dict[str, str]) -> None:
    readme = outputs["README.md"]
    toc_block = readme.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    toc_texts = re.findall(r"^ *- \[([^\]]+)\]", toc_block, flags=re.MULTILINE)
    level2 = [h[3:] for h in readme.splitlines() if h.startswith("## ")]
    after = level2[level2.index("Contents") + 1:]
    # awesome-lint forbids "Contributing" in the ToC; everything else is listed, in order.
    assert [t for t in toc_texts if t in after] == [h for h in after if h != "Contributing"]
    assert "Contributing" in after and "Contributing" not in toc_texts
    for p in taxonomy.PARADIGMS:
        assert f"  - [{p.label}](#{github_slug(p.label)})" in toc_block


def test_no_url_is_linked_twice_in_the_readme(outputs: dict[str, str]) -> None:
    targets = link_targets(outputs["README.md"])
    assert "https://awesome.re" in targets  # the badge's link is seen (its image is not a link)
    counts = Counter(normalize_url(t) for t in targets)
    assert [u for u, n in counts.items() if n > 1] == []
    # The survey is in the database, so the introduction names it without a second link;
    # the shared code repository is linked once, from the first entry that uses it.
    assert counts[normalize_url(SURVEY_URL)] == 1
    assert counts[normalize_url(SHARED_CODE)] == 1


def test_the_intro_links_the_survey_when_the_database_lacks_it(papers: list[Paper]) -> None:
    readme = render_outputs([p for p in papers if p.url != SURVEY_URL], ".")["README.md"]
    intro = readme.split("## Contents", 1)[0]
    assert f"]({SURVEY_URL})" in intro


def test_each_paper_listed_once_under_its_first_paradigm_newest_first(
    papers: list[Paper], outputs: dict[str, str]
) -> None:
    readme = outputs["README.md"]
    sections = re.split(r"^### ", readme.split("\n## Papers\n", 1)[1].split("\n## ", 1)[0],
                        flags=re.MULTILINE)[1:]
    by_label = {s.split("\n", 1)[0]: paper_lines(s) for s in sections}
    assert list(by_label) == [p.label for p in taxonomy.PARADIGMS]
    listed = {}
    for label, lines in by_label.items():
        for line in lines:
            listed.setdefault(line, []).append(label)
    assert len(listed) == len(papers) and all(len(v) == 1 for v in listed.values())
    for p in papers:
        line = next(line for line in listed if f"]({p.url})" in line)
        assert listed[line] == [taxonomy.paradigm(p.paradigm[0]).label]
    mr = [re.match(r"- \[(.*?)\]\(", line).group(1) for line in by_label["Model reprogramming"]]
    assert mr == [
        "Neural Network Reprogrammability",
        "Adversarial Reprogramming of Neural Networks",
        "Bayesian-guided Label Mapping for Visual Reprogramming",
    ]


def test_paper_lines_match_awesome_lint_format(outputs: dict[str, str]) -> None:
    lines = paper_lines(outputs["README.md"])
    assert len(lines) == 5
    for line in lines:
        _link, description = re.match(r"^- (\[.*?\]\(\S+?\)) - (.*)$", line).groups()
        assert description[0].isupper(), line
        assert description.endswith("."), line
    elsayed = next(line for line in lines if "1806.11146" in line)
    assert elsayed == (
        "- [Adversarial Reprogramming of Neural Networks](https://arxiv.org/abs/1806.11146) - "
        "Gamaleldin F. Elsayed et al., ICLR 2019. `learnable · input · additive → rule-based`, "
        f"`learnable · input · additive → statistical`, [code]({SHARED_CODE}). Cell stand-in: "
        '`reference.build("adversarial_reprogramming", "class-assignment", model, num_classes)`.'
    )
    # Lower-case first author still opens the description with a capital.
    assert f"]({'https://example.org/bold'}) - De Vries, A., " in outputs["README.md"]


def test_setup_section_has_exactly_the_two_commands(outputs: dict[str, str]) -> None:
    readme = outputs["README.md"]
    setup = readme.split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", setup, flags=re.DOTALL)
    assert blocks == ["bash scripts/build.sh\n", "bash scripts/test.sh\n"]
    assert readme.count("```sh") == 2
    # The website's own command is documented with the rest of the documentation.
    assert "`bash scripts/site.sh` builds it into `_site/`" in readme.split("\n## Set-up\n")[1]
    root = Path(__file__).resolve().parents[1]
    assert all((root / block.split()[1]).is_file() for block in blocks)


def test_taxonomy_table_comes_from_taxonomy_py(outputs: dict[str, str]) -> None:
    readme = outputs["README.md"]
    for axis in taxonomy.AXES:
        assert f"| {axis.symbol} " in readme and axis.question in readme
        for value in axis.values:
            assert value.definition in readme and f"{value.label} (`{value.key}`)" in readme


def test_quick_stats_count_the_data(outputs: dict[str, str]) -> None:
    readme = outputs["README.md"]
    ml = re.MULTILINE
    assert re.search(r"^\| Papers +\| 5 +\|$", readme, flags=ml)
    assert re.search(r"^\| Publication years +\| 2019–2025 +\|$", readme, flags=ml)
    assert re.search(r"^\| With a code link +\| 3 +\|$", readme, flags=ml)
    assert re.search(r"^\| With an arXiv identifier +\| 2 +\|$", readme, flags=ml)
    assert re.search(r"^\| In more than one paradigm +\| 2 +\|$", readme, flags=ml)
    assert re.search(r"^\| With their frozen backbones named +\| 1 +\|$", readme, flags=ml)
    assert re.search(r"^\| With their target datasets named +\| 0 +\|$", readme, flags=ml)
    assert re.search(r"^\| Model reprogramming +\| 4 +\|$", readme, flags=ml)
    assert re.search(r"^\| ω Output alignment +\| Statistical +\| 3 +\|$", readme, flags=ml)
    assert re.search(r"^\| τ Operator +\| Parametric +\| 1 +\|$", readme, flags=ml)


def test_documentation_links_are_present(outputs: dict[str, str]) -> None:
    targets = link_targets(outputs["README.md"])
    for rel in ("docs/papers.md", "docs/taxonomy.md", "docs/papers.bib", "reference/",
                "CONTRIBUTING.md"):
        assert rel in targets
    assert "\n## Contributing\n" in outputs["README.md"]


def test_empty_database_still_renders() -> None:
    out = render_outputs([], ".")
    assert re.search(r"\| Papers +\| 0 +\|", out["README.md"])
    assert out["README.md"].count("No paper is listed under this paradigm yet.") == 3


# -- docs ---------------------------------------------------------------------------------------


def test_papers_md_lists_every_paper_with_its_tags(papers: list[Paper], outputs: dict[str, str]
                                                   ) -> None:
    doc = outputs["docs/papers.md"]
    for p in papers:
        row = next(line for line in doc.splitlines() if f"]({p.url})" in line)
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert cells[2] == str(p.year) and cells[4] == ", ".join(p.paradigm)
        for i, axis in enumerate(taxonomy.AXES):
            assert set(cells[5 + i].split(", ")) == set(p.tags(axis.field))
        assert cells[0].startswith(f'<a id="{p.id}"></a>[')
        if p.code:
            assert f"[code]({p.code})" in cells[12]
        if p.doi:
            assert f"[DOI](https://doi.org/{p.doi})" in cells[12]
    assert escape_md("Why: tags | judged *carefully* <here>.") in doc


def test_taxonomy_md_has_a_heading_and_the_papers_for_every_value(
    papers: list[Paper], outputs: dict[str, str]
) -> None:
    doc = outputs["docs/taxonomy.md"]
    hs = headings(doc)
    assert len(set(unique_slugs(hs))) == len(hs)
    for axis in taxonomy.AXES:
        assert f"{axis.name} ({axis.symbol})" in hs
        for value in axis.values:
            heading = f"{value.label} ({axis.symbol})"
            assert heading in hs
            section = doc.split(f"\n### {heading}\n", 1)[1].split("\n#", 1)[0]
            assert value.definition in section
            tagged = [p for p in papers if value.key in p.tags(axis.field)]
            assert len(re.findall(r"^- \[", section, flags=re.MULTILINE)) == len(tagged)
            for p in tagged:
                assert f"]({p.url})" in section
            if tagged:
                assert f"\n{len(tagged)} paper" in section


def test_cell_matrix_counts_each_paper_once_per_cell(outputs: dict[str, str]) -> None:
    doc = outputs["docs/taxonomy.md"]
    matrix = doc.split("\n## Cell counts\n", 1)[1]
    rows = {}
    for line in matrix.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[0] in taxonomy.CONFIGURATION.keys:
            cell = tuple(cells[:3])
            # Each count links the explorer filtered to the cell (and ω); the row its page.
            omegas = [*taxonomy.ALIGNMENT.keys, None]
            counts = []
            for text, omega in zip(cells[3:8], omegas):
                m = re.fullmatch(r"\[(\d+)\]\((.+)\)", text)
                assert m and m.group(2) == explorer_href(cell_filters(cell, omega)), text
                counts.append(int(m.group(1)))
            rows[cell] = counts
            assert cells[8] == f"[{cell_slug(cell)}](cells/{cell_slug(cell)}.md)"
    assert list(rows) == list(taxonomy.manipulation_cells())
    # identity, rule-based, linear, statistical, any
    assert rows[("learnable", "input", "additive")] == [1, 2, 1, 3, 3]
    assert rows[("learnable", "hidden", "concatenative")] == [1, 1, 2, 1, 2]
    assert rows[("fixed", "input", "concatenative")] == [2, 1, 1, 1, 2]
    assert rows[("fixed", "embedding", "parametric")] == [1, 1, 1, 1, 1]


def test_aligned_table_pads_every_pipe_into_line() -> None:
    table = aligned_table(["λ", "Name"], [["ω", "Statistical"], ["", "x"]])
    positions = {tuple(i for i, ch in enumerate(line) if ch == "|") for line in table.splitlines()}
    assert len(positions) == 1


# -- the command --------------------------------------------------------------------------------

VALID_YAML = (Path(__file__).parent / "fixtures" / "one_paper.yaml").read_text(encoding="utf-8")


def test_cli_render_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "papers.yaml"
    db.write_text(VALID_YAML, encoding="utf-8")
    root = tmp_path / "repo"
    assert cli.main(["render", str(db), "--root", str(root), "--check"]) == 1
    assert "README.md: missing" in capsys.readouterr().out
    assert not root.exists()
    assert cli.main(["render", str(db), "--root", str(root)]) == 0
    n = len(TEMPLATES) + len(SCHEMA_PATHS) + len(FIGURE_PATHS)
    assert f"{n} of {n} files changed" in capsys.readouterr().out
    assert cli.main(["render", str(db), "--root", str(root), "--check"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["render", str(db), "--root", str(root)]) == 0
    assert f"0 of {n} files changed" in capsys.readouterr().out

    (root / "docs" / "papers.md").write_text("# Papers\n\nhand-edited\n", encoding="utf-8")
    assert cli.main(["render", str(db), "--root", str(root), "--check"]) == 1
    out = capsys.readouterr().out
    assert "-hand-edited" in out and "+++ b/docs/papers.md" in out


def test_cli_refuses_to_render_invalid_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    db = tmp_path / "papers.yaml"
    db.write_text(VALID_YAML.replace("location: input", "location: inptu"), encoding="utf-8")
    root = tmp_path / "repo"
    assert cli.main(["render", str(db), "--root", str(root), "--github"]) == 1
    err = capsys.readouterr().err
    assert "::error file=" in err and "location" in err
    assert not root.exists()
    assert cli.main(["render", str(db), "--root", str(root), "--check"]) == 1
    assert f"{db}:" in capsys.readouterr().err
