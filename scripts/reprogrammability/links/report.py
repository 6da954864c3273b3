"""What a run found, for three readers: a person at a terminal (or a PR's annotations), a
machine (``--json``), and the scheduled workflow that posts ``--markdown`` as an issue.

Counts are per distinct target (a URL used in the data and in two rendered pages is one link);
problems are listed per occurrence, as ``file:line: URL: reason``, because each place is one the
author has to edit. Links from papers.yaml also name the paper.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from typing import IO

from ..annotations import annotation
from ..markdown import escape_md
from .results import STATUS_ORDER, Status
from .runner import Checked

#: statuses listed one by one in the console and the markdown report (others are only counted)
PROBLEMS = (Status.DEAD, Status.ERROR, Status.REFUSED, Status.NEEDS_HUMAN, Status.REDIRECTED)
_TITLES = {
    Status.DEAD: "Dead",
    Status.ERROR: "Errors (no answer after retries)",
    Status.REFUSED: "Refused (private addresses)",
    Status.NEEDS_HUMAN: "Needs a human (bot walls: 403, 429, 999)",
    Status.REDIRECTED: "Permanently redirected (update the link)",
}


def counts(checked: list[Checked]) -> Counter[Status]:
    """Distinct targets per status (local targets are already resolved to repository paths)."""
    seen: dict[tuple[bool, str], Status] = {}
    for c in checked:
        seen.setdefault((c.result.via == "local", c.result.url), c.result.status)
    return Counter(seen.values())


def exit_code(checked: Iterable[Checked]) -> int:
    return 1 if any(c.result.status.failing for c in checked) else 0


def _message(c: Checked) -> str:
    status, reason = c.result.status.value, c.result.reason
    text = reason if reason.startswith(status) else f"{status}: {reason}"
    if c.link.context:
        text += f" [paper: {c.link.context}]"
    return text


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def one_line(text: str) -> str:
    """``text`` without line breaks or other control characters: a reason a server chose must
    not start a line of its own (in an Actions log, a line starting ``::`` is a command)."""
    return _CONTROL.sub(" ", text)


def problem_line(c: Checked) -> str:
    return one_line(f"{c.link.file}:{c.link.line}: {c.link.target}: {_message(c)}")


def _sorted(checked: Iterable[Checked]) -> list[Checked]:
    return sorted(checked, key=lambda c: (c.link.file, c.link.line, c.link.target))


def summary_line(checked: list[Checked]) -> str:
    n = counts(checked)
    return ", ".join(f"{s.value} {n.get(s, 0)}" for s in STATUS_ORDER)


def print_console(
    checked: list[Checked],
    warnings: list[str],
    stream: IO[str],
    *,
    verbose: bool = False,
    quiet: bool = False,
    github: bool | None = None,
    files: int | None = None,
) -> None:
    """Problems grouped by status, then the summary; GitHub annotations inside Actions."""
    if github is None:
        github = os.environ.get("GITHUB_ACTIONS") == "true"
    shown = PROBLEMS if not verbose else STATUS_ORDER
    for status in shown:
        group = _sorted(c for c in checked if c.result.status is status)
        if not group or (quiet and not status.failing):
            continue
        print(f"{status.value} ({len(group)}):", file=stream)
        for c in group:
            print(f"  {problem_line(c)}", file=stream)
    if not quiet:
        for w in warnings:
            print(f"warning: {one_line(w)}", file=stream)
    if github:
        for c in _sorted(checked):
            status = c.result.status
            if not (status.failing or status.warning):
                continue
            print(
                annotation(
                    "error" if status.failing else "warning",
                    f"{c.link.target}: {_message(c)}",
                    file=c.link.file,
                    line=c.link.line,
                    title=f"{status.value} link",
                ),
                file=stream,
            )
    distinct = sum(counts(checked).values())
    where = f" in {files} file(s)" if files is not None else ""
    print(
        f"links: {len(checked)} occurrence(s){where}, {distinct} distinct: {summary_line(checked)}",
        file=stream,
    )


def to_json(checked: list[Checked], warnings: list[str], *, inputs: list[str]) -> str:
    """One entry per distinct result with all its occurrences; a summary with the exit code."""
    grouped: dict[int, dict] = {}
    order: list[int] = []
    for c in checked:
        key = id(c.result)
        if key not in grouped:
            grouped[key] = {**c.result.to_json(), "occurrences": []}
            order.append(key)
        grouped[key]["occurrences"].append(
            {
                "file": c.link.file,
                "line": c.link.line,
                "target": c.link.target,
                "kind": c.link.kind,
                "field": c.link.field,
                "paper": c.link.context or None,
            }
        )
    n = counts(checked)
    payload = {
        "summary": {
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "inputs": inputs,
            "occurrences": len(checked),
            "counts": {s.value: n.get(s, 0) for s in STATUS_ORDER},
            "exit_code": exit_code(checked),
        },
        "warnings": warnings,
    }
    # One result per line: readable, diffable, and written by json's C encoder (``indent``
    # forces the pure-Python one, which took a third of a 2,000-link run's CPU).
    head = json.dumps(payload, indent=2, ensure_ascii=False)
    # One encoder for all rows: ``json.dumps`` with a keyword builds a new one per call.
    encode = json.JSONEncoder(ensure_ascii=False).encode
    rows = ",\n    ".join(encode(grouped[k]) for k in order)
    results = f'  "results": [\n    {rows}\n  ],\n' if rows else '  "results": [],\n'
    return head[:2] + results + head[2:] + "\n"


def _code(text: str) -> str:
    """``text`` as an inline code span that survives a table cell and any backticks inside."""
    text = text.replace("|", "\\|").replace("\n", " ")
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_URL_IN_TEXT = re.compile(r"https?://\S+")


def _inert(text: str) -> str:
    """Escaped prose with any URL in it (a redirect target, say) as code, so GitHub does not
    autolink addresses that servers or contributors chose."""
    out, pos = [], 0
    for m in _URL_IN_TEXT.finditer(text):
        out.append(escape_md(text[pos : m.start()]))
        out.append(_code(m.group(0)))
        pos = m.end()
    out.append(escape_md(text[pos:]))
    return "".join(out)


def to_markdown(checked: list[Checked], warnings: list[str], *, inputs: list[str]) -> str:
    """The issue body the scheduled workflow posts: summary table, then one table per problem.

    URLs are shown as code, never as live links: they come from contributors, and an issue body
    must not turn them into markup.
    """
    n = counts(checked)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Link check report",
        "",
        f"Checked {stamp}: {len(checked)} link occurrence(s), {sum(n.values())} distinct, in "
        + ", ".join(_code(i) for i in inputs)
        + ".",
        "",
        "| Status | Distinct links |",
        "| --- | ---: |",
    ]
    lines += [f"| {s.value} | {n.get(s, 0)} |" for s in STATUS_ORDER]
    lines.append("")
    failing = exit_code(checked)
    lines.append(
        "**Some links are broken.** Fix them in `data/papers.yaml` (then `repro build`) or in "
        "the markdown source."
        if failing
        else "No dead links."
        + (
            " Some links need a look (below)."
            if any(c.result.status.warning for c in checked)
            else ""
        )
    )
    for status in PROBLEMS:
        group = _sorted(c for c in checked if c.result.status is status)
        if not group:
            continue
        lines += ["", f"## {_TITLES[status]}: {len(group)}", ""]
        lines += ["| Where | Link | Reason |", "| --- | --- | --- |"]
        for c in group:
            where = _code(f"{c.link.file}:{c.link.line}")
            if c.link.context:
                where += f" ({escape_md(c.link.context)})"
            lines.append(f"| {where} | {_code(c.link.target)} | {_inert(c.result.reason)} |")
    if warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {_inert(w)}" for w in warnings]
    lines += ["", "<sub>Generated by `repro links`.</sub>", ""]
    return "\n".join(lines)
