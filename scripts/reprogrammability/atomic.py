"""Atomic file writes: a reader (or a crash) never sees a half-written output."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; on success it replaces ``path``.

    If the block raises, the temporary file is removed and ``path`` is left as it was. The new
    file keeps the old one's permissions (0644 for a new file; mkstemp alone would give 0600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`).

    Returns False (and leaves the file untouched, mtime included) when the content is already
    identical, so re-rendering unchanged data touches nothing.
    """
    data = text.encode("utf-8")
    try:
        if Path(path).read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    with atomic_open(path) as fh:
        fh.write(data)
    return True
