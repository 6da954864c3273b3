"""``repro build``: the main job. Validate the database, then render every derived file.

Derived files are README.md, docs/*.md and schema/<collection>.schema.json (from ``render``),
docs/papers.bib (from ``bibtex``), the GitHub issue forms (from ``issueforms``) and the website's
own pages, docs/explorer.md and docs/cells/*.md (from ``website``). Nothing is
written when validation fails, and
``--check`` writes nothing at all: it prints a diff and exits 1 when a committed file is stale.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from .collections import Catalog
from .papers import Paper
from .render import configure, run_pipeline

__all__ = ["configure", "derived_outputs", "run"]


def derived_outputs(data: Catalog | Iterable[Paper], root: Path) -> dict[str, str]:
    """Every derived file, relative path -> text, computed from validated collections only."""
    from .bibtex import export_bib
    from .render import render_outputs

    from .issueforms import form_outputs
    from .website import site_outputs

    catalog = Catalog.of(data)
    outputs = render_outputs(catalog, root)
    outputs["docs/papers.bib"] = export_bib(catalog.papers)
    outputs.update(form_outputs())
    outputs.update(site_outputs(catalog))
    return outputs


def run(args: argparse.Namespace) -> int:
    return run_pipeline(args, derived_outputs)
