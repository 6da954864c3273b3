"""The collections of the database as specs: one description each, read by every stage.

A :class:`Collection` names its file and top-level key, its record type, its fields (from
``schema.py``, whose vocabularies come from ``taxonomy.py``), the keys under which two entries
are duplicates, the fields that hold links (for the link checker), and the rules that relate its
entries to other collections. Validation, rendering, the JSON Schema files and link extraction
loop over :data:`COLLECTIONS`; adding a collection costs a spec here and a template.

The papers file is required; every other collection file may be absent (an empty collection),
so the build works before a collection has content.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Protocol

from . import arxiv_ids
from . import schema as schema_mod
from .papers import DEFAULT_DATABASE, Paper, as_tuple
from .records import Dataset, Resource, Result, Tool, key_slug
from .taxonomy import AXES, METRICS_BY_NAME

_VERSION_RE = re.compile(r"v\d+$")
_JUNK_RE = re.compile(r"[\W_]+")


# --- normalisation for duplicate detection ---------------------------------------------------


def name_key(text: Any) -> str | None:
    """A title or name's identity: Unicode NFKC, case-folded, punctuation and spaces removed."""
    if not isinstance(text, str):
        return None
    return _JUNK_RE.sub("", unicodedata.normalize("NFKC", text).casefold()) or None


def url_key(url: Any) -> str | None:
    """A URL's identity: scheme and host case-folded, no trailing slash."""
    if not isinstance(url, str) or not url.strip():
        return None
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return url.strip().rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.casefold()}://{host.casefold()}{slash}{path}".rstrip("/")


def _arxiv_key(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return _VERSION_RE.sub("", value.strip())


def _paper_arxiv(entry: dict[str, Any]) -> str | None:
    """The arXiv paper an entry is: its ``arxiv`` id, else the one its ``url`` is the arXiv
    page of (``https://arxiv.org/abs/1809.01829v2`` is 1809.01829, whatever the version)."""
    own = _arxiv_key(entry.get("arxiv"))
    if own is not None:
        return own
    url = entry.get("url")
    found = arxiv_ids.from_url(url) if isinstance(url, str) else None
    return found.base if found is not None else None


def _doi_key(value: Any) -> str | None:
    return value.strip().casefold() if isinstance(value, str) and value.strip() else None


def _exact(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class DuplicateKey:
    """Two entries with the same ``key(entry)`` (not None) are one entry written twice.

    The repeat is reported at ``field``; ``what`` says what matched (``{key}`` is filled in).
    """

    field: str
    what: str
    key: Callable[[dict[str, Any]], Hashable | None]


def _on(name: str, normalise: Callable[[Any], Hashable | None]) -> Callable[[dict], Any]:
    return lambda entry: normalise(entry.get(name))


def _usual_duplicates(name_field: str, *, url: bool = True) -> tuple[DuplicateKey, ...]:
    """id, name or title, and (unless several entries may share one page) URL."""
    keys = (
        DuplicateKey("id", "id", _on("id", _exact)),
        DuplicateKey(name_field, name_field, _on(name_field, name_key)),
    )
    return keys + (DuplicateKey("url", "URL", _on("url", url_key)),) if url else keys


# --- rules across entries and collections ----------------------------------------------------


class RuleContext(Protocol):
    """What a collection's rules see (``validate.py`` provides it)."""

    def entries(self, collection: str) -> list[tuple[int, dict[str, Any]]]:
        """The mapping entries of a collection, with their index in the file."""

    def entry(self, collection: str, id_: str) -> dict[str, Any] | None:
        """The first entry of ``collection`` with this id."""

    def problem(self, index: int, rel: tuple[str | int, ...], message: str) -> None:
        """Report a problem in the collection being checked, at entry ``index``, path ``rel``."""


def _paper_rules(ctx: RuleContext) -> None:
    """A paper's ``url``, when it is an arXiv page, is the page of the paper's own arXiv id."""
    for index, entry in ctx.entries("papers"):
        url, own = entry.get("url"), entry.get("arxiv")
        if not isinstance(url, str) or not isinstance(own, str):
            continue
        m = arxiv_ids.URL.match(url)
        if m is None or _VERSION_RE.sub("", m.group("rest")) == _VERSION_RE.sub("", own):
            continue  # no arXiv page, or the same id (the common case, decided without parsing)
        page = arxiv_ids.from_url(url)
        if page is not None and not arxiv_ids.problem(own) and \
                page.base != arxiv_ids.parse(own).base:
            ctx.problem(index, ("url",), f"the url is the arXiv page of {page.base}, but the "
                                         f"paper's arxiv id is {own}: make them name the same "
                                         "paper")


def _suite_rules(ctx: RuleContext) -> None:
    """members only on suites, and no suite contains itself, directly or through others.

    A suite may omit its members while they are not yet recorded.
    """
    members: dict[str, list[str]] = {}
    where: dict[str, int] = {}
    for index, entry in ctx.entries("datasets"):
        kind, items = entry.get("kind"), entry.get("members")
        suite = kind == "suite"
        if items is not None and not suite and isinstance(kind, str):
            ctx.problem(index, ("members",), "only a suite has members: write kind: suite, "
                                             "or remove members")
        if suite and isinstance(entry.get("id"), str) and isinstance(items, list):
            members[entry["id"]] = [m for m in items if isinstance(m, str)]
            where[entry["id"]] = index
    for suite, items in members.items():
        if suite in items:
            ctx.problem(where[suite], ("members", items.index(suite)),
                        f"a suite cannot contain itself: remove {suite!r} from its members")
            continue
        cycle = _cycle_through(suite, members)
        if cycle:
            ctx.problem(where[suite], ("members",), "a suite cannot contain itself: "
                                                    + " -> ".join(cycle))


def _cycle_through(start: str, graph: dict[str, list[str]]) -> list[str] | None:
    """A path start -> ... -> start through the membership graph, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def _result_rules(ctx: RuleContext) -> None:
    """A result's value lies in its metric's range and its cell is one its paper is tagged with.

    A reported number names the paper whose table it is; a row without a cell (a baseline, or
    a variant outside its paper's tags) must say in ``note`` what it is, so a forgotten cell is
    not silently taken for a baseline.
    """
    for index, entry in ctx.entries("results"):
        source = entry.get("source")
        kind = source.get("kind") if isinstance(source, dict) else None
        if kind == "reported" and "paper" not in entry:
            ctx.problem(index, (), "a reported result needs paper: the id of the paper whose "
                                   "table or figure the number is from")
        if "cell" not in entry and not entry.get("note"):
            ctx.problem(index, (), "a result without a cell must say in note what it is (a "
                                   "baseline such as a linear probe or fine-tuning, or a variant "
                                   "outside the paper's tags); or add the method's cell")
        metric = METRICS_BY_NAME.get(entry.get("metric"))  # type: ignore[arg-type]
        value = entry.get("value")
        if (metric is not None and isinstance(value, int | float)
                and not isinstance(value, bool) and not metric.admits(value)):
            ctx.problem(index, ("value",), f"{value!r} is outside the range of {metric.name} "
                                           f"({metric.range_text})"
                        + ("; percentages are written 0-100, not as fractions"
                           if metric.maximum == 100 and 0 < value < 1 else ""))
        cell, paper_id = entry.get("cell"), entry.get("paper")
        paper = ctx.entry("papers", paper_id) if isinstance(paper_id, str) else None
        if not isinstance(cell, dict) or paper is None:
            continue
        wanted = tuple(cell.get(a.field) for a in AXES)
        try:
            combos = set(product(*(as_tuple(paper[a.field]) for a in AXES)))
        except (KeyError, TypeError):
            combos = set()
        if not combos or not all(isinstance(v, str) for c in combos for v in c):
            continue  # the paper's own tags are broken; that is reported at the paper
        if all(isinstance(v, str) for v in wanted) and wanted not in combos:
            listed = "; ".join(" · ".join(c) for c in sorted(combos))
            ctx.problem(index, ("cell",), f"{' · '.join(wanted)} is not one of {paper_id}'s tag "
                                          f"combinations ({listed}); fix the cell or the "
                                          "paper's tags")


def _paper_reference_rules(ctx: RuleContext) -> None:
    """A paper's reference implements one of its tag combinations, and its preset is a setting
    of the named manipulation and alignment."""
    from . import refcatalog

    cat = refcatalog.load()
    for index, paper in ctx.entries("papers"):
        ref = paper.get("reference")
        if not isinstance(ref, dict):
            continue
        manipulation, alignment = ref.get("manipulation"), ref.get("alignment")
        if not isinstance(manipulation, str) or not isinstance(alignment, str):
            continue
        preset = ref.get("preset")
        if isinstance(preset, str) and preset in cat.presets \
                and cat.presets[preset] != (manipulation, alignment):
            m, a = cat.presets[preset]
            ctx.problem(index, ("reference", "preset"), f"preset {preset!r} is {m} + {a}, not "
                                                        f"{manipulation} + {alignment}")
        cell = cat.cell(manipulation, alignment)
        if cell is None:
            continue  # an unknown name: reported with a did-you-mean at its own line
        try:
            combos = set(product(*(as_tuple(paper[a.field]) for a in AXES)))
        except (KeyError, TypeError):
            continue
        if not all(isinstance(v, str) for c in combos for v in c):
            continue  # the paper's own tags are broken; that is reported at the tags
        if cell not in combos:
            listed = "; ".join(" · ".join(c) for c in sorted(combos))
            ctx.problem(index, ("reference",),
                        f"{manipulation} + {alignment} is {' · '.join(cell)}, not one of the "
                        f"paper's tag combinations ({listed}); name an implementation of its "
                        "cell or fix the tags")


# --- the spec --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    """Everything the pipeline needs to know about one collection."""

    name: str  #: also the record noun's plural: "papers", "datasets"
    singular: str
    file: str  #: relative to the repository root
    key: str  #: the file's single top-level key
    record: type
    fields: Callable[[], tuple[schema_mod.Field, ...]]
    title: str  #: of the schema
    description: str  #: of the schema
    record_description: str  #: of one entry, in the schema
    duplicates: tuple[DuplicateKey, ...]
    #: Paths (inside an entry) of the fields that hold links, for the link checker.
    link_fields: tuple[tuple[str, ...], ...]
    #: The field that names an entry in messages and link reports (title, name, method).
    label_field: str
    rules: tuple[Callable[[RuleContext], None], ...] = ()
    required: bool = False
    make: Callable[[dict[str, Any], int, dict[str, int]], Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "make", self.record.from_entry)

    @property
    def schema_path(self) -> str:
        return f"schema/{self.name}.schema.json"

    @property
    def references(self) -> dict[str, str]:
        """Field name -> the collection its ids must resolve in."""
        return {f.name: f.ref for f in self.fields() if f.ref}

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields())

    def schema(self) -> dict[str, Any]:
        return schema_mod.collection_schema(
            self.name, self.title, self.description, self.key, self.singular,
            self.singular.capitalize(), self.record_description, self.fields())

    def entry_schema(self) -> dict[str, Any]:
        return schema_mod.entry_schema(self.schema(), self.singular)

    def schema_json(self) -> str:
        return schema_mod.to_json(self.schema())

    def label(self, entry: dict[str, Any]) -> str:
        value = entry.get(self.label_field)
        return value if isinstance(value, str) else ""


def _generated(file: str, what: str) -> str:
    return (f"{file}: {what}. Generated from scripts/reprogrammability/ (schema.py, "
            "taxonomy.py, collections.py); do not edit by hand.")


PAPERS = Collection(
    name="papers", singular="paper", file=DEFAULT_DATABASE, key="papers", record=Paper,
    fields=schema_mod.paper_fields,
    title=schema_mod.PAPERS_TITLE,
    description=schema_mod.PAPERS_DESCRIPTION,
    record_description=schema_mod.PAPER_DESCRIPTION,
    duplicates=(
        DuplicateKey("id", "id", _on("id", _exact)),
        DuplicateKey("arxiv", "arXiv id {key}", _on("arxiv", _arxiv_key)),
        DuplicateKey("doi", "DOI", _on("doi", _doi_key)),
        DuplicateKey("title", "title", _on("title", name_key)),
        DuplicateKey("url", "URL", _on("url", url_key)),
        # A url that is another paper's arXiv page is that paper again.
        DuplicateKey("url", "arXiv id {key}", _paper_arxiv),
    ),
    link_fields=(("url",), ("code",)),
    label_field="title",
    rules=(_paper_rules, _paper_reference_rules),
    required=True,
)

DATASETS = Collection(
    name="datasets", singular="dataset", file="data/datasets.yaml", key="datasets",
    record=Dataset, fields=schema_mod.dataset_fields,
    title="Datasets and benchmarks",
    record_description="One dataset, or a suite of datasets, that papers and results use.",
    description=_generated("data/datasets.yaml", "the datasets and benchmark suites that papers "
                           "and results refer to by id"),
    # One official page often serves several datasets (CIFAR-10 and CIFAR-100, the GLUE
    # tasks), so a shared URL is no duplicate here; the README links it once.
    duplicates=_usual_duplicates("name", url=False),
    link_fields=(("url",), ("paper",)),
    label_field="name",
    rules=(_suite_rules,),
)

TOOLS = Collection(
    name="tools", singular="tool", file="data/tools.yaml", key="tools", record=Tool,
    fields=schema_mod.tool_fields,
    title="Tools and libraries",
    record_description="One library, framework or official code base.",
    description=_generated("data/tools.yaml", "libraries, frameworks and official code that "
                           "implement papers of the database"),
    duplicates=_usual_duplicates("name"),
    link_fields=(("url",),),
    label_field="name",
)

RESOURCES = Collection(
    name="resources", singular="resource", file="data/resources.yaml", key="resources",
    record=Resource, fields=schema_mod.resource_fields,
    title="Learning resources",
    record_description="One survey, tutorial, talk, course, set of notes, post or book.",
    description=_generated("data/resources.yaml", "surveys, tutorials, talks and courses, "
                           "ordered into a learning path by level"),
    duplicates=_usual_duplicates("title"),
    link_fields=(("url",),),
    label_field="title",
)


def result_key(entry: dict[str, Any]) -> Hashable | None:
    """The result's identity as its id slug, so equal keys and colliding ids both count."""
    source = entry.get("source")
    parts = (entry.get("paper", ""), entry.get("method"), entry.get("backbone"),
             entry.get("dataset"), entry.get("split"), entry.get("shots"), entry.get("metric"),
             source.get("kind") if isinstance(source, dict) else None)
    return key_slug(parts) if all(isinstance(p, str | int) and not isinstance(p, bool)
                                  for p in parts) else None


RESULTS = Collection(
    name="results", singular="result", file="data/results.yaml", key="results", record=Result,
    fields=schema_mod.result_fields,
    title="Results",
    record_description="One number: a method on a backbone, dataset, split and shot count, "
    "with where it comes from.",
    description=_generated("data/results.yaml", "numbers reported in papers or reproduced by "
                           "this repository, each tied to its paper, cell, backbone, dataset "
                           "and source"),
    duplicates=(DuplicateKey("paper", "paper, method, backbone, dataset, split, shots, metric "
                                       "and source kind", result_key),),
    link_fields=(("source", "url"),),
    label_field="method",
    rules=(_result_rules,),
)

#: Every collection, in the order files are validated and sections rendered.
COLLECTIONS: tuple[Collection, ...] = (PAPERS, DATASETS, TOOLS, RESOURCES, RESULTS)
BY_NAME: dict[str, Collection] = {c.name: c for c in COLLECTIONS}
BY_KEY: dict[str, Collection] = {c.key: c for c in COLLECTIONS}


def for_path(path: str | Path) -> Collection:
    """The collection a file holds, by its name (``datasets.yaml``); papers otherwise."""
    name = Path(path).name
    for c in COLLECTIONS:
        if Path(c.file).name == name:
            return c
    return PAPERS


def sibling_paths(papers_path: str | Path) -> dict[str, Path]:
    """Collection name -> its file, every collection living beside the papers file."""
    base = Path(papers_path)
    return {c.name: base if c is PAPERS else base.parent / Path(c.file).name
            for c in COLLECTIONS}


# --- what renderers receive ------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    """The validated records of every collection: what renderers and exporters read."""

    papers: tuple[Paper, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    tools: tuple[Tool, ...] = ()
    resources: tuple[Resource, ...] = ()
    results: tuple[Result, ...] = ()

    @classmethod
    def of(cls, data: Catalog | Iterable[Paper]) -> Catalog:
        """A catalog as given, or one holding only papers (tests and benchmarks pass lists)."""
        return data if isinstance(data, Catalog) else cls(papers=tuple(data))

    def __getitem__(self, name: str) -> tuple:
        return getattr(self, BY_NAME[name].name)

    def items(self) -> Iterator[tuple[Collection, tuple]]:
        return ((c, self[c.name]) for c in COLLECTIONS)
