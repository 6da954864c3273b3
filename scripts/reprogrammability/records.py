"""The in-memory entries of the collections other than papers (``papers.py`` has ``Paper``).

As with ``Paper``, validation is the only code that builds these from YAML, so renderers and
other tools can rely on normalised values: lists are tuples, optional fields are None or empty,
and ``line``/``lines`` say where the entry and each of its fields were written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .taxonomy import AXES

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def key_slug(parts: tuple) -> str:
    """``("chen2023x", "ILM-VP", "ResNet-18", ...)`` -> ``chen2023x-ilm-vp-resnet-18-...``."""
    return "-".join(p for p in (_NOT_SLUG.sub("-", str(part).lower()).strip("-")
                                for part in parts) if p)


def _lines() -> Any:
    return field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Dataset:
    """A dataset, or a suite of datasets (``kind: suite`` with ``members``)."""

    id: str
    name: str
    kind: str
    domain: str
    task: str
    url: str
    description: str
    paper: str | None = None
    license: str | None = None
    members: tuple[str, ...] = ()
    line: int = 0
    lines: dict[str, int] = _lines()

    @classmethod
    def from_entry(cls, entry: dict[str, Any], line: int, lines: dict[str, int]) -> Dataset:
        return cls(id=entry["id"], name=entry["name"], kind=entry["kind"],
                   domain=entry["domain"], task=entry["task"], url=entry["url"],
                   description=entry["description"], paper=entry.get("paper"),
                   license=entry.get("license"), members=tuple(entry.get("members", ())),
                   line=line, lines=lines)


@dataclass(frozen=True)
class Tool:
    """A library, framework or official code base that implements papers of the database."""

    id: str
    name: str
    kind: str
    url: str
    language: str
    description: str
    implements: tuple[str, ...] = ()
    license: str | None = None
    line: int = 0
    lines: dict[str, int] = _lines()

    @classmethod
    def from_entry(cls, entry: dict[str, Any], line: int, lines: dict[str, int]) -> Tool:
        return cls(id=entry["id"], name=entry["name"], kind=entry["kind"], url=entry["url"],
                   language=entry["language"], implements=tuple(entry.get("implements", ())),
                   description=entry["description"], license=entry.get("license"),
                   line=line, lines=lines)


@dataclass(frozen=True)
class Resource:
    """Something to learn from (survey, tutorial, talk ...), placed on the learning path."""

    id: str
    title: str
    kind: str
    url: str
    level: int
    description: str
    year: int | None = None
    authors: tuple[str, ...] = ()
    venue: str | None = None
    line: int = 0
    lines: dict[str, int] = _lines()

    @classmethod
    def from_entry(cls, entry: dict[str, Any], line: int, lines: dict[str, int]) -> Resource:
        return cls(id=entry["id"], title=entry["title"],
                   year=int(entry["year"]) if "year" in entry else None,
                   kind=entry["kind"], url=entry["url"], level=int(entry["level"]),
                   description=entry["description"], authors=tuple(entry.get("authors", ())),
                   venue=entry.get("venue"), line=line, lines=lines)


@dataclass(frozen=True)
class Cell:
    """A method's (λ, ℓ, τ, ω) place in the taxonomy."""

    configuration: str
    location: str
    operator: str
    alignment: str

    def combination(self) -> tuple[str, str, str, str]:
        """As ``Paper.combinations`` yields them."""
        return (self.configuration, self.location, self.operator, self.alignment)


@dataclass(frozen=True)
class Source:
    """Where a number comes from: a paper's table (``reported``) or a run here (``reproduced``)."""

    kind: str
    where: str | None = None
    url: str | None = None
    command: str | None = None
    commit: str | None = None
    machine: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Result:
    """One number: a method on a backbone, dataset, split and shot count, with its source."""

    paper: str | None
    method: str
    cell: Cell | None
    backbone: str
    pretraining: str
    dataset: str
    split: str
    shots: str | int
    metric: str
    value: float
    source: Source
    std: float | None = None
    seeds: int | None = None
    params: float | None = None
    note: str | None = None
    line: int = 0
    lines: dict[str, int] = _lines()

    @property
    def key(self) -> tuple:
        """What makes a result unique: no two share it (validation checks)."""
        return (self.paper or "", self.method, self.backbone, self.dataset, self.split,
                self.shots, self.metric, self.source.kind)

    @property
    def baseline(self) -> bool:
        """A row without a cell: a baseline that is no reprogramming method (its note says)."""
        return self.cell is None

    @property
    def id(self) -> str:
        """A slug derived from :attr:`key`, for anchors (results have no written id).

        Validation treats two results with the same slug as duplicates, so it is unique.
        """
        return key_slug(self.key)

    @classmethod
    def from_entry(cls, entry: dict[str, Any], line: int, lines: dict[str, int]) -> Result:
        cell = entry.get("cell")
        source = entry["source"]
        return cls(
            paper=entry.get("paper"), method=entry["method"],
            cell=Cell(*(cell[a.field] for a in AXES)) if cell is not None else None,
            backbone=entry["backbone"],
            pretraining=entry["pretraining"], dataset=entry["dataset"], split=entry["split"],
            shots=entry["shots"], metric=entry["metric"], value=float(entry["value"]),
            source=Source(**{k: str(v) for k, v in source.items()}),
            std=float(entry["std"]) if "std" in entry else None,
            seeds=int(entry["seeds"]) if "seeds" in entry else None,
            params=float(entry["params"]) if "params" in entry else None,
            note=entry.get("note"), line=line, lines=lines,
        )
