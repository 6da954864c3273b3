"""Papers -> reference implementations: reference/catalog.json, the `reference` field, the rules.

The curation tools read the registry through ``reference/catalog.json`` (written by
``python -m reference.catalog``), never through torch; these tests pin the file's freshness, the
validation of a paper's ``reference`` (names, preset, cell against the paper's tags, each reported
at its line), the coverage rule for papers with official code, and that a reference marked
``faithful`` is one the registry says implements that paper.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reprogrammability import refcatalog, validate

ROOT = Path(__file__).resolve().parents[1]
DATABASE = ROOT / "data" / "papers.yaml"
#: Papers of these paradigms that link official code must name their reference.
CODE_PARADIGMS = ("model reprogramming", "prompt tuning")
MIN_REFERENCES = 60


@pytest.fixture(scope="module")
def papers():
    result = validate.load(DATABASE)
    assert not result.problems, "\n".join(p.format() for p in result.problems)
    return list(result.papers)


def test_catalog_json_is_fresh_and_lists_every_registered_name() -> None:
    from reference import catalog, registry

    assert catalog.main(["--check"]) == 0, "run: python -m reference.catalog"
    data = json.loads(catalog.CATALOG.read_text(encoding="utf-8"))
    assert sorted(data["manipulations"]) == registry.list_manipulations()
    assert sorted(data["alignments"]) == registry.list_alignments()
    cat = refcatalog.load()
    assert cat.manipulations["pad_prompter"] == ("learnable", "input", "additive")
    assert cat.alignments["contextual_calibration"] == "statistical"
    assert cat.presets["ilm_vp"] == ("pad_prompter", "ilm")


def test_validation_reads_the_catalogue_without_importing_torch() -> None:
    code = textwrap.dedent(f"""
        import sys
        from reprogrammability import validate
        result = validate.load({str(DATABASE)!r})
        assert not result.problems, result.problems
        assert sum(p.reference is not None for p in result.papers) >= {MIN_REFERENCES}
        assert "torch" not in sys.modules, "validation imported torch"
    """)
    env_path = f"{ROOT / 'scripts'}"
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          env={"PYTHONPATH": env_path, "PATH": ""}, timeout=120)
    assert done.returncode == 0, done.stderr


def test_enough_papers_name_a_reference(papers) -> None:
    named = [p.id for p in papers if p.reference is not None]
    assert len(named) >= MIN_REFERENCES, f"only {len(named)} papers name a reference"


def test_every_paper_with_code_in_reprogramming_and_prompt_tuning_names_a_reference(papers):
    missing = [
        f"data/papers.yaml:{p.line}: {p.id}"
        for p in papers
        if p.code and set(p.paradigm) & set(CODE_PARADIGMS) and p.reference is None
    ]
    assert not missing, (
        "papers with official code in model reprogramming / prompt tuning must name their "
        "reference (reference: {manipulation: ..., alignment: ..., fidelity: ...}):\n"
        + "\n".join(missing)
    )


def test_a_faithful_reference_is_registered_for_its_paper(papers) -> None:
    """``fidelity: faithful`` must agree with the registry's own metadata, and every paper an
    implementation says it reproduces names that implementation."""
    from reference import registry

    listed: dict[str, set[str]] = {}
    for name in registry.list_manipulations():
        for pid in registry.manipulation_info(name).papers:
            listed.setdefault(pid, set()).add(name)
    for name in registry.list_alignments():
        for pid in registry.alignment_info(name).papers:
            listed.setdefault(pid, set()).add(name)
    by_id = {p.id: p for p in papers}
    wrong = []
    for p in papers:
        ref = p.reference
        if ref is not None and ref.fidelity == "faithful" \
                and not {ref.manipulation, ref.alignment} & listed.get(p.id, set()):
            wrong.append(f"{p.id}: faithful, but neither {ref.manipulation} nor {ref.alignment} "
                         "lists it in its registry papers")
    for pid, names in listed.items():
        paper = by_id.get(pid)
        if paper is not None and (paper.reference is None
                                  or not {paper.reference.manipulation,
                                          paper.reference.alignment} & names):
            wrong.append(f"{pid}: {', '.join(sorted(names))} reproduce(s) it, but its reference "
                         "names none of them")
    assert not wrong, "\n".join(wrong)


def test_every_reference_cell_is_one_of_the_papers_combinations(papers) -> None:
    cat = refcatalog.load()
    for p in papers:
        if p.reference is not None:
            cell = cat.cell(p.reference.manipulation, p.reference.alignment)
            assert cell in set(p.combinations()), p.id


# ------------------------------------------------------------------------------- validation

ENTRY = """\
papers:
  - id: bahng2022exploring
    title: "Exploring Visual Prompts for Adapting Large-Scale Models"
    authors: [Hyojin Bahng]
    year: 2022
    venue: arXiv
    url: https://arxiv.org/abs/2203.17274
    paradigm: prompt tuning
    configuration: learnable
    location: input
    operator: additive
    alignment: [identity, rule-based]
    reference: {REF}
"""


def _problems(ref: str) -> list[validate.Problem]:
    text = ENTRY.replace("{REF}", ref)
    return validate.load_bytes(text.encode(), "papers.yaml").problems


def test_a_valid_reference_loads_into_the_record() -> None:
    text = ENTRY.replace("{REF}", "{manipulation: pad_prompter, alignment: class-assignment, "
                                  "preset: bahng_pad_prompter, fidelity: faithful}")
    result = validate.load_bytes(text.encode(), "papers.yaml")
    assert not result.problems
    (paper,) = result.papers
    assert paper.reference.manipulation == "pad_prompter"
    assert paper.reference.preset == "bahng_pad_prompter"
    assert refcatalog.runnable(paper.reference) == (
        'reference.build_preset("bahng_pad_prompter", model, num_classes)')


def test_an_unknown_name_is_reported_at_its_column_with_a_suggestion() -> None:
    (problem,) = _problems("{manipulation: pad_promter, alignment: identity, fidelity: faithful}")
    assert (problem.line, problem.col) == (13, 31)
    assert problem.field == "papers[0].reference.manipulation"
    assert "did you mean 'pad_prompter'" in problem.message


def test_a_reference_outside_the_papers_cells_is_an_error_at_its_line() -> None:
    (problem,) = _problems("{manipulation: soft_prompt, alignment: identity, fidelity: simplified}")
    assert problem.line == 13 and problem.field == "papers[0].reference"
    assert "learnable · embedding · concatenative · identity" in problem.message
    assert "learnable · input · additive · identity" in problem.message  # what the tags allow


def test_a_preset_of_another_pair_and_a_bad_fidelity_are_errors() -> None:
    problems = _problems("{manipulation: pad_prompter, alignment: identity, preset: ilm_vp, "
                         "fidelity: exact}")
    messages = {p.field: p.message for p in problems}
    assert "preset 'ilm_vp' is pad_prompter + ilm" in messages["papers[0].reference.preset"]
    assert "'exact' is not a fidelity" in messages["papers[0].reference.fidelity"]
    missing = _problems("{manipulation: pad_prompter, fidelity: faithful}")
    assert any("missing required field 'alignment'" in p.message for p in missing)


def test_papers_without_a_reference_show_their_cells_stand_in(papers) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = (ROOT / "docs" / "papers.md").read_text(encoding="utf-8")
    for p in papers:
        if p.reference is not None:
            expected = f"runnable: `{refcatalog.runnable(p.reference)}` ({p.reference.fidelity})"
            assert expected in docs and expected[1:] in readme, p.id
    without = [p for p in papers if p.reference is None]
    assert without, "the database should keep papers without a reference (theory papers)"
    rows = {line.split('"')[1]: line for line in docs.splitlines() if line.startswith("| <a id=")}
    for p in without:
        assert "cell stand-in: `reference.build(" in rows[p.id], p.id
