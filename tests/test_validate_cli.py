"""``repro validate`` as contributors and CI run it: exit codes, output, and no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from reprogrammability import cli
from reprogrammability.taxonomy import AXES_BY_FIELD

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "tests" / "fixtures" / "validate" / "valid.yaml"

BAD = """papers:
  - id: a
    title: "A"
    authors: [Ada]
    year: 2021
    venue: ICLR
    url: https://x.org
    paradigm: model reprogramming
    configuration: learnable
    location: imput
    operator: additive
    alignment: linear
"""


def test_valid_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(VALID)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{VALID}: 4 papers valid\n" and err == ""


def test_quiet_prints_nothing_when_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", "--quiet", str(VALID)]) == 0
    assert capsys.readouterr() == ("", "")


def test_default_path_is_data_papers_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "papers.yaml").write_text(VALID.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate"]) == 0
    assert capsys.readouterr().out == "data/papers.yaml: 4 papers valid\n"


def test_invalid_file_exits_1_with_positions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    path = tmp_path / "papers.yaml"
    path.write_text(BAD, encoding="utf-8")
    assert cli.main(["validate", "--quiet", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        (f"{path}:10:15: papers[0].location: 'imput' is not a location value; did you mean "
         f"'input'? (expected one of {', '.join(AXES_BY_FIELD['location'].keys)})"),
        "1 problem in 1 paper",
    ]


def test_github_flag_adds_annotations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "papers.yaml"
    path.write_text(BAD, encoding="utf-8")
    assert cli.main(["validate", "--github", str(path)]) == 1
    err = capsys.readouterr().err
    assert (f"::error file={path},line=10,col=15,title=papers[0].location::'imput' is not a "
            "location value; did you mean 'input'?") in err


def test_github_actions_environment_adds_annotations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    path = tmp_path / "papers.yaml"
    path.write_text(BAD, encoding="utf-8")
    assert cli.main(["validate", str(path)]) == 1
    assert "::error file=" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["missing.yaml", "."])
def test_unreadable_file_exits_2(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["validate", str(tmp_path / target)]) == 2
    _, err = capsys.readouterr()
    assert err.startswith("repro validate: cannot read ") and "Traceback" not in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", "--no-such-option"])
    assert exc.value.code == 2


_NASTY = {
    "malformed.yaml": b"papers:\n  - title: [unclosed\n    year: 2021\n  - : :\n",
    "bomb.yaml": (
        b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        + b"".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n".encode()
            for p, n in zip("abcdefgh", "bcdefghi")
        )
    ),
    "binary.yaml": b"papers:\n  - title: \xff\xfe\x00\x01\n",
    "deep.yaml": b"papers:\n  - title: " + b"[" * 3000 + b"]" * 3000 + b"\n",
    "tags.yaml": b"papers:\n  - !!python/object/apply:os.system [echo hi]\n",
}


def test_hostile_files_give_problems_not_tracebacks(tmp_path: Path) -> None:
    for name, data in _NASTY.items():
        path = tmp_path / name
        path.write_bytes(data)
        proc = subprocess.run(
            [sys.executable, "-m", "reprogrammability", "validate", str(path)],
            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
        )
        assert proc.returncode == 1, (name, proc.stderr)
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        assert f"{path}:" in proc.stderr and "problem" in proc.stderr.splitlines()[-1]
        assert "hi" not in proc.stdout
