"""CITATION.cff, the pre-commit hook manifest and config: valid, and calling real commands."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from reprogrammability.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)


def test_citation_file_matches_the_cff_schema(tmp_path):
    ok = _run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.citation-file-format",
              "CITATION.cff")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "CITATION.cff"
    bad.write_text("cff-version: 1.2.0\ntitle: x\n")  # no message, no authors
    assert _run(str(BIN / "check-jsonschema"), "--builtin-schema",
                "vendor.citation-file-format", str(bad)).returncode != 0


def test_citation_version_is_the_package_version():
    import tomllib

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["version"] == project["version"] and cff["license"] == project["license"]


@pytest.mark.parametrize("kind, path", [("validate-config", ".pre-commit-config.yaml"),
                                        ("validate-manifest", ".pre-commit-hooks.yaml")])
def test_pre_commit_files_are_valid(kind, path):
    ok = _run(str(BIN / "pre-commit"), kind, path)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def _entries():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return [h["entry"] for h in hooks] + [h["entry"] for r in config["repos"] for h in r["hooks"]]


@pytest.mark.parametrize("entry", _entries())
def test_hooks_call_real_repro_commands(entry):
    words = shlex.split(entry)
    assert words[0] == "repro"
    build_parser(words[1]).parse_args(words[1:])  # exits 2 on an unknown option
