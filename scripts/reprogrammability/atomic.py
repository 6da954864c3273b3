"""Atomic file writes: a reader (or a crash) never sees a half-written output.

One file is written through a temporary file beside it and ``os.replace`` (:func:`atomic_open`);
several files (``repro build``'s outputs) are written all or nothing (:func:`write_files`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import UsageError


class WriteError(UsageError):
    """An output cannot be written: ``cannot write PATH: reason``; nothing was changed."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


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


def write_files(files: dict[Path, str]) -> list[Path]:
    """Write every file or none: returns the paths whose bytes changed, in the given order.

    Every changed file is first staged as a temporary file beside its target (same directory,
    so the rename cannot cross file systems); only when all are staged are they renamed into
    place. A target that cannot be written (a directory, no permission, a full disk) raises
    :class:`WriteError` before anything is replaced. Should a rename still fail, the files
    already replaced get their old contents back, so the outputs never mix two builds.
    Unchanged files are not touched (their mtime is kept).
    """
    staged: list[tuple[Path, str, bytes | None]] = []  # (target, temporary, old bytes)
    try:
        for target, text in files.items():
            data = text.encode("utf-8")
            target = Path(target)
            try:
                old: bytes | None = target.read_bytes()
            except FileNotFoundError:
                old = None
            except OSError as exc:
                raise WriteError(target, _reason(exc)) from None
            if old == data:
                continue
            staged.append((target, _stage(target, data), old))
    except BaseException:
        _discard(tmp for _, tmp, _ in staged)
        raise
    done: list[tuple[Path, bytes | None]] = []
    for i, (target, tmp, old) in enumerate(staged):
        try:
            os.replace(tmp, target)
        except OSError as exc:
            _discard(t for _, t, _ in staged[i:])
            _restore(done)
            raise WriteError(target, _reason(exc)) from None
        done.append((target, old))
    return [target for target, _ in done]


def _stage(target: Path, data: bytes) -> str:
    """A temporary file beside ``target`` holding ``data``, with the target's permissions."""
    if target.is_dir():
        raise WriteError(target, "it is a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise WriteError(target, _reason(exc)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o644)
    except OSError as exc:
        _discard([tmp])
        raise WriteError(target, _reason(exc)) from None
    except BaseException:
        _discard([tmp])
        raise
    return tmp


def _discard(paths: Iterator[str] | list[str]) -> None:
    for tmp in paths:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _restore(done: list[tuple[Path, bytes | None]]) -> None:
    """Put back what the renames in ``done`` replaced (best effort: the error is raised anyway)."""
    for target, old in reversed(done):
        try:
            if old is None:
                target.unlink()
            else:
                with atomic_open(target) as fh:
                    fh.write(old)
        except OSError:
            pass
