"""Leaderboards: the results collection grouped, sorted and averaged for the docs.

``render.py`` turns what this module computes into ``docs/leaderboards.md`` (one table per
(dataset, backbone) pair), the reproduced tables of ``docs/reference-results.md`` and the SVG
figures (``figures.py``). Everything here is a pure function of validated records with a total
order on every list, so the rendered pages and figures are byte-identical from run to run and
``repro build --check`` can hold them fresh in CI.

Why merge rows into *settings*: a reader comparing a paper's number with our re-run of it wants
both on one line. A reported and a reproduced result of the same (paper, method, backbone,
pre-training, dataset, split, shots, metric) are therefore one :class:`Line`, shown side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean

from .records import Dataset, Result
from .taxonomy import BACKBONE_NAMES, METRICS_BY_NAME

REPORTED, REPRODUCED = "reported", "reproduced"
_BACKBONE_RANK = {name: i for i, name in enumerate(BACKBONE_NAMES)}


@dataclass(frozen=True)
class Suite:
    """A standard set of datasets whose average is worth a column of its own.

    An average is shown only where a method has a number on *every* member, so two averages
    in one column always cover the same datasets.
    """

    key: str
    name: str
    description: str
    members: tuple[str, ...]


#: Suites defined by the literature rather than by a dataset's official page (those live in
#: data/datasets.yaml as ``kind: suite`` and are added by :func:`suites`).
VR11 = Suite(
    "vr-11", "VR-11",
    "the 11 target datasets of Table 1 of SMM (Cai et al., ICML 2024), which follows the "
    "dataset splits of ILM-VP (Chen et al., CVPR 2023)",
    ("cifar10", "cifar100", "svhn", "gtsrb", "flowers102", "dtd", "ucf101", "food101",
     "sun397", "eurosat", "oxford-pets"),
)
LITERATURE_SUITES: tuple[Suite, ...] = (VR11,)


def suites(datasets: Iterable[Dataset] = ()) -> tuple[Suite, ...]:
    """The literature's suites, then every dataset suite of the collection that lists members."""
    extra = tuple(Suite(d.id, d.name, d.description, d.members)
                  for d in sorted(datasets, key=lambda d: d.id)
                  if d.kind == "suite" and d.members)
    return LITERATURE_SUITES + extra


def shots_key(shots: str | int) -> tuple[int, int]:
    """Few-shot settings first, by k; the full training set last."""
    return (0, shots) if isinstance(shots, int) else (1, 0)


def higher_is_better(metric: str) -> bool:
    m = METRICS_BY_NAME.get(metric)
    return True if m is None else m.higher_is_better


def format_value(value: float) -> str:
    """``65.5``, ``43.91``, ``70.0``: up to two decimals, at least one (as tables print them)."""
    return f"{value:.2f}".removesuffix("0")


def setting_key(r: Result) -> tuple:
    """What a reported and a reproduced number must share to sit on one line."""
    return (r.paper or "", r.method, r.backbone, r.pretraining, r.dataset, r.split,
            str(r.shots), r.metric)


@dataclass(frozen=True)
class Line:
    """One setting: its reported number, its reproduced number, or both."""

    reported: Result | None
    reproduced: Result | None

    @property
    def first(self) -> Result:
        """The row that describes the setting (the reported one when there is one)."""
        r = self.reported or self.reproduced
        assert r is not None
        return r

    @property
    def value(self) -> float:
        return self.first.value

    def sort_key(self) -> tuple:
        r = self.first
        sign = -1 if higher_is_better(r.metric) else 1
        return (r.metric, r.split, shots_key(r.shots), r.pretraining, sign * r.value,
                r.method.casefold(), r.paper or "")


def lines(results: Iterable[Result]) -> list[Line]:
    """Reported and reproduced rows of the same setting merged; unsorted."""
    by_setting: dict[tuple, dict[str, Result]] = defaultdict(dict)
    for r in results:
        by_setting[setting_key(r)][r.source.kind] = r
    return [Line(kinds.get(REPORTED), kinds.get(REPRODUCED)) for kinds in by_setting.values()]


@dataclass(frozen=True)
class Group:
    """One leaderboard table: every setting on one dataset with one backbone, best first."""

    dataset: str
    backbone: str
    lines: tuple[Line, ...]


def group_sort_key(dataset: str, backbone: str, names: dict[str, str]) -> tuple:
    return (names.get(dataset, dataset).casefold(), dataset,
            _BACKBONE_RANK.get(backbone, len(_BACKBONE_RANK)), backbone)


def groups(results: Iterable[Result], dataset_names: dict[str, str] | None = None) -> list[Group]:
    """The (dataset, backbone) tables, ordered by dataset name then backbone vocabulary order;
    within a table by metric, split, shots, then value (best first), method and paper."""
    names = dataset_names or {}
    buckets: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        buckets[(r.dataset, r.backbone)].append(r)
    out = [Group(d, b, tuple(sorted(lines(rows), key=Line.sort_key)))
           for (d, b), rows in buckets.items()]
    return sorted(out, key=lambda g: group_sort_key(g.dataset, g.backbone, names))


@dataclass(frozen=True)
class Average:
    """A method's mean over a suite: only computed where every member has a number."""

    suite: Suite
    paper: str | None
    method: str
    backbone: str
    pretraining: str
    split: str
    shots: str | int
    metric: str
    kind: str
    value: float
    baseline: bool

    def sort_key(self) -> tuple:
        sign = -1 if higher_is_better(self.metric) else 1
        return (self.suite.key, _BACKBONE_RANK.get(self.backbone, len(_BACKBONE_RANK)),
                self.backbone, self.metric, self.split, shots_key(self.shots), self.kind,
                sign * self.value, self.method.casefold(), self.paper or "")


def suite_averages(results: Iterable[Result], all_suites: Iterable[Suite]) -> list[Average]:
    """Mean per (suite, paper, method, backbone, pre-training, split, shots, metric, kind).

    Rounded to two decimals, as papers print their averages; a method missing any member of
    a suite gets no average for it (a partial mean would not be comparable).
    """
    rows = list(results)
    out: list[Average] = []
    for suite in all_suites:
        members = set(suite.members)
        cells: dict[tuple, dict[str, Result]] = defaultdict(dict)
        for r in rows:
            if r.dataset in members:
                key = (r.paper or "", r.method, r.backbone, r.pretraining, r.split,
                       str(r.shots), r.metric, r.source.kind)
                cells[key][r.dataset] = r
        for by_dataset in cells.values():
            if set(by_dataset) != members:
                continue
            r = next(iter(by_dataset.values()))
            mean = fmean(by_dataset[d].value for d in suite.members)
            out.append(Average(suite, r.paper, r.method, r.backbone, r.pretraining, r.split,
                               r.shots, r.metric, r.source.kind, round(mean, 2), r.baseline))
    return sorted(out, key=Average.sort_key)


def reproduced_by_command(results: Iterable[Result]) -> dict[str, list[Result]]:
    """Reproduced rows per recorded command, each list in file order."""
    out: dict[str, list[Result]] = defaultdict(list)
    for r in sorted(results, key=lambda r: r.line):
        if r.source.kind == REPRODUCED and r.source.command:
            out[r.source.command].append(r)
    return dict(out)
