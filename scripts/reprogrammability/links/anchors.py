"""Relative links and ``#anchors`` inside the repository, resolved the way GitHub renders them.

A relative link is resolved against the directory of the file that contains it (a leading ``/``
means the repository root, as on GitHub); the target must exist inside the repository. A fragment
into a markdown file must name one of the anchors that file defines (heading slugs with GitHub's
duplicate suffixes, or an explicit ``id``/``name``). Fragments into other files are GitHub line
anchors (``#L10-L20``) or viewer state we cannot verify, so they are accepted.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote

from .extract import Link, is_markdown, markdown_anchors
from .results import Result, Status

_LINE_ANCHOR = re.compile(r"L\d+(C\d+)?(-L\d+(C\d+)?)?")


class LocalChecker:
    """Checks LOCAL links; anchor sets are computed once per target file."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._anchors: dict[Path, set[str]] = {}

    def anchors_of(self, path: Path) -> set[str]:
        path = path.resolve()
        if path not in self._anchors:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._anchors[path] = markdown_anchors(text)
        return self._anchors[path]

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(path)

    def check(self, link: Link) -> Result:
        now = time.time()
        target = link.target
        path_part, _, fragment = target.partition("#")
        path_part = path_part.split("?", 1)[0]
        source = (self.root / link.file).resolve()
        if not path_part:
            candidate = source
        else:
            decoded = unquote(path_part)
            if decoded.startswith("/"):
                candidate = (self.root / decoded.lstrip("/")).resolve()
            else:
                candidate = (source.parent / decoded).resolve()
        shown = self._rel(candidate) + (f"#{fragment}" if fragment else "")

        def verdict(status: Status, reason: str) -> Result:
            return Result(url=shown, status=status, reason=reason, checked_at=now, via="local")

        if candidate != self.root and self.root not in candidate.parents:
            return verdict(Status.DEAD, "points outside the repository")
        if not candidate.exists():
            return verdict(Status.DEAD, f"no such file or directory: {self._rel(candidate)}")
        if not fragment:
            return verdict(Status.OK, "exists")
        fragment = unquote(fragment)
        page = candidate
        if candidate.is_dir():
            readme = next(
                (
                    candidate / n
                    for n in ("README.md", "readme.md", "README.markdown")
                    if (candidate / n).is_file()
                ),
                None,
            )
            if readme is None:
                return verdict(Status.DEAD, f"#{fragment}: {self._rel(candidate)}/ has no README")
            page = readme
        if not is_markdown(page):
            if _LINE_ANCHOR.fullmatch(fragment):
                return verdict(Status.OK, "line anchor")
            return verdict(Status.OK, "fragment not checked (not a markdown file)")
        anchors = self.anchors_of(page)
        if fragment in anchors or fragment.lower() in anchors:
            return verdict(Status.OK, "anchor exists")
        import difflib  # only for a missing anchor

        hint = difflib.get_close_matches(fragment.lower(), sorted(anchors), n=1)
        suggestion = f" (did you mean #{hint[0]}?)" if hint else ""
        return verdict(Status.DEAD, f"no anchor #{fragment} in {self._rel(page)}{suggestion}")
