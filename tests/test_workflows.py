"""The GitHub Actions workflows: schema-valid, least-privilege, and calling commands that exist.

CI on GitHub cannot be run here, so these tests are what stands between a typo in a workflow
and a red (or, worse, silently skipped) check on every PR.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reprogrammability.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))


def _load(path: Path) -> dict:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1); normalise it back.
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return data


def _run_schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    if not Path(CHECK_JSONSCHEMA).exists():
        pytest.fail("check-jsonschema is not installed (it is in the dev extra)")
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True, text=True, timeout=120,
    )


def test_there_are_the_four_workflows() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"validate.yml", "links-pr.yml", "links-scheduled.yml", "reference.yml",
            "pages.yml"} <= names


def test_workflows_match_the_github_schema() -> None:
    result = _run_schema_check(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert _run_schema_check(bad).returncode != 0


#: (workflow, job) -> the token scopes that job may write; every other job is read-only.
WRITERS: dict[tuple[str, str], set[str]] = {
    ("links-scheduled.yml", "links"): {"issues"},  # posts the link report
    ("discover.yml", "discover"): {"issues"},  # posts the candidates report
    # pushes the suggestion's branch, opens its PR, replies on the issue; runs no checkout code
    ("suggest-paper.yml", "reply"): {"contents", "pull-requests", "issues"},
    # publishes the built site: the Pages deployment and the OIDC token it is authorised with
    ("pages.yml", "deploy"): {"pages", "id-token"},
}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    wf = _load(path)
    assert "pull_request_target" not in wf["on"], "pull_request_target runs PR code with secrets"
    assert wf.get("permissions") == {"contents": "read"}, "top-level token must be read-only"
    for name, job in wf["jobs"].items():
        perms = job.get("permissions", {})
        assert perms != "write-all" and "write-all" not in str(perms)
        writes = {k for k, v in perms.items() if v == "write"}
        # Only the jobs named here may write, and only what they need.
        assert writes <= WRITERS.get((path.name, name), set()), (name, writes)
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout"):
                assert step.get("with", {}).get("persist-credentials") is False, name


def _repro_invocations() -> list[tuple[str, list[str]]]:
    calls = []
    for path in WORKFLOWS:
        for job in _load(path)["jobs"].values():
            for step in job["steps"]:
                for line in str(step.get("run", "")).splitlines():
                    line = line.strip()
                    if line.startswith("repro "):
                        words = shlex.split(line.replace("${{ github.base_ref }}", "main"))
                        calls.append((path.name, words[1:]))
    return calls


def test_workflows_call_repro() -> None:
    """validate + render check, the link checks and the weekly arXiv search."""
    called = {argv[0] for _, argv in _repro_invocations()}
    assert called == {"build", "links", "discover", "suggest", "site"}
    assert len(_repro_invocations()) == 7


@pytest.mark.parametrize("where,argv", _repro_invocations(), ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_repro_calls_in_workflows_parse(where: str, argv: list[str]) -> None:
    """Every `repro ...` line in a workflow names a real subcommand with real options."""
    parser = build_parser(argv[0])
    try:
        parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on unknown options
        pytest.fail(f"{where}: `repro {' '.join(argv)}` does not parse (exit {exc.code})")


def test_pages_builds_every_pull_request_and_deploys_only_main() -> None:
    """A broken site fails the PR (build and browser tests run on it); only a push to main
    uploads and deploys, and the job that may write runs nothing from the repository."""
    wf = _load(ROOT / ".github" / "workflows" / "pages.yml")
    assert "pull_request" in wf["on"] and wf["on"]["push"]["branches"] == ["main"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert "if" not in build and "permissions" not in build
    runs = [s.get("run", "") for s in build["steps"]]
    assert any(r.startswith("repro site") for r in runs)
    assert any("tests/test_site_browser.py" in r for r in runs)
    uses = {str(s.get("uses", "")).split("@")[0]: s for s in build["steps"] if "uses" in s}
    for action in ("actions/configure-pages", "actions/upload-pages-artifact"):
        assert uses[action]["if"] == "github.event_name != 'pull_request'"
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_site"
    assert deploy["needs"] == "build" and "refs/heads/main" in deploy["if"]
    assert "pull_request" in deploy["if"]
    assert [str(s.get("uses", "")).split("@")[0] for s in deploy["steps"]] == [
        "actions/deploy-pages"]
    assert all("run" not in s for s in deploy["steps"])
