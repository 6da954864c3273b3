"""The in-memory form of one database entry, shared by every tool that reads papers.yaml.

Validation (``validate.py``) is the only code that turns YAML into ``Paper`` objects, so every
other tool (renderer, link checker, BibTeX export, reference tests) can assume a valid, normalised
entry: tags are always tuples, ids are strings, and ``lines`` says where each field was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Iterator

from .taxonomy import AXES

DEFAULT_DATABASE = "data/papers.yaml"


@dataclass(frozen=True)
class Paper:
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
    note: str | None = None
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
