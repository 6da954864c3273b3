"""Atomic writes: outputs are replaced whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reprogrammability.atomic import atomic_open, write_text_atomic


def test_write_then_identical_write_touches_nothing(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "README.md"
    assert write_text_atomic(target, "one\n") is True
    os.utime(target, (1_000_000, 1_000_000))
    assert write_text_atomic(target, "one\n") is False
    assert target.stat().st_mtime == 1_000_000
    assert write_text_atomic(target, "two\n") is True
    assert target.read_text() == "two\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_failure_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "docs.md"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["docs.md"]


def test_permissions_of_the_replaced_file_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("#!/bin/sh\n")
    target.chmod(0o755)
    write_text_atomic(target, "#!/bin/sh\necho hi\n")
    assert target.stat().st_mode & 0o777 == 0o755
