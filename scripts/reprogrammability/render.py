"""``repro render``: README.md and docs/ from the collections, through Jinja templates.

The committed README and docs are derived files: ``render_outputs`` is a pure function of the
validated collections (a ``collections.Catalog``: papers, datasets, tools, resources, results;
no clock, no environment, stable ordering everywhere), so re-rendering
unchanged data changes nothing and ``--check`` can demand in CI that the committed files are
exactly what the data says. The templates in ``templates/`` hold the prose and layout, including
the per-paper lines (``items.md.j2``, rendered once per paper in a single pass even though
docs/taxonomy.md repeats a paper under every value it has); this module precomputes the rest once
per render (groupings, counts, padded tables, link bookkeeping) so that 10,000 papers render in
well under a second (``benchmarks/bench_build.py``).

Jinja's autoescape is HTML escaping and would be wrong for markdown, so it is off; instead every
free-text field (title, author, venue, note) goes through ``markdown.escape_md`` via the ``md``
filter, which is what keeps a title such as ``A *Bold* <Idea> | [x]`` literal on GitHub.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import refcatalog, results_pages, taxonomy
from .atomic import write_files
from .collections import COLLECTIONS, Catalog
from .errors import UnreadableInput
from .markdown import escape_md, unique_slugs
from .papers import DEFAULT_DATABASE

if TYPE_CHECKING:
    import jinja2

    from .papers import Paper
    from .records import Dataset, Resource, Tool

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

#: Output relpath -> template name (the schema is not templated: ``schema.schema_json()``).
TEMPLATES: dict[str, str] = {
    "README.md": "README.md.j2",
    "docs/papers.md": "papers.md.j2",
    "docs/taxonomy.md": "taxonomy.md.j2",
    "docs/applications.md": "applications.md.j2",
    "docs/datasets.md": "datasets.md.j2",
    "docs/tools.md": "tools.md.j2",
    "docs/resources.md": "resources.md.j2",
    "docs/leaderboards.md": "leaderboards.md.j2",
    "docs/reference-results.md": "reference-results.md.j2",
}
SCHEMA_PATH = "schema/papers.schema.json"
#: The SVG figures of the leaderboard (``results_pages.figure_texts``), rendered like the pages.
FIGURE_PATHS: tuple[str, ...] = (results_pages.FIGURE_PARAMS, results_pages.FIGURE_AVERAGES)
#: One JSON Schema per collection (``schema/papers.schema.json``, ``schema/datasets...``).
SCHEMA_PATHS: tuple[str, ...] = tuple(c.schema_path for c in COLLECTIONS)
#: Per-paper fragments shared by the three documents (see ``_render_items``).
ITEMS_TEMPLATE = "items.md.j2"

#: The survey and tutorial the README's introduction cites (linked only if no entry links them).
SURVEY_URL = "https://arxiv.org/abs/2506.04650"
SURVEY_TITLE = (
    "Neural Network Reprogrammability: A Unified Theme on Model Reprogramming, Prompt Tuning, "
    "and Prompt Instruction"
)
TUTORIAL_URL = "https://zyecs.github.io/awesome-reprogrammability/tutorial-AAAI26/"

#: README section headings, in document order. awesome-lint's ToC rule wants every level-2
#: heading after "Contents" listed in order, except "Contributing", which it forbids in the ToC.
README_SECTIONS: tuple[str, ...] = (
    "Set-up",
    "Taxonomy",
    "Quick Stats",
    "Papers",
    "Applications",
    "Tools & Libraries",
    "Datasets & Benchmarks",
    "Leaderboards",
    "Learning Resources",
    "Documentation",
)
#: Context keys of the sections, in README_SECTIONS order.
_SECTION_KEYS: tuple[str, ...] = (
    "setup", "taxonomy", "stats", "papers", "applications", "tools", "datasets", "leaderboards",
    "resources", "documentation",
)
#: Sections shown only when their collection has entries (no empty section, no fake content).
_OPTIONAL_SECTIONS: dict[str, str] = {
    "applications": "applications", "tools": "tools", "datasets": "datasets",
    "resources": "resources",
}
README_TITLE = "Awesome Neural Network Reprogrammability"
CONTRIBUTING_HEADING = "Contributing"

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
#: Characters that would end or break a markdown link destination, percent-encoded instead.
_HREF_ESCAPES = str.maketrans({"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", " ": "%20"})
_HREF_UNSAFE = re.compile(r"[()<> ]")


# --------------------------------------------------------------------------------------------
# The Jinja environment, built once per process.


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja environment: strict, whitespace-tidy, markdown-escaping via ``md``.

    StrictUndefined turns a typo in a template into an error at render time instead of an empty
    string in the committed README; templates are compiled once and cached by the environment.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        auto_reload=False,
    )
    # Small, direct filters: Jinja's built-in join/map go through async wrappers and per-item
    # filter lookups that cost more than the rest of a paper's line (measured on 10k papers).
    env.filters["md"] = _escape_cached
    env.filters["md_list"] = _md_list
    env.filters["commas"] = ", ".join
    env.filters["code_spans"] = _code_spans
    env.filters["links"] = _links
    return env


def _md_list(items: Iterable[str]) -> str:
    """Free-text items (authors), each escaped, comma-separated."""
    return ", ".join(map(_escape_cached, items))


def _code_spans(items: Iterable[str]) -> str:
    """Vocabulary strings as inline code, comma-separated (they never contain backticks)."""
    return ", ".join(f"`{item}`" for item in items)


def _links(pairs: Iterable[tuple[str, str]]) -> str:
    """``[label](url)`` links separated by a middle dot."""
    return " · ".join(f"[{label}]({url})" for label, url in pairs)


@lru_cache(maxsize=65536)
def _escape_cached(text: str) -> str:
    """``escape_md``, memoised (one author appears on many papers), minus control characters.

    A C0 control character in a title is invisible garbage from a copy-paste; it becomes a space
    here, which also keeps the items template's record separators unambiguous.
    """
    return escape_md(str(text)).translate(_CONTROL_TO_SPACE)


_CONTROL_TO_SPACE = {c: " " for c in range(0x20) if c not in (0x09, 0x0A)}


# --------------------------------------------------------------------------------------------
# Helpers shared by the context builders.


def normalize_url(url: str) -> str:
    """A URL's identity for the no-duplicate-links rule, close to awesome-lint's ``normalize-url``.

    Scheme, ``www.``, a trailing slash and an ``index.html`` are not part of what a reader sees
    as "the same link", so they are dropped; the host is case-insensitive, the path is not.
    """
    url = url.strip()
    if url.startswith("https://"):
        rest = url[8:]
    elif url.startswith("http://"):
        rest = url[7:]
    else:
        rest = _SCHEME.sub("", url)
    host, _sep, path = rest.partition("/")
    host = host.lower().removeprefix("www.")
    fragment = ""
    if "#" in path:
        path, _hash, fragment = path.partition("#")
        fragment = "#" + fragment if fragment else ""
    if "index.htm" in path:
        for index in ("index.html", "index.htm"):
            if path.endswith(index) and (path == index or path.endswith("/" + index)):
                path = path[: -len(index)]
    path = path.rstrip("/")
    return (host + "/" + path if path else host) + fragment


def href(url: str) -> str:
    """A URL made safe as a markdown link destination: ``(``, ``)``, ``<``, ``>`` and spaces
    are percent-encoded (equivalent for every server), so ``[t](url)`` can never end early."""
    if _HREF_UNSAFE.search(url) is None:
        return url
    return url.translate(_HREF_ESCAPES)


def _width(text: str) -> int:
    """Length in UTF-16 code units: the column unit remark-lint uses for table alignment."""
    return len(text.encode("utf-16-le")) // 2


def aligned_table(header: list[str], rows: Iterable[list[str]]) -> str:
    """A GFM table with padded cells so every pipe lines up (awesome-lint's pipe-alignment rule)."""
    rows = [list(r) for r in rows]
    widths = [max(3, _width(h)) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _width(cell))

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def short_authors(authors: tuple[str, ...]) -> str:
    """``A``, ``A and B`` or ``A et al.``, capitalised because it opens a sentence."""
    if not authors:
        return "Anonymous"
    if len(authors) == 1:
        text = authors[0]
    elif len(authors) == 2:
        text = f"{authors[0]} and {authors[1]}"
    else:
        text = f"{authors[0]} et al."
    return text[:1].upper() + text[1:]


def sort_key(paper: Paper) -> tuple:
    """Newest first, then by title (case-insensitively), then URL as the final tie-break."""
    return (-paper.year, paper.title.casefold(), paper.title, paper.url)


class Entry:
    """One paper as the templates see it: raw fields plus values precomputed once per render."""

    __slots__ = (
        "arxiv",
        "authors",
        "backbones",
        "cite",
        "code",
        "combos",
        "dataset_links",
        "doi",
        "domain_text",
        "id",
        "links",
        "note",
        "paper",
        "papers_row",
        "paradigms",
        "readme_code",
        "readme_item",
        "runnable",
        "sources",
        "tags",
        "targets",
        "taxonomy_item",
        "title",
        "url",
        "url_key",
        "venue",
        "year",
    )

    def __init__(self, paper: Paper, dataset_names: dict[str, str] | None = None) -> None:
        self.paper = paper
        self.id = paper.id
        self.title = paper.title
        self.url = href(paper.url)
        self.url_key = normalize_url(self.url)
        self.year = paper.year
        self.venue = paper.venue
        self.authors = paper.authors
        self.note = paper.note
        self.code = href(paper.code) if paper.code else None
        self.arxiv = paper.arxiv
        self.doi = paper.doi
        self.cite = short_authors(paper.authors)
        self.paradigms = paper.paradigm
        #: axis field -> tuple of values, in vocabulary order.
        self.tags = tags = {f: _ordered(f, getattr(paper, f)) for f in _AXIS_FIELDS}
        lams, locs, ops, oms = (tags[f] for f in _AXIS_FIELDS)
        if len(lams) == len(locs) == len(ops) == len(oms) == 1:
            self.combos = [f"{lams[0]} · {locs[0]} · {ops[0]} → {oms[0]}"]
        else:
            self.combos = [
                f"{lam} · {loc} · {op} → {om}"
                for lam in lams for loc in locs for op in ops for om in oms
            ]
        #: Extra links for docs/papers.md: (label, url); the title already links ``url``.
        self.links: list[tuple[str, str]] = []
        if paper.arxiv and self.url_key != f"arxiv.org/abs/{paper.arxiv}":
            self.links.append(("arXiv", f"https://arxiv.org/abs/{paper.arxiv}"))
        if paper.doi:
            self.links.append(("DOI", href(f"https://doi.org/{paper.doi}")))
        if self.code:
            self.links.append(("code", self.code))
        #: Facets: domain labels in vocabulary order, backbones, and dataset links into
        #: docs/datasets.md (by name when the dataset is known, else by id).
        self.sources = _domains(paper.domain.source) if paper.domain else ()
        self.targets = _domains(paper.domain.target) if paper.domain else ()
        self.domain_text = (f"{', '.join(self.sources)} → {', '.join(self.targets)}"
                            if paper.domain else "")
        self.backbones = paper.backbones
        names = dataset_names or {}
        self.dataset_links = [(_escape_cached(names.get(d, d)), f"datasets.md#{d}")
                              for d in paper.datasets]
        #: The code link the README may show (None when it would repeat a link, see below).
        self.readme_code: str | None = None
        #: What runs for the paper in reference/: its own method, or its first cell's stand-in.
        self.runnable = _runnable(paper, tuple(values[0] for values in tags.values()))
        #: Markdown fragments from templates/items.md.j2, filled in by ``_render_items``.
        self.readme_item = self.taxonomy_item = self.papers_row = ""


def _runnable(paper: Paper, first: tuple[str, ...]) -> str:
    """"runnable: `call` (fidelity)" for a paper with a reference, else "cell stand-in: `call`"
    (the defaults of ``first``, its first tag combination in vocabulary order, on a text
    backbone when the paper's source domain is text, else a vision one); "" when the catalogue
    names neither."""
    if paper.reference is not None:
        ref = paper.reference
        return f"runnable: `{refcatalog.runnable(ref)}` ({ref.fidelity})"
    modality = "text" if paper.domain and "text" in paper.domain.source else "vision"
    call = refcatalog.stand_in(first, modality)  # type: ignore[arg-type]
    return f"cell stand-in: `{call}`" if call else ""


_AXIS_FIELDS: tuple[str, ...] = tuple(a.field for a in taxonomy.AXES)
_RANK: dict[str, dict[str, int]] = {
    a.field: {k: i for i, k in enumerate(a.keys)} for a in taxonomy.AXES
}


_DOMAIN_RANK = {d.key: i for i, d in enumerate(taxonomy.DOMAINS)}
_DOMAIN_LABEL = {d.key: d.label for d in taxonomy.DOMAINS}


def _domains(keys: tuple[str, ...]) -> tuple[str, ...]:
    """Domain labels in vocabulary order (``speech/audio`` for ``audio``)."""
    ordered = sorted(keys, key=lambda k: _DOMAIN_RANK.get(k, len(_DOMAIN_RANK)))
    return tuple(_DOMAIN_LABEL.get(k, k) for k in ordered)


def _ordered(field: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """Tag values in the vocabulary's order, so the YAML's order never shows in the output."""
    if len(values) < 2:
        return values
    rank = _RANK[field]
    # Unknown values cannot reach here (validation rejects them); keep them last, not dropped.
    return tuple(sorted(values, key=lambda v: rank.get(v, len(rank))))


# --------------------------------------------------------------------------------------------
# Contexts.


def _stats(entries: list[Entry], catalog: Catalog) -> dict:
    """Counts for "Quick Stats": only data-derived numbers, nothing that depends on the clock."""
    # Counter over one flat iterable counts in C; one Counter.update per paper would not.
    paradigm_counts = Counter(chain.from_iterable(e.paradigms for e in entries))
    value_counts = {
        f: Counter(chain.from_iterable(e.tags[f] for e in entries)) for f in _AXIS_FIELDS
    }
    years = [e.year for e in entries]
    with_code = sum(1 for e in entries if e.code)
    with_arxiv = sum(1 for e in entries if e.arxiv)
    multi_paradigm = sum(1 for e in entries if len(e.paradigms) > 1)
    paradigm_rows = [
        [p.label, str(paradigm_counts.get(p.key, 0))] for p in taxonomy.PARADIGMS
    ]
    value_rows = []
    for axis in taxonomy.AXES:
        for value in axis.values:
            value_rows.append([
                f"{axis.symbol} {axis.name}", value.label, str(value_counts[axis.field][value.key]),
            ])
    overview_rows = [
        ["Papers", str(len(entries))],
        ["Publication years", f"{min(years)}–{max(years)}" if years else "none"],
        ["With a code link", str(with_code)],
        ["With an arXiv identifier", str(with_arxiv)],
        ["In more than one paradigm", str(multi_paradigm)],
        ["With source and target domains", str(sum(1 for e in entries if e.domain_text))],
        ["With their frozen backbones named", str(sum(1 for e in entries if e.paper.backbones))],
        ["With their target datasets named", str(sum(1 for e in entries if e.paper.datasets))],
        ["Datasets and benchmark suites", str(len(catalog.datasets))],
        ["Tools and libraries", str(len(catalog.tools))],
        ["Learning resources", str(len(catalog.resources))],
        ["Results", str(len(catalog.results))],
    ]
    return {
        "total": len(entries),
        "overview_table": aligned_table(["Measure", "Count"], overview_rows),
        "paradigm_table": aligned_table(["Paradigm", "Papers"], paradigm_rows),
        "value_table": aligned_table(["Axis", "Value", "Papers"], value_rows),
    }


def _taxonomy_table() -> str:
    """One row per value; the axis' symbol, name and question only on its first row."""
    rows = []
    for axis in taxonomy.AXES:
        for i, value in enumerate(axis.values):
            rows.append([
                axis.symbol if i == 0 else "",
                f"{axis.name} (`{axis.field}`)" if i == 0 else "",
                axis.question if i == 0 else "",
                f"{value.label} (`{value.key}`)",
                value.definition,
            ])
    return aligned_table(["Symbol", "Axis", "Question", "Value", "Definition"], rows)


class _Ledger:
    """The README's once-only links: the first claim of a URL gets it, later ones None.

    awesome-lint rejects a README that links one URL twice, and a list item must link an
    absolute URL; so a tool or resource whose page is already linked (a paper's official code,
    a survey that is also a paper) is left to its docs page, and the section says so.
    """

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, url: str) -> str | None:
        key = normalize_url(url)
        if key in self.used:
            return None
        self.used.add(key)
        return url

    def items(self, records: list, summary: Callable[[Any], str]) -> tuple[list[dict], str]:
        """README items for the records whose URL is still free, and how many were left out
        (``"2 entries"``, or "" when none)."""
        items = []
        for record in records:
            url = self.claim(href(record.url))
            if url is not None:
                items.append({"record": record, "url": url, "text": summary(record)})
        skipped = len(records) - len(items)
        return items, "" if not skipped else f"{skipped} entr{'y' if skipped == 1 else 'ies'}"


def _readme_context(entries: list[Entry], catalog: Catalog, pages: dict[str, dict],
                    leaderboards: dict | None = None) -> dict:
    """Sections, ToC and the once-only link bookkeeping for README.md."""
    groups: dict[str, list[Entry]] = {p.key: [] for p in taxonomy.PARADIGMS}
    for e in entries:
        groups.setdefault(e.paradigms[0], []).append(e)

    # Every URL appears once in the README: paper links first (they are the list), then intro
    # links only if no paper uses them, then each code link only if not seen before, then the
    # other collections' links (falling back to their docs entry).
    ledger = _Ledger()
    for e in entries:
        ledger.claim(e.url)
    intro = {name: ledger.claim(url)
             for name, url in (("survey", SURVEY_URL), ("tutorial", TUTORIAL_URL))}
    for p in taxonomy.PARADIGMS:
        for e in groups[p.key]:
            if e.code:
                e.readme_code = ledger.claim(e.code)
    tools, tools_elsewhere = ledger.items(pages["docs/tools.md"]["tools"], _tool_summary)
    datasets, datasets_elsewhere = ledger.items(pages["docs/datasets.md"]["datasets"],
                                                _dataset_summary)
    resources, resources_elsewhere = ledger.items(pages["docs/resources.md"]["resources"],
                                                  _resource_summary)
    applications = pages["docs/applications.md"]
    present = {
        "leaderboards": bool(catalog.results),
        "applications": bool(applications["papers"]),
        "tools": bool(tools), "datasets": bool(datasets), "resources": bool(resources),
    }
    sections = [(key, title) for key, title in zip(_SECTION_KEYS, README_SECTIONS)
                if present.get(key, True)]
    # A page with entries but no README section (every link already taken) is still linked.
    unlisted = [(title, f"docs/{name}.md") for name, title, records in (
        ("tools", "Tools & Libraries", catalog.tools),
        ("datasets", "Datasets & Benchmarks", catalog.datasets),
        ("resources", "Learning Resources", catalog.resources),
    ) if records and not present[name]]

    # Slugs from the same heading list the template writes, so the ToC and headings agree.
    paradigm_labels = [p.label for p in taxonomy.PARADIGMS]
    headings = [README_TITLE, "Contents"]
    for key, section in sections:
        headings.append(section)
        if key == "papers":
            headings.extend(paradigm_labels)
    headings.append(CONTRIBUTING_HEADING)
    slugs = dict(zip(headings, unique_slugs(headings)))
    toc = []
    for key, section in sections:
        children = (
            [(label, slugs[label]) for label in paradigm_labels] if key == "papers" else []
        )
        toc.append((section, slugs[section], children))

    return {
        "title": README_TITLE,
        "sections": dict(sections),
        "contributing_heading": CONTRIBUTING_HEADING,
        "toc": toc,
        "paradigm_groups": [(p, groups[p.key]) for p in taxonomy.PARADIGMS],
        "survey_url": intro["survey"],
        "survey_title": SURVEY_TITLE,
        "tutorial_url": intro["tutorial"],
        "taxonomy_table": _taxonomy_table(),
        "stats": _stats(entries, catalog),
        "applications_table": _applications_table(applications["papers"], "docs/papers.md"),
        "tools": tools,
        "datasets": datasets,
        "resources": resources,
        "unlisted_pages": unlisted,
        "tools_elsewhere": tools_elsewhere,
        "datasets_elsewhere": datasets_elsewhere,
        "resources_elsewhere": resources_elsewhere,
        "schema_paths": SCHEMA_PATHS,
        "leaderboards": leaderboards or {},
    }


def _papers_context(entries: list[Entry]) -> dict:
    header = ["Title", "Authors", "Year", "Venue", "Paradigm"]
    header += [f"{a.symbol} {a.field}" for a in taxonomy.AXES]
    header += ["Domain", "Backbones", "Datasets", "Links", "Reference code", "Note"]
    return {
        "total": len(entries),
        "axes": taxonomy.AXES,
        "entries": entries,
        "header": "| " + " | ".join(header) + " |",
        "delimiter": "|" + "|".join("---" for _ in header) + "|",
    }


#: Separators between the fragments of templates/items.md.j2 (ASCII unit and record separators,
#: which the ``md`` filter removes from text and validation keeps out of URLs).
_UNIT, _RECORD = "\x1f", "\x1e"


def _render_items(entries: list[Entry]) -> None:
    """Render every paper's fragments (README item, taxonomy item, papers row) in one pass.

    The fragment formats live in ``templates/items.md.j2`` with the documents, but a paper
    appears in several places (docs/taxonomy.md lists it under every value it has), so each
    fragment is rendered once per paper, by one template call for all papers, and the document
    templates place the finished strings: no per-paper template calls, no repeated work.
    """
    text = environment().get_template(ITEMS_TEMPLATE).render(entries=entries, US=_UNIT, RS=_RECORD)
    records = text.split(_RECORD)
    if len(records) != len(entries) + 1 or records[-1].strip():
        raise RuntimeError(f"{ITEMS_TEMPLATE}: expected {len(entries)} records, "
                           f"got {len(records) - 1}; does a field contain a separator?")
    for e, record in zip(entries, records):
        parts = record.split(_UNIT)
        if len(parts) != 3:
            raise RuntimeError(f"{ITEMS_TEMPLATE}: expected 3 fragments for {e.title!r}, "
                               f"got {len(parts)}")
        e.readme_item, e.taxonomy_item, e.papers_row = (part.strip("\n") for part in parts)


def _taxonomy_context(entries: list[Entry]) -> dict:
    """Per-value paper lists, the (λ, ℓ, τ) × ω count matrix and the anchor index."""
    by_value: dict[tuple[str, str], list[Entry]] = {
        (a.field, v.key): [] for a in taxonomy.AXES for v in a.values
    }
    cell_counts: Counter[tuple[str, str, str, str]] = Counter()
    cell_any: Counter[tuple[str, str, str]] = Counter()
    for e in entries:
        for a in taxonomy.AXES:
            for v in e.tags[a.field]:
                by_value[(a.field, v)].append(e)
        # A paper counts once per (cell, ω) and once per cell, however many combinations hit it.
        cells = {
            (lam, loc, op)
            for lam in e.tags["configuration"]
            for loc in e.tags["location"]
            for op in e.tags["operator"]
        }
        for cell in cells:
            cell_any[cell] += 1
            for om in e.tags["alignment"]:
                cell_counts[(*cell, om)] += 1

    headings = ["Taxonomy", "Index"]
    for a in taxonomy.AXES:
        headings.append(axis_heading(a))
        headings.extend(value_heading(a, v) for v in a.values)
    headings.append("Cell counts")
    slugs = dict(zip(headings, unique_slugs(headings)))

    axes = []
    for a in taxonomy.AXES:
        values = [
            {
                "value": v,
                "heading": value_heading(a, v),
                "slug": slugs[value_heading(a, v)],
                "papers": by_value[(a.field, v.key)],
            }
            for v in a.values
        ]
        axes.append({
            "axis": a, "heading": axis_heading(a), "slug": slugs[axis_heading(a)],
            "values": values,
        })

    # Every count links to the website's explorer filtered to it, and every row to its cell's
    # page (website.py renders both; on GitHub the explorer link opens the full list).
    from .website import CELLS_DIR, cell_filters, cell_slug, explorer_href

    omega = taxonomy.ALIGNMENT
    header = [f"{ax.symbol} {ax.field}" for ax in taxonomy.MANIPULATION_AXES]
    header += [f"ω {v.key}" for v in omega.values] + ["any ω", "Cell page"]
    cells_dir = CELLS_DIR.removeprefix("docs/")
    rows = []
    for cell in taxonomy.manipulation_cells():
        rows.append([
            *cell,
            *(f"[{cell_counts[(*cell, v.key)]}]({explorer_href(cell_filters(cell, v.key))})"
              for v in omega.values),
            f"[{cell_any[cell]}]({explorer_href(cell_filters(cell))})",
            f"[{cell_slug(cell)}]({cells_dir}/{cell_slug(cell)}.md)",
        ])
    return {
        "total": len(entries),
        "axes": axes,
        "counts_heading": "Cell counts",
        "counts_slug": slugs["Cell counts"],
        "matrix": aligned_table(header, rows),
    }


# --------------------------------------------------------------------------------------------
# The other collections: datasets, tools, resources, and the papers' application domains.


_SENTENCE_END = (".", "!", "?", "…")


def _sentence(text: str) -> str:
    """Escaped free text that ends like a sentence (awesome-lint wants list items to)."""
    text = _escape_cached(text.strip())
    return text if text.endswith(_SENTENCE_END) else text + "."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tool_summary(t: Tool) -> str:
    licence = f", {t.license}" if t.license else ""
    return (f"{_cap(t.kind)} in {_escape_cached(t.language)}{_escape_cached(licence)}. "
            f"{_sentence(t.description)}")


def _dataset_summary(d: Dataset) -> str:
    kind = "Suite" if d.kind == "suite" else "Dataset"
    return (f"{kind}, {_DOMAIN_LABEL.get(d.domain, d.domain)}: {_escape_cached(d.task)}. "
            f"{_sentence(d.description)}")


def _resource_summary(r: Resource) -> str:
    by = f" by {short_authors(r.authors)}" if r.authors else ""
    venue = f", {r.venue}" if r.venue else ""
    year = f", {r.year}" if r.year is not None else ""
    return (f"Level {r.level}, {r.kind}{_escape_cached(by + venue)}{year}. "
            f"{_sentence(r.description)}")


def _paper_links(ids: Iterable[str], titles: dict[str, str], page: str) -> list[tuple[str, str]]:
    """(escaped title, ``page#id``) for paper ids, in the order given."""
    return [(_escape_cached(titles.get(i, i)), f"{page}#{i}") for i in ids]


def _datasets_context(catalog: Catalog, entries: list[Entry]) -> dict:
    """Datasets grouped by domain, each with its suites, members and the papers reporting it."""
    datasets = sorted(catalog.datasets, key=lambda d: (_DOMAIN_RANK.get(d.domain, 99),
                                                       d.name.casefold(), d.id))
    names = {d.id: d.name for d in catalog.datasets}
    reported: dict[str, list[Entry]] = {d.id: [] for d in datasets}
    for e in entries:  # newest first, as everywhere
        for d in e.paper.datasets:
            reported.setdefault(d, []).append(e)
    part_of: dict[str, list[str]] = {}
    for d in datasets:
        for m in d.members:
            part_of.setdefault(m, []).append(d.id)
    views = []
    for d in datasets:
        views.append({
            "d": d,
            "name": _escape_cached(d.name),
            "domain": _DOMAIN_LABEL.get(d.domain, d.domain),
            "task": _escape_cached(d.task),
            "description": _sentence(d.description),
            "license": _escape_cached(d.license) if d.license else "",
            "paper_url": href(d.paper) if d.paper else "",
            "members": [(_escape_cached(names.get(m, m)), f"#{m}") for m in d.members],
            "part_of": [(_escape_cached(names.get(s, s)), f"#{s}") for s in part_of.get(d.id, ())],
            "papers": [(_escape_cached(e.title), f"papers.md#{e.id}")
                       for e in reported.get(d.id, ())],
        })
    groups: dict[str, list[dict]] = {}
    for v in views:
        groups.setdefault(v["domain"], []).append(v)
    return {"datasets": datasets, "groups": list(groups.items())}


def _tools_context(catalog: Catalog) -> dict:
    """Tools grouped by kind, each with links to the papers it implements."""
    rank = {k: i for i, k in enumerate(taxonomy.TOOL_KINDS)}
    tools = sorted(catalog.tools, key=lambda t: (rank.get(t.kind, 99), t.name.casefold(), t.id))
    titles = {p.id: p.title for p in catalog.papers}
    groups: dict[str, list[dict]] = {}
    for t in tools:
        groups.setdefault(t.kind, []).append({
            "t": t,
            "name": _escape_cached(t.name),
            "url": href(t.url),
            "language": _escape_cached(t.language),
            "license": _escape_cached(t.license) if t.license else "",
            "description": _sentence(t.description),
            "papers": _paper_links(t.implements, titles, "papers.md"),
        })
    return {"tools": tools, "groups": [(_cap(k), v) for k, v in groups.items()]}


def _resources_context(catalog: Catalog) -> dict:
    """The learning path: resources by level, then newest first (undated last), then title."""
    resources = sorted(catalog.resources,
                       key=lambda r: (r.level, -(r.year or 0), r.title.casefold(), r.id))
    levels: dict[int, list[dict]] = {}
    for r in resources:
        levels.setdefault(r.level, []).append({
            "r": r,
            "title": _escape_cached(r.title),
            "url": href(r.url),
            "summary": _resource_summary(r),
        })
    return {"resources": resources, "levels": list(levels.items())}


def _applications_context(entries: list[Entry]) -> dict:
    """Papers with domains, grouped under every (source, target) pair they span."""
    with_domain = [e for e in entries if e.paper.domain is not None]
    pairs: dict[tuple[str, str], list[Entry]] = {}
    for e in with_domain:
        domain = e.paper.domain
        assert domain is not None
        for src in domain.source:
            for tgt in domain.target:
                pairs.setdefault((src, tgt), []).append(e)
    order = sorted(pairs, key=lambda st: (_DOMAIN_RANK.get(st[0], 99),
                                          _DOMAIN_RANK.get(st[1], 99)))
    groups = []
    headings = ["Applications", "Index"]
    for src, tgt in order:
        headings.append(f"{_DOMAIN_LABEL.get(src, src)} → {_DOMAIN_LABEL.get(tgt, tgt)}")
    slugs = unique_slugs(headings)[2:]
    for (src, tgt), heading, slug in zip(order, headings[2:], slugs):
        rows = [[f"[{_escape_cached(e.title)}](papers.md#{e.id})", str(e.year),
                 _escape_cached(", ".join(e.backbones)), _links(e.dataset_links)]
                for e in pairs[(src, tgt)]]
        groups.append({
            "heading": heading, "slug": slug, "count": len(rows),
            "table": aligned_table(["Paper", "Year", "Source model", "Datasets"], rows),
        })
    # The README's table: one row per paper, ordered by its first pair, then newest first.
    first = {e.id: min(((_DOMAIN_RANK.get(s, 99), _DOMAIN_RANK.get(t, 99))
                        for s in e.paper.domain.source for t in e.paper.domain.target))
             for e in with_domain if e.paper.domain}
    ordered = sorted(with_domain, key=lambda e: first[e.id])  # stable: newest first within
    return {"papers": ordered, "groups": groups, "total": len(with_domain)}


def _applications_table(entries: list[Entry], page: str) -> str:
    rows = [[f"[{_escape_cached(e.cite)} {e.year}]({page}#{e.id})", ", ".join(e.sources),
             _escape_cached(", ".join(e.backbones)), ", ".join(e.targets)] for e in entries]
    return aligned_table(["Paper", "Source domain", "Source model", "Target domain"], rows)


def axis_heading(axis: taxonomy.Axis) -> str:
    """``Configuration (λ)``: the symbol keeps axis and value headings apart (and stable)."""
    return f"{axis.name} ({axis.symbol})"


def value_heading(axis: taxonomy.Axis, value: taxonomy.Value) -> str:
    """``Learnable (λ)``: unique across axes even if two axes ever share a value label."""
    return f"{value.label} ({axis.symbol})"


# --------------------------------------------------------------------------------------------
# The public interface.


def render_outputs(data: Catalog | Iterable[Paper], root: str | Path = ".") -> dict[str, str]:
    """Every rendered file, relpath -> text, as a pure function of the (validated) collections.

    ``data`` is a ``collections.Catalog`` (what validation returns), or just papers. ``root``
    is where the files will live; relpaths are relative to it and nothing here reads it, so the
    same data gives the same text wherever the repository is checked out.
    """
    catalog = Catalog.of(data)
    env = environment()
    names = {d.id: d.name for d in catalog.datasets}
    entries = [Entry(p, names) for p in sorted(catalog.papers, key=sort_key)]
    pages = {
        "docs/applications.md": _applications_context(entries),
        "docs/datasets.md": _datasets_context(catalog, entries),
        "docs/tools.md": _tools_context(catalog),
        "docs/resources.md": _resources_context(catalog),
    }
    leaderboards = results_pages.leaderboards_context(catalog)
    contexts = {
        # the README decides each entry's README code link first
        "README.md": _readme_context(entries, catalog, pages, leaderboards),
        "docs/papers.md": _papers_context(entries),
        "docs/taxonomy.md": _taxonomy_context(entries),
        "docs/leaderboards.md": leaderboards,
        "docs/reference-results.md": results_pages.reference_context(catalog),
        **pages,
    }
    _render_items(entries)
    outputs = {
        rel: env.get_template(TEMPLATES[rel]).render(contexts[rel]) for rel in TEMPLATES
    }
    outputs.update(results_pages.figure_texts(catalog))
    outputs.update(_schema_files())
    return outputs


@lru_cache(maxsize=1)
def _schema_files() -> dict[str, str]:
    """Every collection's JSON Schema text: built once per process (taxonomy.py is fixed)."""
    return {c.schema_path: c.schema_json() for c in COLLECTIONS}


def write_outputs(outputs: dict[str, str], root: str | Path) -> list[str]:
    """Write every output or none (``atomic.write_files``); only files whose bytes change are
    touched (mtime kept). An output that cannot be written raises ``atomic.WriteError``."""
    base = Path(root)
    targets = {base / rel: rel for rel in sorted(outputs)}
    changed = write_files({path: outputs[rel] for path, rel in targets.items()})
    return [targets[path] for path in changed]


def _read_committed(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnreadableInput(path, exc.strerror or str(exc)) from None


def check_outputs(outputs: dict[str, str], root: str | Path, stream: TextIO) -> bool:
    """Print a unified diff for every stale or missing output; True when anything is stale.

    The diff goes from the committed file (``a/``) to what the data renders to (``b/``), i.e. it
    is the change that ``repro build`` would make.
    """
    base = Path(root)
    stale = []
    for rel in sorted(outputs):
        committed = _read_committed(base / rel)
        wanted = outputs[rel]
        if committed == wanted:
            continue
        stale.append(rel)
        if committed is None:
            stream.write(f"{rel}: missing (it would be created)\n")
        diff = difflib.unified_diff(
            (committed or "").splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            fromfile=f"a/{rel}" if committed is not None else "/dev/null",
            tofile=f"b/{rel}",
        )
        stream.writelines(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in diff
        )
    if stale:
        stream.write(
            f"{len(stale)} of {len(outputs)} rendered files are stale: {', '.join(stale)}\n"
            "run `bash scripts/build.sh` (or `repro build`) and commit the result\n"
        )
    return bool(stale)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", nargs="?", default=DEFAULT_DATABASE,
                        help="the papers file; the other collections are read beside it")
    parser.add_argument("--root", default=".", help="repository root the outputs are written under")
    parser.add_argument(
        "--check", action="store_true",
        help="write nothing; print a diff and exit 1 when a committed file is stale",
    )
    parser.add_argument(
        "--github", action="store_true", default=None,
        help="emit GitHub Actions annotations (default: when GITHUB_ACTIONS=true)",
    )


def run(args: argparse.Namespace) -> int:
    return run_pipeline(args, render_outputs)


def run_pipeline(
    args: argparse.Namespace, make_outputs: Callable[[Catalog, Path], dict[str, str]]
) -> int:
    """Validate every collection, then write (or with ``--check`` compare) the derived files.

    ``repro render`` and ``repro build`` differ only in which files ``make_outputs`` derives;
    nothing is rendered while any collection has a problem. The collections are read from the
    papers file given and the files beside it.
    """
    from .validate import load_collections, report, require_readable

    loaded = load_collections(args.database)
    require_readable(loaded)
    if loaded.problems:
        report(loaded.problems, sys.stderr, github=args.github)
        print(f"{args.database}: not rendered; fix the problems above first", file=sys.stderr)
        return 1
    root = Path(args.root)
    outputs = make_outputs(loaded.catalog, root)
    if args.check:
        return 1 if check_outputs(outputs, root, sys.stdout) else 0
    changed = write_outputs(outputs, root)
    counts = ", ".join(f"{len(records)} {c.name}" for c, records in loaded.catalog.items()
                       if records or c.required)
    print(f"rendered {counts}; {len(changed)} of {len(outputs)} files changed"
          + (f": {', '.join(changed)}" if changed else ""))
    return 0
