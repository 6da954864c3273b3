"""``repro validate``: check ``data/papers.yaml`` and report every problem at its line and column.

A contributor fixing a pull request wants the whole list at once, each item pointing at the line
to change and saying what to write instead. So nothing here stops at the first problem: the YAML
reader (``yamlsource``) reports syntax, duplicate keys and aliases; the JSON Schema (``schema``,
derived from ``taxonomy.py``) decides what an entry may contain; Python checks turn the usual
slips into plain advice (``'imput' ... did you mean 'input'?``, unquoted arXiv ids that YAML
read as numbers, dates where a year belongs) and find duplicate papers across entries.

Speed: valid entries, the overwhelming majority, pass a compiled acceptance check
(:func:`schema.compile_checker`) and never reach jsonschema; only entries it rejects get the
detailed checks and ``iter_errors`` from one validator built once per process.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from . import schema as schema_mod
from .papers import DEFAULT_DATABASE, Paper
from .yamlsource import Document, Path_, YamlResult, parse_bytes, paused_gc

TAG_VOCAB = schema_mod.tag_vocabulary()
FIELDS = schema_mod.FIELDS
REQUIRED = schema_mod.REQUIRED_FIELDS
STRING_FIELDS = ("title", "venue", "arxiv", "doi", "url", "code", "note")
_ARXIV_RE = re.compile(schema_mod.ARXIV_PATTERN)
_DOI_RE = re.compile(schema_mod.DOI_PATTERN)
_URL_RE = re.compile(schema_mod.URL_PATTERN)
_NONBLANK_RE = re.compile(schema_mod.NONBLANK_PATTERN)
_VERSION_RE = re.compile(r"v\d+$")
_TITLE_JUNK_RE = re.compile(r"[\W_]+")
#: What an axis value is called in messages: "a location value", "a paradigm".
_TAG_NOUN = {"paradigm": "a paradigm"} | {
    f: f"{'an' if f[0] in 'aeiou' else 'a'} {f} value" for f in TAG_VOCAB if f != "paradigm"
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the database, where it is, and what to do about it.

    ``line``/``col`` are 1-based; 0 means the problem concerns the whole file (it cannot be
    read). ``field`` names the place in the data the way a contributor would look for it:
    ``papers[12].location`` (entries count from 0, as in the schema's JSON paths).
    """

    path: str
    line: int
    col: int
    field: str
    message: str
    #: Index of the entry the problem belongs to, None for file-level problems.
    entry: int | None = dataclass_field(default=None, compare=False)

    def format(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def annotation(self) -> str:
        """The GitHub Actions workflow command that pins this problem to the file and line."""
        props = [f"file={_escape_property(self.path)}"]
        if self.line:
            props += [f"line={self.line}", f"col={self.col}"]
        props.append(f"title={_escape_property(self.field or 'papers.yaml')}")
        return f"::error {','.join(props)}::{_escape_data(self.message)}"


@dataclass
class LoadResult:
    """Papers that passed every per-entry check, and every problem found in the file."""

    papers: list[Paper]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _escape_data(text: str) -> str:
    # Workflow-command rules: these three would end or corrupt the command.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def field_label(path: Path_) -> str:
    """``("papers", 3, "authors", 0)`` -> ``papers[3].authors[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@lru_cache(maxsize=1)
def _validators() -> tuple[Any, Any]:
    """(jsonschema validator for one entry, compiled acceptance check): built once."""
    from jsonschema import Draft202012Validator

    paper = schema_mod.paper_schema()
    return Draft202012Validator(paper), schema_mod.compile_checker(paper)


# --- messages ----------------------------------------------------------------------------------


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    folded = {c.casefold(): c for c in choices}
    if value.casefold() in folded:
        return f"; did you mean {folded[value.casefold()]!r}?"
    spaced = value.replace("-", " ").replace("_", " ").casefold()
    for c in choices:
        if c.replace("-", " ").casefold() == spaced:
            return f"; did you mean {c!r}?"
    close = difflib.get_close_matches(value.casefold(), choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


class _EntryChecker:
    """The detailed checks for one entry that the fast acceptance check rejected."""

    def __init__(self, doc: Document, index: int, entry: dict[str, Any], sink: _Sink) -> None:
        self.doc = doc
        self.index = index
        self.base: Path_ = ("papers", index)
        self.entry = entry
        self.sink = sink
        self.reported: list[Path_] = []

    def problem(self, rel: Path_, message: str, *, key: bool = False) -> None:
        path = self.base + rel
        self.reported.append(rel)
        if any(_related(path, bad) for bad in self.doc.damaged):
            return  # the reader already reported this value (an alias, an unsupported tag)
        self.sink.add(path, message, key=key, entry=self.index)

    def unquoted(self, rel: Path_, value: Any, expected: str) -> bool:
        """A plain scalar that YAML typed as something else: say what it read and how to quote."""
        text = self.doc.plain_text(self.base + rel, value)
        if text is None or value is None:
            return False
        quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        where = f"{rel[0]}: {quoted}" if len(rel) == 1 else quoted
        self.problem(rel, f"{expected} must be a quoted string: YAML read the unquoted "
                          f"{text} as {_describe(value)}; quote it: {where}")
        return True

    def run(self) -> None:
        entry = self.entry
        for key in entry:
            if key not in FIELDS:
                hint = _did_you_mean(key, FIELDS)
                self.problem((key,), f"unknown field {key!r}{hint} (fields: {', '.join(FIELDS)})",
                             key=True)
        for name in REQUIRED:
            if name not in entry:
                typo = [k for k in entry if k not in FIELDS and _did_you_mean(k, [name])]
                hint = f" (is {typo[0]!r} a typo?)" if typo else ""
                self.problem((name,), f"missing required field {name!r}{hint}")
        for name, value in entry.items():
            if name in STRING_FIELDS:
                self.string_field(name, value)
            elif name == "year":
                self.year(value)
            elif name == "authors":
                self.authors(value)
            elif name in TAG_VOCAB:
                self.tags(name, value)

    def string_field(self, name: str, value: Any) -> None:
        rel = (name,)
        if value is None:
            need = "required" if name in REQUIRED else "optional: remove the line or give a value"
            self.problem(rel, f"{name} is empty ({need})")
            return
        if not isinstance(value, str):
            label = "arXiv id" if name == "arxiv" else name
            if not self.unquoted(rel, value, label):
                self.problem(rel, f"{name} must be a single string, not {_describe(value)}")
            return
        if name in ("title", "venue") and not _NONBLANK_RE.search(value):
            self.problem(rel, f"{name} must not be blank")
        elif name == "arxiv" and not _ARXIV_RE.match(value):
            self.problem(rel, _arxiv_message(value))
        elif name == "doi" and not _DOI_RE.match(value):
            self.problem(rel, _doi_message(value))
        elif name in ("url", "code") and not _URL_RE.match(value):
            self.problem(rel, f"{value!r} is not an http(s) URL: write the full address, "
                              "starting with https://")

    def year(self, value: Any) -> None:
        rel = ("year",)
        if isinstance(value, bool) or value is None:
            self.problem(rel, f"year must be an integer such as 2021, not {_describe(value)}")
        elif isinstance(value, str):
            digits = value.strip()
            hint = f"write year: {digits} without quotes" if digits.isdigit() else \
                "write the year as a number, e.g. year: 2021"
            self.problem(rel, f"year must be an unquoted integer, but YAML read the string "
                              f"{value!r}; {hint}")
        elif isinstance(value, datetime | date):
            self.problem(rel, f"year must be the year only, but YAML read the date "
                              f"{value.isoformat()}; write year: {value.year}")
        elif isinstance(value, float) and not value.is_integer():
            self.problem(rel, f"year must be an integer such as 2021, not {value!r}")
        elif isinstance(value, int | float) and not (
            schema_mod.YEAR_MIN <= value <= schema_mod.YEAR_MAX
        ):
            self.problem(rel, f"year {value!r} is outside {schema_mod.YEAR_MIN}-"
                              f"{schema_mod.YEAR_MAX}; is it a typo?")
        elif not isinstance(value, int | float):
            self.problem(rel, f"year must be an integer such as 2021, not {_describe(value)}")

    def authors(self, value: Any) -> None:
        rel = ("authors",)
        if isinstance(value, str):
            self.problem(rel, "authors must be a list, one name per item: "
                              "authors: [First Author, Second Author]")
            return
        if not isinstance(value, list):
            self.problem(rel, f"authors must be a list of names, not {_describe(value)}")
            return
        if not value:
            self.problem(rel, "authors must name at least one author")
        for i, name in enumerate(value):
            item = ("authors", i)
            if isinstance(name, str):
                if not _NONBLANK_RE.search(name):
                    self.problem(item, f"author {i + 1} is blank")
            elif name is None:
                self.problem(item, f"author {i + 1} is empty")
            elif not self.unquoted(item, name, f"author {i + 1}"):
                self.problem(item, f"author {i + 1} must be a name, not {_describe(name)}")

    def tags(self, name: str, value: Any) -> None:
        vocab = TAG_VOCAB[name]
        expected = f"(expected one of {', '.join(vocab)})"
        if value is None:
            self.problem((name,), f"{name} is empty {expected}")
            return
        if isinstance(value, list):
            if not value:
                self.problem((name,), f"{name} must list at least one value {expected}")
            seen: dict[str, int] = {}
            for i, item in enumerate(value):
                if isinstance(item, str) and item in seen:
                    first = self.doc.position(self.base + (name, seen[item]))
                    self.problem((name, i), f"{item!r} is repeated in {name} (first at line "
                                            f"{first[0]}, column {first[1]}); list it once")
                elif isinstance(item, str):
                    seen[item] = i
                    self.tag_value(name, (name, i), item, vocab, expected)
                else:
                    self.tag_value(name, (name, i), item, vocab, expected)
            return
        self.tag_value(name, (name,), value, vocab, expected)

    def tag_value(self, name: str, rel: Path_, value: Any, vocab: tuple[str, ...],
                  expected: str) -> None:
        if isinstance(value, str):
            if value not in vocab:
                hint = _did_you_mean(value, vocab)
                self.problem(rel, f"{value!r} is not {_TAG_NOUN[name]}{hint} {expected}")
            return
        if isinstance(value, dict):
            self.problem(rel, f"{name} must be a value or a list of values, not a mapping "
                              f"{expected}")
            return
        if isinstance(value, list):
            self.problem(rel, f"{name} lists cannot be nested {expected}")
            return
        self.problem(rel, f"{_describe(value)} is not {_TAG_NOUN[name]} {expected}")

    def schema_errors(self) -> None:
        """Whatever jsonschema finds that the checks above did not already explain."""
        validator, _ = _validators()
        covered = {"required", "additionalProperties", "type"}
        for error in validator.iter_errors(_shallow(self.entry)):
            rel = tuple(error.absolute_path)
            if not rel and error.validator in covered:
                continue
            if any(_related(rel, done) for done in self.reported):
                continue
            self.problem(rel, error.message)


class _Nested:
    """Stands in for a container nested where the schema allows none (see ``_shallow``)."""

    def __repr__(self) -> str:
        return "[...]"


_NESTED = _Nested()


def _shallow(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with containers below the second level replaced by a placeholder.

    No field may nest containers, and the detailed checks already report any that do; but
    jsonschema would ``repr`` the whole value into its message, which for YAML's maximum
    nesting depth (1000) exceeds Python's recursion limit.
    """
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if isinstance(value, list):
            value = [_NESTED if isinstance(i, list | dict) else i for i in value]
        elif isinstance(value, dict):
            value = {k: _NESTED if isinstance(v, list | dict) else v for k, v in value.items()}
        out[key] = value
    return out


def _related(a: Path_, b: Path_) -> bool:
    """True when one path is the other or lies inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _arxiv_message(value: str) -> str:
    advice = (f"{value!r} is not an arXiv id: expected a new-style id such as \"2506.04650\" or "
              "an old-style one such as \"cs/0112017\", optionally with a version (v2)")
    m = re.search(r"(\d{4}\.\d{4,5}(v\d+)?|[a-z-]+(\.[A-Z]{2})?/\d{7}(v\d+)?)", value)
    if m and m.group(0) != value:
        advice += f"; write the id only: arxiv: \"{m.group(0)}\""
    return advice


def _doi_message(value: str) -> str:
    advice = f"{value!r} is not a DOI: expected 10.<registrant>/<suffix>, e.g. 10.1145/3292500"
    m = re.search(r"10\.\d{4,9}/\S+", value)
    if m and m.group(0) != value:
        advice += f"; write the DOI only, without a resolver prefix: doi: {m.group(0)}"
    return advice


class _Sink:
    """Collects problems, turning document paths into positions and readable field names."""

    def __init__(self, path: str, doc: Document | None) -> None:
        self.path = path
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: Path_, message: str, *, key: bool = False, entry: int | None = None,
            at: tuple[int, int] | None = None) -> None:
        if at is None:
            at = self.doc.position(path, key=key) if self.doc is not None else (1, 1)
        if entry is None and len(path) >= 2 and path[0] == "papers" and isinstance(path[1], int):
            entry = path[1]
        self.problems.append(Problem(self.path, at[0], at[1], field_label(path), message, entry))


# --- the whole file ----------------------------------------------------------------------------


def _make_paper(entry: dict[str, Any], line: int, lines: dict[str, int]) -> Paper:
    def tags(v: Any) -> tuple[str, ...]:
        return tuple(v) if isinstance(v, list) else (v,)

    return Paper(
        title=entry["title"],
        authors=tuple(entry["authors"]),
        year=int(entry["year"]),
        venue=entry["venue"],
        url=entry["url"],
        paradigm=tags(entry["paradigm"]),
        configuration=tags(entry["configuration"]),
        location=tags(entry["location"]),
        operator=tags(entry["operator"]),
        alignment=tags(entry["alignment"]),
        arxiv=entry.get("arxiv"),
        doi=entry.get("doi"),
        code=entry.get("code"),
        note=entry.get("note"),
        line=line,
        lines=lines,
    )


def _duplicates(doc: Document, entries: list[tuple[int, dict[str, Any]]], sink: _Sink) -> None:
    """Report an entry that repeats an earlier one's arXiv id, DOI, title or URL, at the repeat.

    arXiv ids compare without their version, DOIs case-insensitively (the DOI system does),
    titles after case folding with punctuation and spaces removed, URLs with the scheme and host
    case-folded and a trailing slash dropped. Two papers behind one URL would also link it twice
    in the README, which awesome-lint rejects.
    """
    by_arxiv: dict[str, int] = {}
    by_doi: dict[str, int] = {}
    by_title: dict[str, int] = {}
    by_url: dict[str, int] = {}
    junk = _TITLE_JUNK_RE.sub
    for index, entry in entries:
        matches: list[tuple[int, str, str]] = []  # (earlier entry, what matched, field)
        arxiv = entry.get("arxiv")
        if isinstance(arxiv, str) and arxiv:
            key = _VERSION_RE.sub("", arxiv.strip()) if "v" in arxiv else arxiv.strip()
            earlier = by_arxiv.setdefault(key, index)
            if earlier != index:
                matches.append((earlier, f"arXiv id {key}", "arxiv"))
        doi = entry.get("doi")
        if isinstance(doi, str) and doi:
            earlier = by_doi.setdefault(doi.strip().casefold(), index)
            if earlier != index:
                matches.append((earlier, "DOI", "doi"))
        title = entry.get("title")
        if isinstance(title, str):
            key = junk("", title.casefold())
            if key:
                earlier = by_title.setdefault(key, index)
                if earlier != index:
                    matches.append((earlier, "title", "title"))
        url = entry.get("url")
        if isinstance(url, str) and url.strip():
            earlier = by_url.setdefault(_url_key(url), index)
            if earlier != index:
                matches.append((earlier, "URL", "url"))
        if not matches:
            continue
        first = min(m[0] for m in matches)
        same = [what for earlier, what, _ in matches if earlier == first]
        name = next(name for earlier, _, name in matches if earlier == first)
        line = doc.position(("papers", first))[0]
        sink.add(("papers", index, name),
                 f"duplicate of papers[{first}] at line {line}{_entry_title(doc, first)}: same "
                 f"{' and same '.join(same)}; keep one entry", entry=index)


def _url_key(url: str) -> str:
    """A URL's identity for duplicate detection: scheme and host case-folded, no trailing slash."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return url.strip().rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.casefold()}://{host.casefold()}{slash}{path}".rstrip("/")


def _entry_title(doc: Document, index: int) -> str:
    entry = doc.data["papers"][index]
    title = entry.get("title") if isinstance(entry, dict) else None
    if not isinstance(title, str):
        return ""
    return f" ({title[:57] + '...' if len(title) > 60 else title!s})"


def check(result: YamlResult, path: str) -> LoadResult:
    """Every problem in a read YAML file, and the entries that passed every check."""
    doc = result.document
    sink = _Sink(path, doc)
    for issue in result.issues:
        sink.add(issue.path, issue.message, at=(issue.line, issue.col))
    if doc is None:
        if not result.issues:
            sink.add((), "the file is empty: expected a mapping with a 'papers' list", at=(1, 1))
        return _finish([], sink)
    data = doc.data
    if data is None:
        sink.add((), "the file is empty: expected a mapping with a 'papers' list")
        return _finish([], sink)
    if not isinstance(data, dict):
        sink.add((), f"the top level must be a mapping with a 'papers' list, not "
                     f"{_describe(data)}")
        return _finish([], sink)
    for key in data:
        if key != "papers":
            sink.add((key,), f"unknown top-level key {key!r}{_did_you_mean(key, ['papers'])} "
                             "(the file has a single key, papers)", key=True)
    if "papers" not in data:
        if not any(_did_you_mean(k, ["papers"]) for k in data):
            sink.add((), "missing the 'papers' list: start the file with 'papers:'")
        return _finish([], sink)
    entries = data["papers"]
    if not isinstance(entries, list):
        if ("papers",) not in doc.damaged:
            sink.add(("papers",), f"papers must be a list of entries ('- title: ...'), not "
                                  f"{_describe(entries)}")
        return _finish([], sink)

    _, accept = _validators()
    damaged_entries = {p[1] for p in doc.damaged if len(p) >= 2 and p[0] == "papers"}
    damaged_entries |= {p.entry for p in sink.problems if p.entry is not None}
    root_span = doc.span(("papers",))
    items = root_span.items if root_span is not None else []  # type: ignore[union-attr]
    papers: list[Paper] = []
    dicts: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            if ("papers", index) not in doc.damaged:
                sink.add(("papers", index), "each entry must be a mapping of fields "
                                            f"('title: ...', 'authors: [...]'), not "
                                            f"{_describe(entry)}")
            continue
        dicts.append((index, entry))
        if not accept(entry):
            before = len(sink.problems)
            checker = _EntryChecker(doc, index, entry, sink)
            checker.run()
            checker.schema_errors()
            if len(sink.problems) > before:
                continue
        if index in damaged_entries:
            continue
        span = items[index]
        papers.append(_make_paper(entry, span.line, span.key_lines()))  # type: ignore[union-attr]
    _duplicates(doc, dicts, sink)
    return _finish(papers, sink)


def _finish(papers: list[Paper], sink: _Sink) -> LoadResult:
    sink.problems.sort(key=lambda p: (p.line, p.col))
    return LoadResult(papers, sink.problems)


def load_bytes(data: bytes, path: str = DEFAULT_DATABASE) -> LoadResult:
    """Validate YAML bytes; ``path`` is only used to name the file in problems."""
    with paused_gc():
        return check(parse_bytes(data), path)


def load(path: str | os.PathLike[str] = DEFAULT_DATABASE) -> LoadResult:
    """Read and validate a database file. A file that cannot be read is one problem, not a crash."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return LoadResult([], [Problem(name, 0, 0, "", f"cannot read the file: {reason}")])
    return load_bytes(data, name)


# --- output ------------------------------------------------------------------------------------


def summary(problems: list[Problem]) -> str:
    """``3 problems in 2 papers``; problems outside any entry (syntax, top level) said apart."""
    n = len(problems)
    entries = len({p.entry for p in problems if p.entry is not None})
    loose = sum(1 for p in problems if p.entry is None)
    total = f"{n} problem{'s' if n != 1 else ''}"
    if not entries:
        return f"{total} outside any paper" if n else "no problems"
    text = f"{total} in {entries} paper{'s' if entries != 1 else ''}"
    return text + (f", {loose} outside any paper" if loose else "")


def report(problems: list[Problem], stream: TextIO, github: bool | None = None) -> None:
    """Print every problem in file order, then a summary; GitHub annotations when asked.

    ``github=None`` follows the environment: GitHub Actions sets ``GITHUB_ACTIONS=true``, and the
    annotations then appear on the pull request's changed lines.
    """
    if github is None:
        github = os.environ.get("GITHUB_ACTIONS") == "true"
    ordered = sorted(problems, key=lambda p: (p.path, p.line, p.col))
    for problem in ordered:
        print(problem.format(), file=stream)
    if github:
        for problem in ordered:
            print(problem.annotation(), file=stream)
    print(summary(ordered), file=stream)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("database", nargs="?", default=DEFAULT_DATABASE, metavar="FILE",
                        help=f"the YAML database (default: {DEFAULT_DATABASE})")
    parser.add_argument("--github", action="store_true", default=None,
                        help="also emit GitHub Actions annotations (default: when "
                             "GITHUB_ACTIONS=true)")
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing when the file is valid")


def run(args: argparse.Namespace) -> int:
    path = Path(args.database)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"repro validate: cannot read {args.database}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    result = load_bytes(data, str(args.database))
    if result.problems:
        report(result.problems, sys.stderr, github=args.github)
        return 1
    if not args.quiet:
        print(f"{args.database}: {len(result.papers)} papers valid")
    return 0
