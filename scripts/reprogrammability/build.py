"""``repro build``: the main job. Validate the database, then render every derived file.

Derived files are README.md, docs/papers.md, docs/taxonomy.md, schema/papers.schema.json (from
``render``) and docs/papers.bib (from ``bibtex``). Nothing is written when validation fails, and
``--check`` writes nothing at all: it prints a diff and exits 1 when a committed file is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .papers import DEFAULT_DATABASE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", nargs="?", default=DEFAULT_DATABASE, help="the YAML database")
    parser.add_argument("--root", default=".", help="repository root the outputs are written under")
    parser.add_argument("--check", action="store_true", help="only report stale outputs (exit 1)")
    parser.add_argument(
        "--github", action="store_true", default=None,
        help="emit GitHub Actions annotations (default: when GITHUB_ACTIONS=true)",
    )


def derived_outputs(papers: list, root: Path) -> dict[str, str]:
    """Every derived file, relative path -> text, computed from validated papers only."""
    from .bibtex import export_bib
    from .render import render_outputs

    outputs = render_outputs(papers, root)
    outputs["docs/papers.bib"] = export_bib(papers)
    return outputs


def run(args: argparse.Namespace) -> int:
    from .render import check_outputs, write_outputs
    from .validate import load, report

    result = load(args.database)
    if result.problems:
        report(result.problems, sys.stderr, github=args.github)
        return 1
    root = Path(args.root)
    outputs = derived_outputs(result.papers, root)
    if args.check:
        return 1 if check_outputs(outputs, root, sys.stdout) else 0
    changed = write_outputs(outputs, root)
    print(f"{len(result.papers)} papers valid; {len(changed)} of {len(outputs)} outputs changed"
          + (f": {', '.join(changed)}" if changed else ""))
    return 0
