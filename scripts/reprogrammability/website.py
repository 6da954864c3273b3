"""The website's own pages, rendered from the same validated collections as README.md and docs/.

The site is one more writer of the render pipeline (``build.derived_outputs``): the paper
explorer (``docs/explorer.md``) and one page per (λ, ℓ, τ) cell (``docs/cells/*.md``) are
derived files like docs/papers.md, committed and covered by ``repro build --check``. The static
site generator (``repro site``, in ``sitegen.py``) only turns those and the other pages into
HTML; it decides nothing about content.

The explorer's filters are data: :data:`FACETS` lists them, each a name, a legend and a function
from a paper to the values it has. The template, the script (``docs/assets/explorer.js``, which
reads the facets from the form it filters) and the browser tests all loop over that list, so a
new facet (say, a paper field added later) is one entry here and nothing else. Every paper is in
the HTML as a list item whose ``data-v`` attribute holds its value indices per facet, so the page
shows everything without JavaScript and the script only hides, counts and reorders items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from . import taxonomy
from .collections import Catalog

if TYPE_CHECKING:
    from .papers import Paper
    from .render import Entry

EXPLORER_PATH = "docs/explorer.md"
EXPLORER_TEMPLATE = "explorer.md.j2"
CELL_TEMPLATE = "cell.md.j2"
CELLS_DIR = "docs/cells"

#: How many matching papers the explorer's script shows at once ("Show more" adds as many):
#: a filter change then touches at most twice this many list items, however long the list.
PAGE_SIZE = 50

#: Value keys of the yes/no facets.
YES, NO = "yes", "no"


@dataclass(frozen=True)
class Facet:
    """One filter of the explorer: a form field named ``key`` holding the values a paper has.

    ``values`` maps a paper to its value keys (none, one or several). ``vocabulary`` fixes the
    values and their order and labels (values no paper has are still offered, with a count of
    0); without it the values are the ones the papers have, ordered by ``order``.
    """

    key: str
    legend: str
    values: Callable[[Paper], Iterable[str]]
    vocabulary: tuple[tuple[str, str], ...] | None = None
    #: For facets without a vocabulary: sort key of a value (default: case-insensitive text).
    order: Callable[[str], object] | None = None

    def options(self, papers: Iterable[Paper]) -> list[tuple[str, str]]:
        """(key, label) of every value offered, in display order."""
        if self.vocabulary is not None:
            return list(self.vocabulary)
        seen = {v for p in papers for v in self.values(p)}
        return [(v, v) for v in sorted(seen, key=self.order or str.casefold)]


def _axis_facet(axis: taxonomy.Axis) -> Facet:
    return Facet(axis.field, f"{axis.symbol} {axis.name}", lambda p: p.tags(axis.field),
                 tuple((v.key, v.label) for v in axis.values))


def _yes_no(flag: Callable[[Paper], object], yes: str, no: str) -> tuple[Callable, tuple]:
    return (lambda p: (YES,) if flag(p) else (NO,)), ((YES, yes), (NO, no))


_DOMAINS = tuple((d.key, d.label) for d in taxonomy.DOMAINS)


def has_reference(paper: Paper) -> bool:
    """Whether a reference implementation reproduces the paper: its optional ``reference``
    field (manipulation, alignment, preset, fidelity), read wherever the record has one."""
    return bool(getattr(paper, "reference", None))


_code_values, _code_vocab = _yes_no(lambda p: p.code, "Has a code link", "No code link")
_ref_values, _ref_vocab = _yes_no(has_reference, "Has a reference implementation",
                                  "No reference implementation")

#: The explorer's filters, in the order the form shows them.
FACETS: tuple[Facet, ...] = (
    *(_axis_facet(a) for a in taxonomy.AXES),
    Facet("paradigm", "Paradigm", lambda p: p.paradigm,
          tuple((p.key, p.label) for p in taxonomy.PARADIGMS)),
    Facet("source", "Source domain (the frozen model's)",
          lambda p: p.domain.source if p.domain else (), _DOMAINS),
    Facet("target", "Target domain (the task's)",
          lambda p: p.domain.target if p.domain else (), _DOMAINS),
    Facet("year", "Year", lambda p: (str(p.year),), order=lambda y: -int(y)),
    Facet("venue", "Venue", lambda p: (p.venue,)),
    Facet("code", "Code", _code_values, _code_vocab),
    Facet("reference", "Reference implementation", _ref_values, _ref_vocab),
)
FACETS_BY_KEY: dict[str, Facet] = {f.key: f for f in FACETS}


# --------------------------------------------------------------------------------------------
# Links into the explorer and the cell pages (the taxonomy's matrix uses them too).


def explorer_href(filters: dict[str, str | Iterable[str]], page: str = "explorer.md") -> str:
    """``explorer.md?configuration=learnable&...``: the explorer filtered to these values.

    Parameters repeat for several values of one facet (``?venue=A&venue=B``), which is what the
    script reads; every key must be a facet (a typo would silently filter nothing).
    """
    pairs: list[tuple[str, str]] = []
    for key, value in filters.items():
        if key not in FACETS_BY_KEY:
            raise KeyError(f"{key!r} is not an explorer facet: one of {', '.join(FACETS_BY_KEY)}")
        pairs.extend((key, v) for v in ([value] if isinstance(value, str) else value))
    return f"{page}?{urlencode(pairs)}" if pairs else page


def cell_slug(cell: taxonomy.Cell) -> str:
    """``learnable-input-additive``: the file name of a cell's page."""
    return "-".join(cell)


def cell_filters(cell: taxonomy.Cell, omega: str | None = None) -> dict[str, str]:
    filters = {a.field: v for a, v in zip(taxonomy.MANIPULATION_AXES, cell)}
    if omega is not None:
        filters[taxonomy.ALIGNMENT.field] = omega
    return filters


def cell_title(cell: taxonomy.Cell) -> str:
    """``Learnable · Input space · Additive``."""
    return " · ".join(a.value(v).label for a, v in zip(taxonomy.MANIPULATION_AXES, cell))


# --------------------------------------------------------------------------------------------
# Contexts.


class _Row:
    """One paper as the explorer's template sees it: flat fields, one attribute lookup each
    (10,000 rows render in one template pass); HTML escaping happens in the template."""

    __slots__ = ("authors", "code", "codes", "domain", "note", "paradigms", "tags", "title",
                 "url", "venue", "year")

    def __init__(self, e: Entry, codes: str) -> None:
        self.codes = codes
        self.title = e.title
        self.url = e.paper.url
        self.authors = ", ".join(e.authors)
        self.venue = e.venue
        self.year = e.year
        self.paradigms = ", ".join(e.paradigms)
        #: "λ learnable · ℓ input, hidden · τ additive · ω linear"
        self.tags = " · ".join(f"{a.symbol} {', '.join(e.tags[a.field])}" for a in taxonomy.AXES)
        self.domain = e.domain_text
        self.code = e.paper.code
        self.note = e.note


def _explorer_context(entries: list[Entry]) -> dict:
    papers = [e.paper for e in entries]
    facets = []
    index: list[dict[str, int]] = []
    for facet in FACETS:
        options = facet.options(papers)
        counts = Counter(v for p in papers for v in facet.values(p))
        index.append({key: i for i, (key, _label) in enumerate(options)})
        facets.append({
            "facet": facet,
            "options": [(i, key, label, counts.get(key, 0)) for i, (key, label)
                        in enumerate(options)],
        })
    rows = []
    for e in entries:
        codes = ";".join(
            ",".join(str(positions[v]) for v in facet.values(e.paper) if v in positions)
            for facet, positions in zip(FACETS, index)
        )
        rows.append(_Row(e, codes))
    return {"total": len(entries), "facets": facets, "rows": rows, "page_size": PAGE_SIZE}


def _cells_contexts(entries: list[Entry]) -> dict[str, dict]:
    """Each (λ, ℓ, τ) cell's papers (newest first), with their alignments and counts per ω."""
    members: dict[taxonomy.Cell, list[Entry]] = {c: [] for c in taxonomy.manipulation_cells()}
    for e in entries:
        cells = {(lam, loc, op) for lam in e.tags["configuration"] for loc in e.tags["location"]
                 for op in e.tags["operator"]}
        for cell in cells:
            members[cell].append(e)
    contexts = {}
    for cell, papers in members.items():
        omegas = Counter(om for e in papers for om in e.tags["alignment"])
        contexts[f"{CELLS_DIR}/{cell_slug(cell)}.md"] = {
            "cell": cell,
            "title": cell_title(cell),
            "values": [(a, a.value(v)) for a, v in zip(taxonomy.MANIPULATION_AXES, cell)],
            "papers": papers,
            "explorer": explorer_href(cell_filters(cell), "../explorer.md"),
            "by_omega": [(om, omegas.get(om.key, 0),
                          explorer_href(cell_filters(cell, om.key), "../explorer.md"))
                         for om in taxonomy.ALIGNMENT.values],
        }
    return contexts


def site_outputs(data: Catalog | Iterable[Paper]) -> dict[str, str]:
    """The site's own pages, relpath -> text: the explorer and every cell's page."""
    from .render import Entry, environment, sort_key

    catalog = Catalog.of(data)
    env = environment()
    names = {d.id: d.name for d in catalog.datasets}
    entries = [Entry(p, names) for p in sorted(catalog.papers, key=sort_key)]
    outputs = {EXPLORER_PATH: env.get_template(EXPLORER_TEMPLATE).render(
        _explorer_context(entries))}
    cell = env.get_template(CELL_TEMPLATE)
    for rel, context in _cells_contexts(entries).items():
        outputs[rel] = cell.render(context)
    return outputs
