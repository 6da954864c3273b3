"""The in-memory form of one database entry, shared by every tool that reads papers.yaml.

Validation (``validate.py``) is the only code that turns YAML into ``Paper`` objects, so every
other tool (renderer, link checker, BibTeX export, reference tests) can assume a valid, normalised
entry: tags are always tuples, ids are strings, and ``lines`` says where each field was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any, Iterator

from .taxonomy import AXES

DEFAULT_DATABASE = "data/papers.yaml"


def as_tuple(value: Any) -> tuple:
    """A one-or-many field as a tuple: ``input`` -> ``("input",)``, a list -> its items."""
    return tuple(value) if isinstance(value, list | tuple) else (value,)


@dataclass(frozen=True)
class DomainPair:
    """Where the frozen model comes from (``source``) and what it is adapted to (``target``)."""

    source: tuple[str, ...]
    target: tuple[str, ...]


@dataclass(frozen=True)
class Reference:
    """The reference/ implementation of a paper's own method (registry names)."""

    manipulation: str
    alignment: str
    fidelity: str
    preset: str | None = None


@dataclass(frozen=True)
class Paper:
    #: The paper's stable id (``elsayed2019adversarial``): BibTeX key, anchor and reference.
    id: str
    title: str
    authors: tuple[str, ...]
    year: int
    venue: str
    url: str
    paradigm: tuple[str, ...]
    configuration: tuple[str, ...]
    location: tuple[str, ...]
    operator: tuple[str, ...]
    alignment: tuple[str, ...]
    arxiv: str | None = None
    doi: str | None = None
    code: str | None = None
    #: Source and target data domains, when recorded.
    domain: DomainPair | None = None
    #: Canonical names of the frozen backbones the experiments use (``taxonomy.BACKBONES``).
    backbones: tuple[str, ...] = ()
    #: Ids of the target datasets (``data/datasets.yaml``) the paper reports results on.
    datasets: tuple[str, ...] = ()
    note: str | None = None
    #: The paper's own method in reference/, when one is registered.
    reference: Reference | None = None
    #: 1-based line of the entry's first key, and of each field as written in the YAML file.
    line: int = 0
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def tags(self, axis_field: str) -> tuple[str, ...]:
        """The paper's values on one axis (``configuration``, ``location``, ...)."""
        return getattr(self, axis_field)

    def combinations(self) -> Iterator[tuple[str, str, str, str]]:
        """Every (λ, ℓ, τ, ω) combination the paper's tags span.

        A paper tagged with several values on an axis spans the product; the reference test suite
        demands an implementation for each combination.
        """
        return product(*(self.tags(a.field) for a in AXES))

    def line_of(self, name: str) -> int:
        """Line of a field, falling back to the entry's own line."""
        return self.lines.get(name, self.line)

    @classmethod
    def from_entry(cls, entry: dict[str, Any], line: int, lines: dict[str, int]) -> Paper:
        """A validated YAML entry as a record (only validation calls this)."""
        domain = entry.get("domain")
        ref = entry.get("reference")
        return cls(
            id=entry["id"],
            title=entry["title"],
            authors=tuple(entry["authors"]),
            year=int(entry["year"]),
            venue=entry["venue"],
            url=entry["url"],
            paradigm=as_tuple(entry["paradigm"]),
            configuration=as_tuple(entry["configuration"]),
            location=as_tuple(entry["location"]),
            operator=as_tuple(entry["operator"]),
            alignment=as_tuple(entry["alignment"]),
            arxiv=entry.get("arxiv"),
            doi=entry.get("doi"),
            code=entry.get("code"),
            domain=DomainPair(as_tuple(domain["source"]), as_tuple(domain["target"]))
            if domain else None,
            backbones=tuple(entry.get("backbones", ())),
            datasets=tuple(entry.get("datasets", ())),
            note=entry.get("note"),
            reference=Reference(ref["manipulation"], ref["alignment"], ref["fidelity"],
                                ref.get("preset")) if ref else None,
            line=line,
            lines=lines,
        )
