"""Markdown helpers shared by the renderer and the link checker.

The renderer makes headings and the link checker resolves ``#anchors`` into them; both must use
the same slug rules as GitHub, or a table of contents silently breaks.
"""

from __future__ import annotations

import re
import unicodedata

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
_SLUG_DROP = re.compile(r"[^\w\- ]", re.UNICODE)


def github_slug(heading: str) -> str:
    """GitHub's heading anchor: lower-case, punctuation dropped, spaces to hyphens.

    Letters, digits (any script), ``_`` and ``-`` survive; everything else (``·``, ``λ``
    survives since it is a letter, ``(``, ``:``, ``&``) is removed. Markdown emphasis and inline
    code markers are removed with it since GitHub slugs the rendered text.
    """
    text = unicodedata.normalize("NFC", heading).strip().lower()
    text = _SLUG_DROP.sub("", text)
    return text.replace(" ", "-")


def unique_slugs(headings: list[str]) -> list[str]:
    """Slugs for headings in document order, with GitHub's ``-1``, ``-2`` suffixes on repeats."""
    seen: dict[str, int] = {}
    out = []
    for h in headings:
        base = github_slug(h)
        n = seen.get(base, 0)
        out.append(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def escape_md(text: str) -> str:
    """Escape characters that markdown or HTML would interpret inside link text or table cells."""
    text = text.replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")
