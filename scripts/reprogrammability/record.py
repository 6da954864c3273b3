"""Append reproduced results to ``data/results.yaml``: all or nothing, through the validator.

The reference experiments call :func:`record` with ``--record PATH`` so that re-running one
updates the leaderboard and ``docs/reference-results.md`` through data, not by hand. The new
rows replace earlier *reproduced* rows of the same setting (a re-run supersedes the old run),
the spliced text is validated exactly as ``repro validate`` would validate the file (ids resolve
against the collections beside it, metric ranges, duplicates, cells), and only a text with no
problem is written, atomically. Anything else raises :class:`RecordError` and leaves the file
as it was, byte for byte.

Only the replaced entries' lines change: comments, order and layout of the rest of the file
stay, because the edit is a line splice located with libyaml's node marks, not a re-dump.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text_atomic
from .collections import RESULTS, result_key

#: The order fields are written in, as data/results.yaml documents it.
FIELD_ORDER: tuple[str, ...] = tuple(f.name for f in RESULTS.fields())
_PLAIN_KEYS = frozenset({"paper", "backbone", "dataset", "metric", "kind", "configuration",
                         "location", "operator", "alignment"})
_HEADER = "results:\n"


class RecordError(Exception):
    """The rows could not be recorded; the file is unchanged."""


def git_commit(root: str | Path = ".") -> str:
    """The abbreviated commit the working tree is at (a run must name the code it ran)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RecordError(f"cannot tell the commit to record (git rev-parse failed: {exc}); "
                          "run from a git checkout") from exc
    return out.stdout.strip()


def add_record_option(parser: argparse.ArgumentParser) -> None:
    """The experiments' shared ``--record PATH`` option (one wording, one behaviour)."""
    parser.add_argument(
        "--record",
        metavar="PATH",
        help="append the rows to this results file (data/results.yaml), replacing earlier "
        "reproduced rows of the same setting; validated first, written all-or-nothing",
    )


def commit_to_record(parser: argparse.ArgumentParser, path: str | None) -> str | None:
    """The commit a ``--record`` run will name, or None without one.

    Asked before any training, so a run outside a git checkout stops at once (a usage error,
    exit 2) instead of after hours of work whose rows could not say what code produced them.
    """
    if not path:
        return None
    try:
        return git_commit()
    except RecordError as exc:
        parser.error(f"--record: {exc}")


def today() -> str:
    """The UTC date of the run, ``YYYY-MM-DD``."""
    return datetime.now(UTC).date().isoformat()


def reproduced(command: str, machine: str, *, commit: str, date: str) -> dict[str, str]:
    """A ``source`` mapping for a run of this repository's code."""
    return {"kind": "reproduced", "command": command, "commit": commit, "machine": machine,
            "date": date}


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise RecordError(f"{key}: cannot record {value!r}")
    if isinstance(value, str):
        plain = key in _PLAIN_KEYS and value and value == value.strip() and not any(
            c in value for c in ":#{}[],&*!|>'\"%@`") and value[0] not in "-?"
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and key == "params":
        return str(int(value))
    return repr(value)


def render_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as entries of the ``results`` list: one ``key: value`` line per field, in the
    documented order, ``cell`` and ``source`` as flow mappings, strings JSON-quoted (a JSON
    string is a valid YAML double-quoted scalar), one blank line between entries."""
    out = []
    for row in rows:
        unknown = set(row) - set(FIELD_ORDER)
        if unknown:
            raise RecordError(f"unknown result field(s): {', '.join(sorted(unknown))}")
        lines = []
        for key in FIELD_ORDER:
            if key not in row:
                continue
            value = row[key]
            if isinstance(value, Mapping):
                inner = ", ".join(f"{k}: {_scalar(k, v)}" for k, v in value.items())
                lines.append(f"{key}: {{{inner}}}")
            else:
                lines.append(f"{key}: {_scalar(key, value)}")
        out.append("  - " + "\n    ".join(lines) + "\n")
    return "\n".join(out)


def _item_spans(text: str) -> list[tuple[int, int, dict[str, Any]]]:
    """(first line, line after the last, entry) of every entry of the ``results`` list.

    An entry's lines are its ``- `` line and the following lines indented deeper than the
    dash; a comment or blank line at the dash's indentation ends it, so comments between
    entries are never taken with the entry before them.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RecordError(f"the results file is not valid YAML: {exc}") from exc
    if node is None:
        return []
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise RecordError("the results file must be a mapping with a 'results' list")
    seq = next((v for k, v in node.value if k.value == "results"), None)
    entries = data.get("results")
    if seq is None or entries is None:
        return []
    if not isinstance(seq, yaml.SequenceNode) or not isinstance(entries, list) or seq.flow_style:
        raise RecordError("'results' must be a block list to record into")
    lines = text.splitlines()
    spans = []
    for item, entry in zip(seq.value, entries):
        first = item.start_mark.line
        dash = len(lines[first]) - len(lines[first].lstrip(" "))
        end = first + 1
        while end < len(lines):
            line = lines[end]
            indent = len(line) - len(line.lstrip(" "))
            if not line.strip() or indent <= dash:
                break
            end += 1
        spans.append((first, end, entry if isinstance(entry, dict) else {}))
    return spans


def splice(text: str, rows: list[Mapping[str, Any]]) -> str:
    """``text`` without the reproduced entries the rows supersede, with the rows appended."""
    if not text.strip():
        text = _HEADER
    keys = {result_key(dict(r)) for r in rows}
    keys.discard(None)
    lines = text.splitlines(keepends=True)
    drop: set[int] = set()
    for first, end, entry in _item_spans(text):
        source = entry.get("source")
        if isinstance(source, dict) and source.get("kind") == "reproduced" \
                and result_key(entry) in keys:
            drop.update(range(first, end))
            if end < len(lines) and not lines[end].strip():
                drop.add(end)  # the blank line that separated it from the next entry
    kept = "".join(line for i, line in enumerate(lines) if i not in drop)
    if "results:" not in kept:
        raise RecordError("the results file has no 'results:' list to append to")
    if kept.rstrip().endswith("results: []"):
        kept = kept.rstrip()[: -len("[]")].rstrip() + "\n"
    return kept.rstrip("\n") + "\n\n" + render_rows(rows)


def record(path: str | Path, rows: list[Mapping[str, Any]]) -> int:
    """Validate and write; returns how many rows were recorded. Raises :class:`RecordError`
    (with every problem at its file:line:col) and writes nothing when anything is wrong."""
    from .validate import load

    if not rows:
        raise RecordError("nothing to record")
    target = Path(path)
    try:
        old = target.read_text(encoding="utf-8") if target.exists() else ""
    except OSError as exc:
        raise RecordError(f"{target}: cannot read: {exc.strerror or exc}") from exc
    new = splice(old, list(rows))
    result = load(target, data=new.encode("utf-8"))
    if result.problems:
        listed = "\n".join(p.format() for p in result.problems)
        raise RecordError(f"not recorded, {target} is unchanged; the rows would make it "
                          f"invalid:\n{listed}")
    write_text_atomic(target, new)
    return len(rows)


def record_and_report(path: str | Path, rows: list[Mapping[str, Any]]) -> int:
    """What an experiment's ``--record PATH`` does: :func:`record`, then say what happened.

    Returns the exit status: 0 when the rows were written, 1 (with every problem printed) when
    nothing was.
    """
    try:
        n = record(path, rows)
    except RecordError as exc:
        print(exc)
        return 1
    print(f"recorded {n} rows in {path}")
    return 0
