"""awesome-lint on the rendered README: the list must stay eligible for the Awesome index.

awesome-lint 2.3.0 (``node_modules/.bin/awesome-lint``, an ESM CLI) lints a README in its own
directory, where it also wants a non-empty contributing.md. Each test lints a temporary copy in
a fresh directory with the project's CONTRIBUTING.md and LICENSE beside it, inside a fresh git
repository without a remote, and reads the findings through a small JSON reporter (the CLI
imports a reporter module by path), so the assertions see rule ids instead of pretty text.

Network-only rules, checked by hand in node_modules/awesome-lint/rules (see NETWORK_ONLY_RULES):

- ``awesome-github`` needs the repository's GitHub remote and then queries the GitHub API for
  its description, topics and license. A temporary repository has no GitHub remote (and giving
  it one would make the rule call api.github.com), so here it always reports "Awesome list must
  reside in a valid git repository"; that is the only finding these tests tolerate.
- ``awesome-git-repo-age`` (30-day-old repository, via git history or the GitHub API) exists in
  2.3.0 but is commented out of its rule set, so it never runs.
- ``awesome-badge`` only compares the badge URL with an allow-list; it fetches nothing, so it
  is enforced. ``awesome-spell-check`` is configured as a warning, not an error.

Every run has a timeout so a linter that tries the network anyway fails the test instead of
hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from reprogrammability.papers import Paper
from reprogrammability.render import SURVEY_URL, render_outputs

ROOT = Path(__file__).resolve().parents[1]
AWESOME_LINT = ROOT / "node_modules" / ".bin" / "awesome-lint"
NODE = shutil.which("node")

#: Rules that can only pass with a GitHub remote and network access (see the module docstring).
NETWORK_ONLY_RULES = frozenset({"awesome-github", "awesome-git-repo-age"})

pytestmark = pytest.mark.skipif(
    NODE is None or not AWESOME_LINT.exists(),
    reason="needs node and node_modules/.bin/awesome-lint (npm ci installs it)",
)

_REPORTER = """\
export function report(files) {
  const out = [];
  for (const file of files) {
    for (const m of file.messages) {
      out.push({file: file.path, line: m.line, ruleId: m.ruleId, fatal: m.fatal, reason: m.reason});
    }
  }
  return JSON.stringify(out);
}
"""


def _lint(readme: str, directory: Path) -> list[dict]:
    """Run awesome-lint on ``readme`` in a fresh repository directory; its findings as dicts."""
    directory.mkdir()
    (directory / "README.md").write_text(readme, encoding="utf-8")
    for name in ("CONTRIBUTING.md", "LICENSE"):
        shutil.copyfile(ROOT / name, directory / name)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(directory)], check=True, timeout=30)
    reporter = directory.parent / f"{directory.name}-reporter.mjs"
    reporter.write_text(_REPORTER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k.lower() != "github_token"}
    proc = subprocess.run(
        [str(AWESOME_LINT), "README.md", "--reporter", str(reporter)],
        cwd=directory, capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert lines, f"no report from awesome-lint (rc {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    findings = json.loads(lines[-1])
    errors = [f for f in findings if f["fatal"]]
    # The exit status and the findings must agree, or the reporter is reading the wrong thing.
    assert (proc.returncode != 0) == bool(errors), (proc.returncode, findings, proc.stderr)
    return findings


def _unexpected_errors(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["fatal"] and f["ruleId"] not in NETWORK_ONLY_RULES]


def _papers() -> list[Paper]:
    """Entries that stress the README line: markdown in titles, shared code, the survey."""
    base = {
        "venue": "ICLR", "paradigm": ("model reprogramming",), "configuration": ("learnable",),
        "location": ("input",), "operator": ("additive",), "alignment": ("statistical",),
    }
    return [
        Paper(id="p0", title="Adversarial Reprogramming of Neural Networks", year=2019,
              authors=("Gamaleldin F. Elsayed", "Ian Goodfellow", "Jascha Sohl-Dickstein"),
              url="https://arxiv.org/abs/1806.11146", arxiv="1806.11146",
              code="https://github.com/example/shared", **base),
        Paper(id="p1", title=r"A *Bold* <b>Idea</b> | [x](y) & `code` _under_", year=2023,
              authors=("de Vries, A.",), url="https://example.org/bold",
              code="https://github.com/example/shared",
              **{**base, "paradigm": ("prompt tuning",), "location": ("embedding", "hidden"),
                 "operator": ("concatenative",), "alignment": ("linear", "identity")}),
        Paper(id="p2",
              title="Chain-of-Thought Prompting Elicits Reasoning in Large Language Models",
              year=2022, authors=("Jason Wei",), url="https://arxiv.org/abs/2201.11903",
              **{**base, "venue": "arXiv", "paradigm": ("prompt instruction",),
                 "configuration": ("fixed",), "operator": ("concatenative",),
                 "alignment": ("identity",)}),
        Paper(id="p3", title="Neural Network Reprogrammability", year=2025, authors=("Zesheng Ye",),
              url=SURVEY_URL, **base),
    ]


def test_rendered_readme_passes_awesome_lint(tmp_path: Path) -> None:
    readme = render_outputs(_papers(), ".")["README.md"]
    findings = _lint(readme, tmp_path / "fixture")
    assert _unexpected_errors(findings) == []
    # Only the documented network-only rule fails, and only for lack of a GitHub remote.
    assert {f["ruleId"] for f in findings if f["fatal"]} <= NETWORK_ONLY_RULES


def test_readme_with_every_collection_passes_awesome_lint(tmp_path: Path) -> None:
    """Applications, tools, datasets and the learning path, with a tool at a paper's URL
    (it falls back to its docs entry) and descriptions without a final full stop."""
    from dataclasses import replace

    from reprogrammability.collections import Catalog
    from reprogrammability.papers import DomainPair
    from reprogrammability.records import Dataset, Resource, Tool

    first, *rest = _papers()
    first = replace(first, domain=DomainPair(("image",), ("audio", "text")),
                    backbones=("ResNet-50",), datasets=("esc",))
    catalog = Catalog(
        papers=(first, *rest),
        datasets=(Dataset("esc", "ESC-50", "dataset", "audio", "sound classification",
                          "https://example.org/esc", "Environmental sounds"),
                  Dataset("suite", "A *Suite*", "suite", "image", "image classification",
                          "https://example.org/suite", "Many tasks.", members=("esc",))),
        tools=(Tool(id="kit", name="Kit", kind="official code", url=first.url,
                    language="Python", implements=(first.id,), description="The paper's code"),
               Tool(id="lib", name="lib_x", kind="library", url="https://example.org/lib",
                    language="Python", description="lower-case start is fine after the kind")),
        resources=(Resource(id="start", title="Start <here>", year=2025, kind="survey",
                            url="https://example.org/s", level=1, description="Read first",
                            authors=("Zesheng Ye",)),
                   Resource(id="next", title="Next", kind="blog post",
                            url="https://example.org/n", level=2, description="Then this?")),
    )
    readme = render_outputs(catalog, ".")["README.md"]
    assert "## Tools & Libraries" in readme and "- [Kit]" not in readme
    assert "also lists the 1 entry whose page is already linked above" in readme
    findings = _lint(readme, tmp_path / "collections")
    assert _unexpected_errors(findings) == []


def test_empty_database_readme_passes_awesome_lint(tmp_path: Path) -> None:
    findings = _lint(render_outputs([], ".")["README.md"], tmp_path / "empty")
    assert _unexpected_errors(findings) == []


def test_committed_readme_passes_awesome_lint(tmp_path: Path) -> None:
    readme = ROOT / "README.md"
    if not (ROOT / "data" / "papers.yaml").exists():
        pytest.skip("data/papers.yaml is absent, so there is no rendered README to lint")
    findings = _lint(readme.read_text(encoding="utf-8"), tmp_path / "committed")
    assert _unexpected_errors(findings) == []


def test_the_harness_sees_real_errors(tmp_path: Path) -> None:
    """A README that breaks the list rules must fail here, or a passing lint proves nothing."""
    readme = render_outputs(_papers(), ".")["README.md"]
    broken = readme.replace(
        "- [Adversarial Reprogramming of Neural Networks](https://arxiv.org/abs/1806.11146) - ",
        "- [Adversarial Reprogramming of Neural Networks](https://example.org/bold) - lower, ",
    )
    assert broken != readme
    rules = {f["ruleId"] for f in _unexpected_errors(_lint(broken, tmp_path / "broken"))}
    assert "double-link" in rules
