"""What the results pages show: template contexts and figures for ``render.py``.

``docs/leaderboards.md`` gets one table per (dataset, backbone) from ``leaderboard.groups``,
suite averages, and two SVG figures; ``docs/reference-results.md`` gets, for each command the
reference experiments recorded, the table of its ``reproduced`` rows. Values link to where they
come from: a reported number to the version of the paper read, a reproduced one to the page that
gives its command, machine and date.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import figures
from .collections import Catalog
from .leaderboard import (
    LITERATURE_SUITES,
    REPORTED,
    REPRODUCED,
    Average,
    Group,
    Line,
    format_value,
    groups,
    reproduced_by_command,
    suite_averages,
    suites,
)
from .markdown import escape_md, unique_slugs
from .papers import Paper
from .records import Result

LEADERBOARDS = "docs/leaderboards.md"
REFERENCE_RESULTS = "docs/reference-results.md"
#: The figures, relative to the repository root (docs link them as figures/...).
FIGURE_PARAMS = "docs/figures/accuracy-vs-params.svg"
FIGURE_AVERAGES = "docs/figures/suite-averages.svg"
#: Alt text the pages give the figures (the SVGs carry the same as their <title>).
ALT_PARAMS = ("Scatter plots, one per backbone, of accuracy against the number of trainable "
              "parameters on a log scale, reported and reproduced results in two colours")
ALT_AVERAGES = ("Horizontal bar chart of each method's mean accuracy over the datasets of a "
                "standard suite, one bar per method and backbone")


def _href(url: str) -> str:
    from .render import href

    return href(url)


def cell_text(r: Result) -> str:
    c = r.cell
    return "—" if c is None else (
        f"{c.configuration} · {c.location} · {c.operator} + {c.alignment}")


def _cite(paper: Paper | None) -> str:
    if paper is None:
        return "—"
    from .render import short_authors

    return f"[{escape_md(short_authors(paper.authors))} {paper.year}]({_href(paper.url)})"


def _value(r: Result | None, page: str) -> str:
    """The number, ± std when given, linked to its source."""
    if r is None:
        return ""
    text = format_value(r.value) + (f" ± {format_value(r.std)}" if r.std is not None else "")
    if r.source.kind == REPORTED and r.source.url:
        where = (r.source.where or "").replace('"', "'")
        return f'[{text}]({_href(r.source.url)} "{escape_md(where)}")'
    return f"[{text}]({page})"


def _where(line: Line) -> str:
    parts = []
    if line.reported is not None:
        parts.append(escape_md(line.reported.source.where or ""))
    if line.reproduced is not None:
        parts.append(f"`{line.reproduced.source.command}`")
    return "; ".join(parts)


def _setting(r: Result) -> str:
    shots = _shots(r.shots)
    return escape_md(f"{r.pretraining}; {r.split}; {shots}; {r.metric}")


def _shots(shots: str | int) -> str:
    return "full" if shots == "full" else "zero-shot" if shots == 0 else f"{shots}-shot"


def _params(r: Result) -> str:
    return "" if r.params is None else f"{r.params:,.0f}"


def _method(r: Result) -> str:
    return escape_md(r.method)


def table(header: list[str], rows: Iterable[list[str]], align: str) -> str:
    """A GitHub table; ``align`` has one of ``l``/``r`` per column."""
    marks = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(out)


def group_table(group: Group, papers: dict[str, Paper], reference_page: str) -> str:
    rows = []
    for line in group.lines:
        r = line.first
        rows.append([_method(r), _cite(papers.get(r.paper or "")), cell_text(r), _setting(r),
                     _params(r), _value(line.reported, reference_page),
                     _value(line.reproduced, reference_page), _where(line)])
    return table(["Method", "Paper", "Cell (λ · ℓ · τ + ω)", "Setting", "Trainable params",
                  "Reported", "Reproduced", "Where"], rows, "llllrrrl")


def averages_table(averages: list[Average], papers: dict[str, Paper]) -> str:
    rows = [[escape_md(a.suite.name), escape_md(a.backbone), escape_md(a.method),
             _cite(papers.get(a.paper or "")),
             escape_md(f"{a.split}; {_shots(a.shots)}; {a.metric}"),
             a.kind, format_value(a.value)] for a in averages]
    return table(["Suite", "Backbone", "Method", "Paper", "Setting", "Source", "Mean"], rows,
                 "llllllr")


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bar_label(a: Average, papers: dict[str, Paper]) -> str:
    paper = papers.get(a.paper or "")
    who = f", {paper.authors[0].split()[-1]} {paper.year}" if paper else ""
    setting = "" if a.shots == "full" else f", {_shots(a.shots)}"
    return (_short(f"{a.method}{who}", 36) + f" · {a.backbone} · {a.suite.key}{setting}")


def figure_texts(catalog: Catalog) -> dict[str, str]:
    """Both figures, relpath -> SVG text."""
    papers = {p.id: p for p in catalog.papers}
    by_backbone: dict[str, list[figures.Point]] = {}
    for r in sorted(catalog.results, key=lambda r: (r.backbone, r.line)):
        if not r.params or r.metric not in ("top-1 accuracy", "accuracy"):
            continue
        by_backbone.setdefault(r.backbone, []).append(
            figures.Point(r.params, r.value, _short(r.method, 46), r.source.kind))
    from .leaderboard import _BACKBONE_RANK

    panels = sorted(by_backbone.items(), key=lambda kv: (_BACKBONE_RANK.get(kv[0], 10**6), kv[0]))
    scatter = figures.scatter(
        "Accuracy against trainable parameters, per backbone",
        ALT_PARAMS + ". Only results whose source states the parameter count are plotted.",
        panels)
    averages = [a for a in suite_averages(catalog.results, suites(catalog.datasets))
                if a.metric in ("top-1 accuracy", "accuracy")]
    ordered = sorted(averages, key=lambda a: (a.suite.key, -a.value, a.method.casefold(),
                                              a.backbone, str(a.shots)))
    bar_items = [figures.Bar(f"{_bar_label(a, papers)}", a.value, a.kind) for a in ordered]
    names = ", ".join(dict.fromkeys(a.suite.key for a in ordered)) or "no suite"
    chart = figures.bars(f"Mean accuracy over a suite ({names})",
                         ALT_AVERAGES + ". Only methods with a number on every dataset of the "
                         "suite are shown.", bar_items)
    return {FIGURE_PARAMS: scatter, FIGURE_AVERAGES: chart}


def leaderboards_context(catalog: Catalog) -> dict:
    papers = {p.id: p for p in catalog.papers}
    names = {d.id: d.name for d in catalog.datasets}
    reference_page = "reference-results.md"
    tables = groups(catalog.results, names)
    headings: list[str] = ["Leaderboards", "Contents", "Suite averages"]
    by_dataset: list[tuple[str, list[tuple[str, str]]]] = []
    for g in tables:
        title = names.get(g.dataset, g.dataset)
        if not by_dataset or by_dataset[-1][0] != title:
            by_dataset.append((title, []))
            headings.append(title)
        headings.append(g.backbone)
        by_dataset[-1][1].append((g.backbone, group_table(g, papers, reference_page)))
    slugs = iter(unique_slugs(headings)[3:])
    sections = []
    for title, subs in by_dataset:
        slug = next(slugs)
        sections.append({"title": title, "slug": slug,
                         "tables": [{"backbone": b, "slug": next(slugs), "table": t}
                                    for b, t in subs]})
    averages = suite_averages(catalog.results, suites(catalog.datasets))
    covered = {a.suite.key for a in averages}
    shown = [s for s in suites(catalog.datasets) if s.key in covered or s in LITERATURE_SUITES]
    kinds = {r.source.kind for r in catalog.results}
    return {
        "sections": sections,
        "averages_table": averages_table(averages, papers) if averages else "",
        "suites": shown,
        "dataset_names": names,
        "count": len(catalog.results),
        "reported_count": sum(r.source.kind == REPORTED for r in catalog.results),
        "reproduced_count": sum(r.source.kind == REPRODUCED for r in catalog.results),
        "paper_count": len({r.paper for r in catalog.results
                            if r.source.kind == REPORTED and r.paper}),
        "table_count": len(tables),
        "has_both": kinds == {REPORTED, REPRODUCED},
        "figure_params": FIGURE_PARAMS.removeprefix("docs/"),
        "figure_averages": FIGURE_AVERAGES.removeprefix("docs/"),
        "alt_params": ALT_PARAMS,
        "alt_averages": ALT_AVERAGES,
    }


def reference_table(rows: list[Result], papers: dict[str, Paper]) -> str:
    body = []
    for r in rows:
        acc = format_value(r.value) + (f" ± {format_value(r.std)}" if r.std is not None else "")
        body.append([_method(r), _cite(papers.get(r.paper or "")), cell_text(r), _params(r),
                     acc, escape_md(r.note or "")])
    return table(["Method", "Paper", "Cell (λ · ℓ · τ + ω)", "Trainable params",
                  "Test acc. (%)", "Notes"], body, "lllrrl")


def reference_context(catalog: Catalog) -> dict:
    """``reproduced(command)`` in the template: that command's table, or a plain sentence."""
    papers = {p.id: p for p in catalog.papers}
    by_command = reproduced_by_command(catalog.results)

    def reproduced(command: str) -> str:
        rows = by_command.get(command)
        if not rows:
            return (f"No run of `{command}` is recorded in data/results.yaml yet; run it with "
                    "`--record data/results.yaml`.")
        first = rows[0].source
        return (reference_table(rows, papers) + "\n\n"
                f"Recorded from `{first.command}` at commit `{first.commit}` on {first.date}, "
                f"{escape_md(first.machine or '')}.")

    return {"reproduced": reproduced}
