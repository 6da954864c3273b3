"""``repro site``: the website, built offline from the same data and pipeline as README.md.

The content is decided by the render pipeline, not here: every page is a derived file that
``build.derived_outputs`` computes from the validated collections (README.md, docs/*.md, the
explorer and the cell pages from ``website.py``) or a hand-written file of the repository.
This module only

1. validates the collections (nothing is built while one has a problem) and computes the
   derived files in memory, so the site always shows what the data says, even before
   ``repro build`` has been run;
2. stages the site's sources (:func:`stage`): the README as the home page, every docs/ page and
   asset, the reference implementations' catalogue, and every repository file those pages link
   to, followed link by link, so a link that works on GitHub works on the site too;
3. writes the generator's configuration, with a navigation made from the pages that exist
   (:func:`navigation`: a new docs/*.md page appears without a change here), and runs the
   generator (MkDocs with the Material theme; README.md says why) in strict mode, so a broken
   link or anchor fails the build.

Everything happens under ``build/site/`` (sources) and ``_site/`` (HTML, the Pages artifact);
nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from .papers import DEFAULT_DATABASE

#: Where the site's sources are staged and where the HTML goes (relative to the root).
STAGING_DIR = "build/site"
OUTPUT_DIR = "_site"
SITE_NAME = "Neural Network Reprogrammability"
SITE_DESCRIPTION = ("A machine-checked map of neural network reprogrammability: model "
                    "reprogramming, prompt tuning and prompt instruction.")

#: Pages always on the site besides README.md and docs/ (when they exist).
EXTRA_PAGES: tuple[str, ...] = ("reference/README.md", "CONTRIBUTING.md")
#: Stylesheets and scripts every page loads (hand-written, under docs/assets/).
EXTRA_CSS: tuple[str, ...] = ("docs/assets/explorer.css",)
EXTRA_JAVASCRIPT: tuple[str, ...] = ("docs/assets/explorer.js",)

#: Navigation order of the docs/ pages the pipeline knows; any other docs/*.md page follows
#: these in name order, so a page added later (leaderboards, results) needs no change here.
DOCS_ORDER: tuple[str, ...] = (
    "explorer", "papers", "taxonomy", "applications", "leaderboards", "reference-results",
    "datasets", "tools", "resources",
)
#: Page titles in the navigation (otherwise the page's first ``# heading``).
NAV_TITLES: dict[str, str] = {
    "README.md": "Home",
    "reference/README.md": "Reference implementations",
    "CONTRIBUTING.md": "Contributing",
}


class SiteError(RuntimeError):
    """The site cannot be built; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# Staging: the pages and files of the site, followed link by link.


@dataclass
class Staged:
    """The site's sources: markdown pages (text) and other files (copied), by repository path."""

    pages: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    #: Directory listings generated for linked directories without a README (path -> text).
    listings: dict[str, str] = field(default_factory=dict)

    def write(self, dest: Path) -> None:
        """Write everything under ``dest`` (emptied first: a removed page must disappear)."""
        if dest.exists():
            shutil.rmtree(dest)
        for rel, text in {**self.pages, **self.listings}.items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for rel, source in self.files.items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def _is_markdown(rel: str) -> bool:
    return rel.lower().endswith(".md")


def _local_targets(text: str, rel: str) -> list[str]:
    """Repository paths (POSIX, normalised) of the relative links of a markdown page."""
    from .links.extract import LOCAL, extract_markdown_text

    base = PurePosixPath(rel).parent
    targets = []
    for link in extract_markdown_text(text, rel):
        if link.kind != LOCAL:
            continue
        path = unquote(link.target.partition("#")[0].partition("?")[0])
        if not path:
            continue
        joined = PurePosixPath(path.lstrip("/")) if path.startswith("/") else base / path
        parts: list[str] = []
        for part in joined.parts:
            if part == "..":
                if not parts:
                    break  # outside the repository: left for the generator to report
                parts.pop()
            elif part != ".":
                parts.append(part)
        else:
            targets.append("/".join(parts))
    return targets


def _listing(rel_dir: str, names: list[str]) -> str:
    items = "\n".join(f"- [{name}]({name})" for name in names)
    return (f"# {rel_dir}/\n\nThe files of `{rel_dir}/` in the repository (this directory has "
            f"no README).\n\n{items}\n")


def stage(root: Path, outputs: dict[str, str]) -> Staged:
    """The site's pages and files: derived files from ``outputs``, the rest from ``root``.

    Seeds are README.md, every derived or committed file under docs/, and :data:`EXTRA_PAGES`;
    from there every relative link to a file of the repository adds that file (a markdown file
    as a page, whose links are followed in turn; any other file as a download; a directory as
    its README, or a generated listing when it has none). Derived files always come from
    ``outputs``, so a stale committed copy never reaches the site.
    """
    root = root.resolve()
    staged = Staged()
    queue: deque[str] = deque()

    def text_of(rel: str) -> str | None:
        if rel in outputs:
            return outputs[rel]
        path = root / rel
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def add(rel: str) -> None:
        if rel in staged.pages or rel in staged.files or rel in staged.listings:
            return
        if rel in outputs and not _is_markdown(rel):
            # A derived download (docs/papers.bib, a schema): written from memory.
            staged.pages[rel] = outputs[rel]
            return
        path = root / rel
        if rel not in outputs and path.is_dir():
            for name in ("README.md", "index.md"):
                if (path / name).is_file():
                    add(f"{rel}/{name}" if rel else name)
                    return
            names = sorted(p.name for p in path.iterdir() if p.is_file()
                           and not p.name.startswith("."))
            staged.listings[f"{rel}/index.md"] = _listing(rel, names)
            for name in names:
                add(f"{rel}/{name}")
            return
        if _is_markdown(rel):
            text = text_of(rel)
            if text is not None:
                staged.pages[rel] = text
                queue.append(rel)
        elif path.is_file():
            staged.files[rel] = path

    add("README.md")
    for rel in sorted(r for r in outputs if r.startswith("docs/")):
        add(rel)
    docs = root / "docs"
    if docs.is_dir():
        for path in sorted(docs.rglob("*")):
            if path.is_file() and not any(p.startswith(".") for p in path.parts):
                add(path.relative_to(root).as_posix())
    for rel in EXTRA_PAGES:
        if (root / rel).is_file() or rel in outputs:
            add(rel)
    while queue:
        rel = queue.popleft()
        for target in _local_targets(staged.pages[rel], rel):
            if target in outputs or (root / target).exists():
                add(target)
    return staged


# --------------------------------------------------------------------------------------------
# Navigation and configuration.


def _title(text: str, rel: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return PurePosixPath(rel).stem.replace("-", " ").capitalize()


def navigation(staged: Staged) -> list[dict]:
    """The site's menu, from the pages that exist: home, the docs pages (known ones in
    :data:`DOCS_ORDER`, others by name), the cell pages as one section, then the extra pages."""
    pages = staged.pages

    def entry(rel: str) -> dict:
        return {NAV_TITLES.get(rel) or _title(pages[rel], rel): rel}

    rank = {name: i for i, name in enumerate(DOCS_ORDER)}
    docs = sorted((r for r in pages if _is_markdown(r) and PurePosixPath(r).parent.as_posix()
                   == "docs"), key=lambda r: (rank.get(PurePosixPath(r).stem, len(rank)), r))
    nav = [entry("README.md")] if "README.md" in pages else []
    for rel in docs:
        nav.append(entry(rel))
        if PurePosixPath(rel).stem == "taxonomy":
            cells = _cell_pages(pages)
            if cells:
                nav.append({"Taxonomy cells": [entry(r) for r in cells]})
    nav.extend(entry(rel) for rel in EXTRA_PAGES if rel in pages)
    return nav


def _cell_pages(pages: dict[str, str]) -> list[str]:
    """The cell pages in the taxonomy's order (λ, then ℓ, then τ, as in the matrix)."""
    from . import taxonomy
    from .website import CELLS_DIR, cell_slug

    return [rel for rel in (f"{CELLS_DIR}/{cell_slug(c)}.md"
                            for c in taxonomy.manipulation_cells()) if rel in pages]


class _PythonCall:
    """A ``!!python/object/apply`` value in the generated YAML (the toc extension's slugify)."""

    def __init__(self, name: str, kwds: dict) -> None:
        self.name, self.kwds = name, kwds


def config_text(staged: Staged, *, docs_dir: str, site_dir: str, site_url: str | None) -> str:
    """The generator's configuration (mkdocs.yml) as YAML text."""
    import yaml

    nav = navigation(staged)
    in_nav = set(_flatten(nav))
    outside = sorted(r for r in {**staged.pages, **staged.listings} if _is_markdown(r)
                     and r not in in_nav)
    config: dict = {
        "site_name": SITE_NAME,
        "site_description": SITE_DESCRIPTION,
        **({"site_url": site_url} if site_url else {}),
        "docs_dir": docs_dir,
        "site_dir": site_dir,
        "use_directory_urls": True,
        "theme": {
            "name": "material",
            # Fonts from the system: the default would load Google Fonts, i.e. the network.
            "font": False,
            "features": ["navigation.top", "search.highlight", "content.code.copy"],
        },
        "plugins": ["search"],
        "extra_css": list(EXTRA_CSS),
        "extra_javascript": list(EXTRA_JAVASCRIPT),
        "markdown_extensions": [
            "tables",
            "attr_list",
            "md_in_html",
            # GitHub's heading anchors (lower case, punctuation dropped, Unicode letters kept),
            # so every `page.md#anchor` written for GitHub resolves on the site as well.
            {"toc": {"permalink": True, "slugify": _PythonCall(
                "pymdownx.slugs.slugify", {"case": "lower"})}},
        ],
        # Warnings fail the build (strict). A link to a directory (`reference/`) is
        # "unrecognized" to MkDocs although it resolves (to the directory's README or listing),
        # so those are info only; the browser tests check every link of the built site.
        "validation": {
            "omitted_files": "warn", "absolute_links": "warn", "unrecognized_links": "info",
            "anchors": "warn",
        },
        "nav": nav,
        **({"not_in_nav": "\n".join("/" + r for r in outside)} if outside else {}),
    }

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(_PythonCall, lambda d, call: d.represent_mapping(
        f"tag:yaml.org,2002:python/object/apply:{call.name}", {"kwds": call.kwds}))
    header = ("# Generated by `repro site` (scripts/reprogrammability/sitegen.py) for this "
              "build only; do not edit.\n")
    return header + yaml.dump(config, Dumper=Dumper, allow_unicode=True, sort_keys=False)


def _flatten(nav: list) -> list[str]:
    out: list[str] = []
    for item in nav:
        for value in item.values():
            out.extend(_flatten(value) if isinstance(value, list) else [value])
    return out


# --------------------------------------------------------------------------------------------
# The command.


def generator_command(config: Path) -> list[str]:
    """MkDocs in strict mode: a broken link, anchor or page fails the build."""
    return [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
            "--config-file", str(config)]


def build_site(root: Path, outputs: dict[str, str], out: Path, *, staging: Path | None = None,
               site_url: str | None = None, quiet: bool = False) -> Path:
    """Stage the sources (under ``staging``, default ``root/build/site``) and build the HTML
    into ``out``."""
    import importlib.util

    missing = [m for m in ("mkdocs", "material") if importlib.util.find_spec(m) is None]
    if missing:
        raise SiteError(f"{', '.join(missing)} not installed: pip install -e '.[site]'")
    out = out.resolve()
    if out == root.resolve() or out in root.resolve().parents or (
            out.is_dir() and any(out.iterdir()) and not (out / "sitemap.xml").exists()):
        # The generator empties its output directory first: never point it at anything else.
        raise SiteError(f"{out} is not empty and holds no previous site build; choose another "
                        "--out (the generator deletes what is there)")
    staging = staging or root / STAGING_DIR
    staged = stage(root, outputs)
    docs_dir = staging / "src"
    staged.write(docs_dir)
    config = (staging / "mkdocs.yml").resolve()
    config.write_text(config_text(staged, docs_dir="src", site_dir=str(out),
                                  site_url=site_url), encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(generator_command(config), cwd=staging, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SiteError(f"the site generator failed (exit {proc.returncode}):\n"
                        + (proc.stdout + proc.stderr).strip())
    if not quiet:
        # MkDocs logs every page at INFO; only what deserves attention is repeated.
        for line in (proc.stdout + proc.stderr).splitlines():
            if not line.startswith("INFO"):
                print(line, file=sys.stderr)
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", nargs="?", default=DEFAULT_DATABASE,
                        help="the papers file; the other collections are read beside it")
    parser.add_argument("--root", default=".", help="repository root (pages and files are "
                                                    "read from it)")
    parser.add_argument("--out", default=None,
                        help=f"where the HTML goes (default: ROOT/{OUTPUT_DIR})")
    parser.add_argument("--site-url", default=None,
                        help="the site's public URL (canonical links, sitemap); optional")
    parser.add_argument("--github", action="store_true", default=None,
                        help="emit GitHub Actions annotations (default: when GITHUB_ACTIONS=true)")


def run(args: argparse.Namespace) -> int:
    from .build import derived_outputs
    from .validate import load_collections, report

    loaded = load_collections(args.database)
    if loaded.problems:
        report(loaded.problems, sys.stderr, github=args.github)
        print(f"{args.database}: site not built; fix the problems above first", file=sys.stderr)
        return 1
    root = Path(args.root)
    out = Path(args.out) if args.out else root / OUTPUT_DIR
    start = time.perf_counter()
    try:
        build_site(root, derived_outputs(loaded.catalog, root), out, site_url=args.site_url)
    except SiteError as exc:
        print(f"repro site: {exc}", file=sys.stderr)
        return 1
    print(f"built the site into {out} in {time.perf_counter() - start:.1f} s")
    return 0
