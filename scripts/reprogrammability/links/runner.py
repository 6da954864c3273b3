"""From extracted links to verdicts: local checks, excludes, and the HTTP engine, joined up.

Kept apart from the CLI so tests and the benchmark drive exactly what ``repro links`` runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .anchors import LocalChecker
from .config import Config
from .extract import LOCAL, OTHER, REMOTE, ExtractError, Link, extract_text, remote_key
from .results import Result, Status

if TYPE_CHECKING:
    import subprocess


@dataclass(frozen=True)
class Checked:
    """One occurrence and its verdict (occurrences of the same URL share one ``Result``)."""

    link: Link
    result: Result


class GitError(ValueError):
    """``--changed-only`` could not read the base revision (a usage error)."""


def check_links(
    links: Iterable[Link],
    config: Config,
    root: Path,
    *,
    cache=None,
    offline: bool = False,
    only_urls: set[str] | None = None,
    checker=None,
) -> tuple[list[Checked], list[str]]:
    """Verdicts for every occurrence, and warnings worth printing (cache, arXiv fallback).

    ``only_urls`` (from ``--changed-only``) restricts the remote URLs checked; local links are
    always checked, since they are free and a renamed heading breaks anchors without any link
    changing. ``checker`` is an ``HttpChecker`` (made from ``config`` when not given).
    """
    from .checker import HttpChecker, checkable_fragment

    local = LocalChecker(root)
    pending: list[tuple[Link, str]] = []
    #: fragments to look for, per URL (``page.html#section`` needs ``id="section"`` there)
    fragments: dict[str, set[str]] = {}
    out: list[Checked | None] = []
    shared: dict[tuple, Result] = {}

    def one(result: Result) -> Result:
        """Identical verdicts on the same target share one object (one JSON entry, counted once)."""
        return shared.setdefault((result.via, result.url, result.status, result.reason), result)

    for link in links:
        if (
            link.kind == REMOTE
            and only_urls is not None
            and remote_key(link.target) not in only_urls
        ):
            continue
        if link.kind == OTHER:
            excluded = f"{link.target.split(':', 1)[0].lower()}: links are not checked"
        else:
            pattern = config.excluded_by(link.target)
            excluded = None if pattern is None else f"excluded by pattern {pattern!r}"
        if excluded is not None:
            result = Result(link.target, Status.EXCLUDED, excluded, via="none")
            out.append(Checked(link, one(result)))
            continue
        if link.kind == LOCAL:
            out.append(Checked(link, one(local.check(link))))
            continue
        if offline:
            out.append(
                Checked(
                    link,
                    one(
                        Result(
                            remote_key(link.target),
                            Status.EXCLUDED,
                            "not checked (--offline)",
                            via="none",
                        )
                    ),
                )
            )
            continue
        url = remote_key(link.target)
        fragment = link.target.partition("#")[2]
        if fragment and checkable_fragment(fragment):
            fragments.setdefault(url, set()).add(fragment)
            pending.append((link, f"{url}#{fragment}"))
        else:
            pending.append((link, url))
        out.append(None)

    warnings: list[str] = []
    if pending:
        checker = checker or HttpChecker(config, cache=cache)
        plain = [key for _, key in pending if "#" not in key]
        results = checker.check_all(plain, fragments)
        warnings.extend(checker.warnings)
        fetched = list({id(r): r for r in results.values() if r.via == "http"}.values())
        if len(fetched) >= 3 and all(r.status is Status.ERROR for r in fetched):
            warnings.append(
                f"all {len(fetched)} remote checks failed without an answer: "
                "is the network (or DNS) reachable from here?"
            )
        it = iter(pending)
        for i, item in enumerate(out):
            if item is None:
                link, url = next(it)
                out[i] = Checked(link, results[url])
    if cache is not None:
        warnings.extend(cache.warnings)
    return [c for c in out if c is not None], warnings


# ---------------------------------------------------------------------------------------------
# --changed-only


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # only --changed-only needs it: kept off every other run's start-up

    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError:
        raise GitError("--changed-only needs git, which is not installed") from None


def verify_revision(root: Path, rev: str) -> None:
    if rev.startswith("-"):
        raise GitError(f"--base {rev!r} is not a revision")
    proc = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise GitError(f"--base {rev!r} is not a commit in the git repository at {root}")


def text_at(root: Path, rev: str, relpath: str) -> str | None:
    """The file's text at ``rev`` (None when it did not exist there)."""
    proc = _git(root, "show", f"{rev}:./{relpath}")
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace")


def added_urls(root: Path, rev: str, relpaths: Iterable[str], current: Iterable[Link]) -> set[str]:
    """Remote URLs present now but in none of the files at ``rev``."""
    verify_revision(root, rev)
    before: set[str] = set()
    for rel in relpaths:
        text = text_at(root, rev, rel)
        if text is None:
            continue
        try:
            links = extract_text(text, rel)
        except ExtractError:
            links = []  # the base did not parse: everything in that file counts as new
        before.update(remote_key(l.target) for l in links if l.kind == REMOTE)
    now = {remote_key(l.target) for l in current if l.kind == REMOTE}
    return now - before
