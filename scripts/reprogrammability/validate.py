"""``repro validate``: check every collection and report each problem at its line and column.

A contributor fixing a pull request wants the whole list at once, each item pointing at the line
to change and saying what to write instead. So nothing here stops at the first problem: the YAML
reader (``yamlsource``) reports syntax, duplicate keys and aliases; the JSON Schema of each
collection (``schema``, derived from ``taxonomy.py``) decides what an entry may contain; Python
checks, chosen by each field's kind, turn the usual slips into plain advice (``'imput' ... did
you mean 'input'?``, unquoted arXiv ids that YAML read as numbers, dates where a year belongs);
then duplicates are found within each file, and references across files (a paper's datasets, a
result's paper) are resolved, each dangling id reported where it is used.

The collections are specs (``collections.py``): this module knows field *kinds*, not fields, so
a new collection needs no code here. :func:`load_collections` validates them all together;
:func:`load` validates one file (its references still resolve against the files beside it).

Speed: valid entries, the overwhelming majority, pass a compiled acceptance check
(:func:`schema.compile_checker`) and never reach jsonschema; only entries it rejects get the
detailed checks and ``iter_errors`` from one validator built once per collection and process.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from . import arxiv_ids
from .annotations import annotation
from . import schema as schema_mod
from .collections import BY_NAME, COLLECTIONS, PAPERS, Catalog, Collection, for_path, sibling_paths
from .errors import UnreadableInput
from .papers import DEFAULT_DATABASE
from .schema import Field
from .yamlsource import Document, Path_, YamlResult, parse_bytes, paused_gc

_DOI_RE = re.compile(schema_mod.DOI_PATTERN)
_URL_RE = re.compile(schema_mod.URL_PATTERN)
_NONBLANK_RE = re.compile(r"\S")
_FORBIDDEN_RE = re.compile(f"[{schema_mod.FORBIDDEN_CHARS}]")
_NOTE_FORBIDDEN_RE = re.compile(r"(?![\t\n])" + _FORBIDDEN_RE.pattern)
_BIDI_RE = re.compile(f"[{schema_mod.BIDI_CONTROLS}]")
_SLUG_RE = re.compile(schema_mod.SLUG_PATTERN)
_DATE_RE = re.compile(schema_mod.DATE_PATTERN)
_COMMIT_RE = re.compile(schema_mod.COMMIT_PATTERN)
_NOT_SLUG_RE = re.compile(r"[^a-z0-9]+")
_JUNK_RE = re.compile(r"[\W_]+")
#: Kinds whose value is one string.
_STRING_KINDS = frozenset({"slug", "text", "string", "url", "arxiv", "doi", "date", "commit",
                           "ref"})
#: How close an unknown field name must be to a known one to be suggested (difflib's ratio):
#: typos such as ``autors`` or ``yaer`` pass, unrelated words (``citations`` and ``location``
#: share letters, not meaning) do not. Vocabulary values keep difflib's default, 0.6.
FIELD_CUTOFF = 0.75


def latest_year() -> int:
    """The latest year a paper or resource may carry: next year (a paper accepted for a
    conference held then), no later; the schema's fixed maximum is only a sanity bound."""
    return date.today().year + 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data, where it is, and what to do about it.

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
        return annotation("error", self.message, file=self.path, line=self.line,
                          col=self.col if self.line else None,
                          title=self.field or Path(self.path).name)


@dataclass
class LoadResult:
    """One file's records that passed every per-entry check, and every problem found in it."""

    records: list[Any]
    problems: list[Problem]
    collection: Collection = PAPERS

    @property
    def papers(self) -> list[Any]:
        """The records (papers, when the file is the papers database)."""
        return self.records

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Loaded:
    """Every collection, validated together: the records for renderers, and all problems."""

    catalog: Catalog
    results: dict[str, LoadResult]
    #: Collection files that exist but could not be read: (path, reason).
    unreadable: list[tuple[str, str]] = dataclass_field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return sorted((p for r in self.results.values() for p in r.problems),
                      key=lambda p: (p.path, p.line, p.col))

    @property
    def ok(self) -> bool:
        return not self.problems


def field_label(path: Path_) -> str:
    """``("papers", 3, "authors", 0)`` -> ``papers[3].authors[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@cache
def _validators(collection: str = "papers") -> tuple[Any, Any]:
    """(jsonschema validator for one entry, compiled acceptance check): built once each."""
    from jsonschema import Draft202012Validator

    c = BY_NAME[collection]
    schema = c.entry_schema()
    check = schema_mod.compile_checker(schema)
    # What the schema cannot say (its bounds are fixed so the committed file stays fresh): a
    # year after next year is refused; such an entry goes to the detailed checks.
    years = tuple(f.name for f in c.fields() if f.kind == "year")
    latest = latest_year()

    if years == ("year",):  # papers and resources: one field, no loop per entry
        def accept(entry: Any) -> bool:
            return check(entry) and entry.get("year", 0) <= latest
    else:
        def accept(entry: Any) -> bool:
            return check(entry) and all(entry.get(name, 0) <= latest for name in years)

    return Draft202012Validator(schema), accept


# --- messages ----------------------------------------------------------------------------------


def did_you_mean(value: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """``; did you mean 'input'?`` for the closest choice, or nothing when none is close.

    ``cutoff`` is the least difflib ratio a suggestion needs once case, spacing and
    punctuation do not already make the two equal (see :data:`FIELD_CUTOFF`).
    """
    choices = list(choices)
    folded = {c.casefold(): c for c in choices}
    if value.casefold() in folded:
        return f"; did you mean {folded[value.casefold()]!r}?"
    spaced = value.replace("-", " ").replace("_", " ").casefold()
    for c in choices:
        if c.replace("-", " ").casefold() == spaced:
            return f"; did you mean {c!r}?"
    squeezed = {_squeeze(c): c for c in choices}
    if _squeeze(value) in squeezed:
        return f"; did you mean {squeezed[_squeeze(value)]!r}?"
    close = difflib.get_close_matches(value.casefold(), list(folded), n=1, cutoff=cutoff)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


_did_you_mean = did_you_mean


def _squeeze(text: str) -> str:
    """Case, spaces and punctuation dropped: ``resnet50`` and ``ResNet-50`` meet."""
    return _JUNK_RE.sub("", text.casefold())


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    """An int as YAML reads ``2021``; ``2021.0`` is a float, refused where an integer belongs."""
    return isinstance(value, int) and not isinstance(value, bool)


def _char_name(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "")
    if _BIDI_RE.match(ch):
        return (f"the bidirectional control character {code} ({name}), which reorders how the "
                "text around it displays")
    return f"the control character {code}" + (f" ({name})" if name else "")


def text_problem(name: str, value: str, *, note: bool = False) -> str | None:
    """What is wrong with a one-line text value (a title, a name), or None.

    Invisible characters would pass into every output (a raw BEL into the .bib, a right-to-left
    override reversing a README line), spaces at the ends make equal titles differ, and a
    value of thousands of characters is a paste gone wrong. ``note`` relaxes this for notes:
    they may hold tabs and newlines and may be longer.
    """
    forbidden = _NOTE_FORBIDDEN_RE if note else _FORBIDDEN_RE
    bad = forbidden.search(value)
    if bad:
        return (f"{name} contains {_char_name(bad.group())} at character {bad.start() + 1}: "
                "remove it")
    if not note:
        if not _NONBLANK_RE.search(value):
            return f"{name} must not be blank"
        if value != value.strip():
            return f"{name} has a leading or trailing space: write {value.strip()!r}"
    limit = schema_mod.NOTE_MAX_LENGTH if note else schema_mod.TEXT_MAX_LENGTH
    if len(value) > limit:
        return (f"{name} is {len(value)} characters long, longer than the {limit} allowed: is "
                "something else pasted into it?")
    return None


def slugify(text: str) -> str:
    """A slug suggestion for an id that is not one: ``CIFAR_10`` -> ``cifar-10``."""
    slug = _NOT_SLUG_RE.sub("-", text.lower()).strip("-")
    return slug if slug[:1].isalpha() else f"x-{slug}" if slug else "x"


class _EntryChecker:
    """The detailed checks for one entry that the fast acceptance check rejected.

    ``rel`` paths are relative to the entry; each check is chosen by the field's kind.
    """

    def __init__(self, doc: Document, key: str, index: int, entry: dict[str, Any],
                 fields: tuple[Field, ...], sink: _Sink) -> None:
        self.doc = doc
        self.index = index
        self.base: Path_ = (key, index)
        self.entry = entry
        self.fields = fields
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
        where = f"{rel[-1]}: {quoted}" if isinstance(rel[-1], str) else quoted
        self.problem(rel, f"{expected} must be a quoted string: YAML read the unquoted "
                          f"{text} as {_describe(value)}; quote it: {where}")
        return True

    def run(self) -> None:
        self.mapping((), self.fields, self.entry)

    def mapping(self, rel: Path_, fields: tuple[Field, ...], value: dict[str, Any]) -> None:
        names = [f.name for f in fields]
        for key in value:
            if key not in names:
                hint = did_you_mean(str(key), names, FIELD_CUTOFF)
                self.problem(rel + (key,), f"unknown field {key!r}{hint} (fields: "
                                           f"{', '.join(names)})", key=True)
        for f in fields:
            if f.required and f.name not in value:
                typo = [k for k in value
                        if k not in names and did_you_mean(str(k), [f.name], FIELD_CUTOFF)]
                hint = f" (is {typo[0]!r} a typo?)" if typo else ""
                self.problem(rel + (f.name,), f"missing required field {f.name!r}{hint}")
        for f in fields:
            if f.name in value:
                self.value(rel + (f.name,), f, value[f.name])

    def value(self, rel: Path_, f: Field, value: Any) -> None:
        kind = f.kind
        if kind in _STRING_KINDS:
            self.string(rel, f, value)
        elif kind == "year":
            self.year(rel, value)
        elif kind == "names":
            self.names(rel, f, value)
        elif kind in ("tags", "choices", "refs"):
            self.many(rel, f, value)
        elif kind == "choice":
            self.one_of(rel, f, value, listed=False)
        elif kind in ("int", "number"):
            self.number(rel, f, value)
        elif kind == "shots":
            self.shots(rel, f, value)
        elif kind in ("object", "variant"):
            self.nested(rel, f, value)

    # -- strings -----------------------------------------------------------------------------

    def string(self, rel: Path_, f: Field, value: Any) -> None:
        name = f.name
        if value is None:
            need = "required" if f.required else "optional: remove the line or give a value"
            self.problem(rel, f"{name} is empty ({need})")
            return
        if not isinstance(value, str):
            label = "arXiv id" if f.kind == "arxiv" else name
            text = self.doc.plain_text(self.base + rel, value)
            if f.kind == "arxiv" and text is not None and arxiv_ids.problem(text):
                # Quoting would not help: the text itself is no id (``arxiv: 1809``).
                self.problem(rel, _arxiv_message(text) + f" (YAML read the unquoted {text} as "
                                  f"{_describe(value)})")
            elif not self.unquoted(rel, value, label):
                self.problem(rel, f"{name} must be a single string, not {_describe(value)}")
            return
        kind = f.kind
        if kind in ("text", "string"):
            why = text_problem(name, value, note=kind == "string")
            if why:
                self.problem(rel, why)
        elif kind == "arxiv" and arxiv_ids.problem(value):
            self.problem(rel, _arxiv_message(value))
        elif kind == "doi" and not _DOI_RE.match(value):
            self.problem(rel, _doi_message(value))
        elif kind == "url" and not _URL_RE.match(value):
            self.problem(rel, f"{value!r} is not an http(s) URL: write the full address, "
                              "starting with https://")
        elif kind in ("slug", "ref") and not _SLUG_RE.match(value):
            self.problem(rel, f"{value!r} is not an id: use lower-case letters, digits and "
                              f"hyphens, starting with a letter (e.g. {slugify(value)})")
        elif kind == "date" and not _DATE_RE.match(value):
            self.problem(rel, f"{value!r} is not a date: write it as \"YYYY-MM-DD\"")
        elif kind == "commit" and not _COMMIT_RE.match(value):
            self.problem(rel, f"{value!r} is not a commit hash: write 7 to 40 lower-case hex "
                              "digits, quoted")

    # -- numbers -----------------------------------------------------------------------------

    def year(self, rel: Path_, value: Any) -> None:
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
        elif isinstance(value, float):
            written = self.doc.plain_text(self.base + rel, value) or repr(value)
            self.problem(rel, f"year must be written as an integer: YAML read {written} as a "
                              f"number with a fraction; write year: {int(value)}")
        elif isinstance(value, int) and not (
            schema_mod.YEAR_MIN <= value <= schema_mod.YEAR_MAX
        ):
            self.problem(rel, f"year {value!r} is outside {schema_mod.YEAR_MIN}-"
                              f"{schema_mod.YEAR_MAX}; is it a typo?")
        elif isinstance(value, int) and value > latest_year():
            self.problem(rel, f"year {value} is in the future (the latest accepted is "
                              f"{latest_year()}, next year); is it a typo?")
        elif not isinstance(value, int | float):
            self.problem(rel, f"year must be an integer such as 2021, not {_describe(value)}")

    def number(self, rel: Path_, f: Field, value: Any) -> None:
        name, integer = f.name, f.kind == "int"
        noun = "an integer" if integer else "a number"
        if integer and isinstance(value, float) and value.is_integer():
            self.problem(rel, f"{name} must be written as an integer: write {int(value)}, "
                              f"not {value!r}")
        elif not _is_number(value) or (integer and not _is_integer(value)):
            hint = ""
            if isinstance(value, str):
                hint = f"; YAML read the string {value!r}: write the number unquoted"
                if re.fullmatch(r"\s*[\d.]+\s*[kKMB]\s*", value):
                    hint = f"; write the number in full ({value!r} is a string)"
            self.problem(rel, f"{name} must be {noun}, not {_describe(value)}{hint}")
        elif f.minimum is not None and value < f.minimum:
            self.problem(rel, f"{name} must be at least {f.minimum:g}, not {value!r}")

    def shots(self, rel: Path_, f: Field, value: Any) -> None:
        full = schema_mod.FULL_SHOTS
        if isinstance(value, str):
            if value != full:
                hint = did_you_mean(value, [full])
                self.problem(rel, f"{value!r} is not a shot count{hint}: write {full!r} or an "
                                  "integer k >= 0 (0 for zero-shot)")
        elif not _is_integer(value) or value < 0:
            self.problem(rel, f"{f.name} must be {full!r} or an integer k >= 0 (0 for "
                              f"zero-shot), not {_describe(value)}")

    # -- lists and vocabularies ----------------------------------------------------------------

    def names(self, rel: Path_, f: Field, value: Any) -> None:
        name = f.name
        if isinstance(value, str):
            self.problem(rel, f"{name} must be a list, one name per item: "
                              f"{name}: [First Author, Second Author]")
            return
        if not isinstance(value, list):
            self.problem(rel, f"{name} must be a list of names, not {_describe(value)}")
            return
        if not value:
            self.problem(rel, f"{name} must name at least one author")
        for i, item in enumerate(value):
            at = rel + (i,)
            if isinstance(item, str):
                why = text_problem(f"author {i + 1}", item)
                if why:
                    self.problem(at, why.replace("must not be blank", "is blank"))
            elif item is None:
                self.problem(at, f"author {i + 1} is empty")
            elif not self.unquoted(at, item, f"author {i + 1}"):
                self.problem(at, f"author {i + 1} must be a name, not {_describe(item)}")

    def _expected(self, f: Field) -> str:
        if f.vocab is None:
            return ""
        keys = f.vocab.keys
        source = "reference/catalog.json" if f.vocab.name.startswith("reference-") \
            else "scripts/reprogrammability/taxonomy.py"
        shown = ", ".join(keys) if len(keys) <= 16 else ", ".join(keys[:12]) + f", ... (see " \
            f"{source})"
        return f" (expected one of {shown})"

    def many(self, rel: Path_, f: Field, value: Any) -> None:
        """``tags`` (one value or a list), ``choices`` and ``refs`` (lists) of distinct items."""
        name = f.name
        expected = self._expected(f)
        if value is None:
            self.problem(rel, f"{name} is empty{expected}")
            return
        if not isinstance(value, list):
            if f.kind == "tags":
                self.one_of(rel, f, value, listed=False)
            elif isinstance(value, str | int | float) and not isinstance(value, bool):
                self.problem(rel, f"{name} must be a list: {name}: [{value}]")
            else:
                self.problem(rel, f"{name} must be a list, not {_describe(value)}")
            return
        if not value:
            self.problem(rel, f"{name} must list at least one value{expected}")
        seen: dict[Any, int] = {}
        for i, item in enumerate(value):
            if isinstance(item, str) and item in seen:
                first = self.doc.position(self.base + rel + (seen[item],))
                self.problem(rel + (i,), f"{item!r} is repeated in {name} (first at line "
                                         f"{first[0]}, column {first[1]}); list it once")
                continue
            if isinstance(item, str):
                seen[item] = i
            if f.kind == "refs":
                self.string(rel + (i,), Field(name, "ref", "", ""), item)
            else:
                self.one_of(rel + (i,), f, item, listed=True)

    def one_of(self, rel: Path_, f: Field, value: Any, *, listed: bool) -> None:
        """One vocabulary value (an item of a list when ``listed``)."""
        vocab = f.vocab
        assert vocab is not None, f.name
        expected = self._expected(f)
        name = f.name
        if isinstance(value, str):
            if value not in vocab.keys:
                owner = self._owner(value, f)
                if owner is not None:
                    self.problem(rel, f"{value!r} is {owner.vocab.noun}, not {vocab.noun}: "  # type: ignore[union-attr]
                                      f"it belongs under {owner.name}{expected}")
                    return
                hint = did_you_mean(value, vocab.keys)
                self.problem(rel, f"{value!r} is not {vocab.noun}{hint}{expected}")
            return
        if value is None and not listed:
            self.problem(rel, f"{name} is empty{expected}")
        elif isinstance(value, dict):
            what = "a value or a list of values" if f.kind == "tags" else "one value"
            self.problem(rel, f"{name} must be {what}, not a mapping{expected}")
        elif isinstance(value, list):
            what = "lists cannot be nested" if listed else "must be one value, not a list"
            self.problem(rel, f"{name} {what}{expected}")
        else:
            self.problem(rel, f"{_describe(value)} is not {vocab.noun}{expected}")

    def _owner(self, value: str, f: Field) -> Field | None:
        """Another vocabulary field of this entry whose values include ``value``: a value
        written under the wrong axis (``location: additive``) is told where it belongs."""
        fields = list(self.fields)
        for outer in self.fields:
            fields += outer.subfields()
        for other in fields:
            if other.vocab is not None and other.vocab is not f.vocab and \
                    other.vocab.name != f.vocab.name and value in other.vocab.keys:  # type: ignore[union-attr]
                return other
        return None

    # -- nested mappings -----------------------------------------------------------------------

    def nested(self, rel: Path_, f: Field, value: Any) -> None:
        if f.kind == "variant":
            kinds = [k for k, _ in f.variants]
            example = f"{{kind: {kinds[0]}, ...}}"
        else:
            example = "{" + ", ".join(f"{s.name}: ..." for s in f.fields) + "}"
        if not isinstance(value, dict):
            self.problem(rel, f"{f.name} must be a mapping such as {example}, not "
                              f"{_describe(value)}")
            return
        if f.kind == "object":
            self.mapping(rel, f.fields, value)
            return
        kind_field = f.variants[0][1][0]
        chosen = f.subfields(value)
        if not chosen:
            if "kind" not in value:
                self.problem(rel + ("kind",), "missing required field 'kind' (expected one of "
                                              f"{', '.join(kinds)})")
            else:
                self.one_of(rel + ("kind",), kind_field, value["kind"], listed=False)
            return
        self.mapping(rel, chosen, value)

    def schema_errors(self, collection: str) -> None:
        """Whatever jsonschema finds that the checks above did not already explain."""
        validator, _ = _validators(collection)
        covered = {"required", "additionalProperties", "type"}
        for error in validator.iter_errors(_shallow(self.entry)):
            rel = tuple(error.absolute_path)
            if not rel and error.validator in covered:
                continue
            if any(_related(rel, done) for done in self.reported):
                continue
            self.problem(rel, error.message)


class _Nested:
    """Stands in for a container nested deeper than the schema allows (see ``_shallow``)."""

    def __repr__(self) -> str:
        return "[...]"


_NESTED = _Nested()
#: Containers nest at most this deep inside an entry (``domain: {source: [a, b]}``).
_MAX_DEPTH = 3


def _shallow(value: Any, depth: int = 0) -> Any:
    """The entry with containers below the schema's depth replaced by a placeholder.

    The detailed checks already report such containers; but jsonschema would ``repr`` the whole
    value into its message, which for YAML's maximum nesting depth (1000) exceeds Python's
    recursion limit.
    """
    if isinstance(value, list):
        return _NESTED if depth >= _MAX_DEPTH else [_shallow(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return _NESTED if depth >= _MAX_DEPTH else {k: _shallow(v, depth + 1)
                                                     for k, v in value.items()}
    return value


def _related(a: Path_, b: Path_) -> bool:
    """True when one path is the other or lies inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _arxiv_message(value: str) -> str:
    advice = f"{value!r} is not an arXiv id: {arxiv_ids.problem(value)}"
    m = re.search(r"(\d{4}\.\d{4,5}(v\d+)?|[a-z-]+(\.[A-Z]{2})?/\d{7}(v\d+)?)", value)
    if m and m.group(0) != value and not arxiv_ids.problem(m.group(0)):
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

    def __init__(self, path: str, doc: Document | None, key: str) -> None:
        self.path = path
        self.doc = doc
        self.key = key
        self.problems: list[Problem] = []

    def add(self, path: Path_, message: str, *, key: bool = False, entry: int | None = None,
            at: tuple[int, int] | None = None) -> None:
        if at is None:
            at = self.doc.position(path, key=key) if self.doc is not None else (1, 1)
        if entry is None and len(path) >= 2 and path[0] == self.key and isinstance(path[1], int):
            entry = path[1]
        self.problems.append(Problem(self.path, at[0], at[1], field_label(path), message, entry))


# --- one file ----------------------------------------------------------------------------------


@dataclass
class _Checked:
    """One collection file after its own checks: what the cross-file checks need."""

    collection: Collection
    sink: _Sink
    doc: Document | None
    entries: list[tuple[int, dict[str, Any]]]
    records: list[Any]

    def result(self) -> LoadResult:
        self.sink.problems.sort(key=lambda p: (p.line, p.col))
        return LoadResult(self.records, self.sink.problems, self.collection)


def _duplicates(c: Collection, doc: Document, entries: list[tuple[int, dict[str, Any]]],
                sink: _Sink) -> None:
    """Report an entry that repeats an earlier one under any of ``c.duplicates``, at the repeat.

    One report per repeated entry, naming the earliest entry it repeats and everything the two
    share; the normalisations live with the keys (``collections.py``).
    """
    seen: list[dict[Any, int]] = [{} for _ in c.duplicates]
    for index, entry in entries:
        matches: list[tuple[int, str, str]] = []  # (earlier entry, what matched, field)
        for dup, by_key in zip(c.duplicates, seen):
            key = dup.key(entry)
            if key is None:
                continue
            earlier = by_key.setdefault(key, index)
            if earlier != index:
                matches.append((earlier, dup.what.format(key=key), dup.field))
        if not matches:
            continue
        first = min(m[0] for m in matches)
        same = list(dict.fromkeys(what for earlier, what, _ in matches if earlier == first))
        name = next(name for earlier, _, name in matches if earlier == first)
        line = doc.position((c.key, first))[0]
        sink.add((c.key, index, name),
                 f"duplicate of {c.key}[{first}] at line {line}{_entry_label(c, doc, first)}: "
                 f"same {' and same '.join(same)}; keep one entry", entry=index)


def _entry_label(c: Collection, doc: Document, index: int) -> str:
    entry = doc.data[c.key][index]
    label = c.label(entry) if isinstance(entry, dict) else ""
    if not label:
        return ""
    return f" ({label[:57] + '...' if len(label) > 60 else label!s})"


def _check_file(result: YamlResult, path: str, c: Collection) -> _Checked:
    """Every problem of one read file that the file alone shows, and its valid entries."""
    doc = result.document
    sink = _Sink(path, doc, c.key)
    checked = _Checked(c, sink, doc, [], [])
    key = c.key
    for issue in result.issues:
        sink.add(issue.path, issue.message, at=(issue.line, issue.col))
    if doc is None:
        if not result.issues:
            sink.add((), f"the file is empty: expected a mapping with a {key!r} list", at=(1, 1))
        return checked
    data = doc.data
    if data is None:  # only comments, or an empty document: its null node may sit past the end
        sink.add((), f"the file is empty: expected a mapping with a {key!r} list", at=(1, 1))
        return checked
    if not isinstance(data, dict):
        sink.add((), f"the top level must be a mapping with a {key!r} list, not "
                     f"{_describe(data)}")
        return checked
    for k in data:
        if k != key:
            sink.add((k,), f"unknown top-level key {k!r}{did_you_mean(str(k), [key], FIELD_CUTOFF)} "
                           f"(the file has a single key, {key})", key=True)
    if key not in data:
        if not any(did_you_mean(str(k), [key], FIELD_CUTOFF) for k in data):
            sink.add((), f"missing the {key!r} list: start the file with '{key}:'")
        return checked
    entries = data[key]
    if not isinstance(entries, list):
        if (key,) not in doc.damaged:
            first = c.fields()[0].name
            sink.add((key,), f"{key} must be a list of entries ('- {first}: ...'), not "
                             f"{_describe(entries)}")
        return checked

    fields = c.fields()
    _, accept = _validators(c.name)
    damaged_entries = {p[1] for p in doc.damaged if len(p) >= 2 and p[0] == key}
    damaged_entries |= {p.entry for p in sink.problems if p.entry is not None}
    root_span = doc.span((key,))
    items = root_span.items if root_span is not None else []  # type: ignore[union-attr]
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            if (key, index) not in doc.damaged:
                first = ", ".join(f"'{f.name}: ...'" for f in fields[:2])
                sink.add((key, index), f"each entry must be a mapping of fields ({first}), "
                                       f"not {_describe(entry)}")
            continue
        checked.entries.append((index, entry))
        if not accept(entry):
            checker = _EntryChecker(doc, key, index, entry, fields, sink)
            checker.run()
            checker.schema_errors(c.name)
            # ``reported`` also counts problems left unprinted because the reader already
            # reported the damage: such an entry is invalid all the same, never a record.
            if checker.reported:
                continue
        if index in damaged_entries:
            continue
        span = items[index]
        checked.records.append(c.make(entry, span.line, span.key_lines()))  # type: ignore
    _duplicates(c, doc, checked.entries, sink)
    return checked


# --- across files ------------------------------------------------------------------------------


class _Context:
    """What collection rules see (``collections.RuleContext``), for one collection at a time."""

    def __init__(self, checked: dict[str, _Checked]) -> None:
        self.checked = checked
        self.current: _Checked | None = None
        self._by_id: dict[str, dict[str, dict[str, Any]]] = {}

    def entries(self, collection: str) -> list[tuple[int, dict[str, Any]]]:
        found = self.checked.get(collection)
        return found.entries if found is not None else []

    def ids(self, collection: str) -> dict[str, dict[str, Any]]:
        """id -> first entry with it, over every mapping entry of the collection."""
        if collection not in self._by_id:
            table: dict[str, dict[str, Any]] = {}
            for _, entry in self.entries(collection):
                if isinstance(entry.get("id"), str):
                    table.setdefault(entry["id"], entry)
            self._by_id[collection] = table
        return self._by_id[collection]

    def entry(self, collection: str, id_: str) -> dict[str, Any] | None:
        return self.ids(collection).get(id_)

    def problem(self, index: int, rel: tuple[str | int, ...], message: str) -> None:
        assert self.current is not None
        c = self.current
        if c.doc is not None and any(_related((c.collection.key, index, *rel), bad)
                                     for bad in c.doc.damaged):
            return
        c.sink.add((c.collection.key, index, *rel), message, entry=index)


def _references(ctx: _Context, checked: _Checked) -> None:
    """Every id that names an entry of another (or the same) collection must resolve."""
    refs = schema_mod.reference_fields(checked.collection.fields())
    if not refs:
        return
    for index, entry in checked.entries:
        for path, f in refs:
            value: Any = entry
            for name in path:
                value = value.get(name) if isinstance(value, dict) else None
            if value is None:
                continue
            items = [(path, value)] if f.kind == "ref" else (
                [((*path, i), v) for i, v in enumerate(value)] if isinstance(value, list) else [])
            for rel, item in items:
                if isinstance(item, str) and _SLUG_RE.match(item) \
                        and ctx.entry(f.ref, item) is None:
                    ctx.problem(index, rel, _dangling(item, f.ref, ctx))


def _dangling(value: str, target: str, ctx: _Context) -> str:
    spec = BY_NAME[target]
    ids = ctx.ids(target)
    if not ids:
        return (f"{value!r} is not a {spec.singular} id: {spec.file} has no entries yet; add "
                "it there first")
    return f"{value!r} is not a {spec.singular} id in {spec.file}{did_you_mean(value, ids)}"


#: A collection's input: (path used in messages, file bytes, or None when the file is absent).
Source = tuple[str, bytes | None]


def check_sources(sources: Mapping[str, Source]) -> dict[str, LoadResult]:
    """Validate the given collections together; absent optional files are empty collections.

    References into a collection that is not among ``sources`` resolve against nothing, so
    callers pass every collection a file may refer to (``load`` and ``load_collections`` do).
    """
    checked: dict[str, _Checked] = {}
    with paused_gc():
        for name, (path, data) in sources.items():
            c = BY_NAME[name]
            if data is None:
                checked[name] = _Checked(c, _Sink(path, None, c.key), None, [], [])
                if c.required:
                    checked[name].sink.add((), "cannot read the file: it does not exist",
                                           at=(0, 0))
                continue
            checked[name] = _check_file(parse_bytes(data), path, c)
        ctx = _Context(checked)
        for item in checked.values():
            ctx.current = item
            _references(ctx, item)
            for rule in item.collection.rules:
                rule(ctx)
    return {name: item.result() for name, item in checked.items()}


def load_bytes(data: bytes, path: str = DEFAULT_DATABASE, collection: str | None = None,
               others: Mapping[str, bytes] | None = None) -> LoadResult:
    """Validate YAML bytes of one collection; ``path`` names the file in problems (and, unless
    ``collection`` is given, says which collection it is). ``others`` are the bytes of the
    collections its references resolve in; those not given are empty."""
    c = BY_NAME[collection] if collection else for_path(path)
    sources: dict[str, Source] = {name: (BY_NAME[name].file, blob)
                                  for name, blob in (others or {}).items()}
    sources[c.name] = (path, data)
    return check_sources(sources)[c.name]


def _read(path: Path) -> tuple[bytes | None, str | None]:
    """(bytes, None), (None, None) for an absent file, or (None, reason) when unreadable."""
    try:
        return path.read_bytes(), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, exc.strerror or str(exc)


def _unreadable(path: str, reason: str, c: Collection) -> LoadResult:
    return LoadResult([], [Problem(path, 0, 0, "", f"cannot read the file: {reason}")], c)


def load_collections(papers: str | os.PathLike[str] = DEFAULT_DATABASE) -> Loaded:
    """Read and validate every collection: ``papers`` and the files beside it.

    This is what ``repro validate``, ``build`` and ``render`` run: the returned
    :class:`Loaded` has each collection's records (``.catalog``) and every problem. A missing
    papers file is a problem; a missing other file is an empty collection.
    """
    sources: dict[str, Source] = {}
    failed: dict[str, LoadResult] = {}
    unreadable: list[tuple[str, str]] = []
    for name, path in sibling_paths(papers).items():
        data, reason = _read(path)
        if reason is not None or (data is None and BY_NAME[name].required):
            reason = reason or "no such file"
            failed[name] = _unreadable(str(path), reason, BY_NAME[name])
            unreadable.append((str(path), reason))
            continue
        sources[name] = (str(path), data)
    results = check_sources(sources)
    results.update(failed)
    ordered = {c.name: results[c.name] for c in COLLECTIONS if c.name in results}
    catalog = Catalog(**{name: tuple(r.records) for name, r in ordered.items()})
    return Loaded(catalog, ordered, unreadable)


def require_readable(loaded: Loaded) -> None:
    """Raise ``UnreadableInput`` (exit 2) when a collection file exists but cannot be read, or
    the papers file is missing: the command cannot do its job, which is no data problem."""
    if loaded.unreadable:
        path, reason = loaded.unreadable[0]
        raise UnreadableInput(path, reason)


def read_input(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an input file named on the command line, or ``UnreadableInput``."""
    data, reason = _read(Path(path))
    if data is None:
        raise UnreadableInput(path, reason or "no such file")
    return data


def load(path: str | os.PathLike[str] = DEFAULT_DATABASE,
         data: bytes | None = None) -> LoadResult:
    """Read and validate one collection file (which one, by its name; papers otherwise).

    Its references resolve against the collection files beside it. ``data``, when given, is
    validated as the file's new content (an edit not yet written). A file that cannot be read
    is one problem, not a crash.
    """
    c = for_path(path)
    name = str(path)
    reason = None
    if data is None:
        data, reason = _read(Path(path))
    if data is None:
        return _unreadable(name, reason or "no such file", c)
    papers = Path(path) if c is PAPERS else Path(path).parent / Path(PAPERS.file).name
    sources: dict[str, Source] = {}
    for other, sibling in sibling_paths(papers).items():
        if other != c.name:
            sources[other] = (str(sibling), _read(sibling)[0])
    if c is not PAPERS and sources[PAPERS.name][1] is None:
        sources[PAPERS.name] = (sources[PAPERS.name][0], b"papers: []\n")
    sources[c.name] = (name, data)
    return check_sources(sources)[c.name]


# --- output ------------------------------------------------------------------------------------


def summary(problems: list[Problem]) -> str:
    """``3 problems in 2 papers``; problems outside any entry (syntax, top level) said apart."""
    n = len(problems)
    entries: dict[str, set[tuple[str, int]]] = {}
    for p in problems:
        if p.entry is not None:
            entries.setdefault(for_path(p.path).singular, set()).add((p.path, p.entry))
    loose = sum(1 for p in problems if p.entry is None)
    total = f"{n} problem{'s' if n != 1 else ''}"
    nouns = {for_path(p.path).singular for p in problems}
    outside = f"outside any {nouns.pop()}" if len(nouns) == 1 else "outside any entry"
    if not entries:
        return f"{total} {outside}" if n else "no problems"
    parts = [f"{len(keys)} {noun}{'s' if len(keys) != 1 else ''}"
             for noun, keys in entries.items()]
    text = f"{total} in {' and '.join(parts)}"
    return text + (f", {loose} {outside}" if loose else "")


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
    parser.add_argument("database", nargs="?", default=None, metavar="FILE",
                        help=f"one collection file to check (default: {DEFAULT_DATABASE} and "
                             "every collection file beside it)")
    parser.add_argument("--github", action="store_true", default=None,
                        help="also emit GitHub Actions annotations (default: when "
                             "GITHUB_ACTIONS=true)")
    parser.add_argument("--quiet", action="store_true",
                        help="print nothing when the data is valid")


def run(args: argparse.Namespace) -> int:
    if args.database is not None:
        path = Path(args.database)
        results = {for_path(path).name: load(path, read_input(path))}
        shown = {for_path(path).name: str(args.database)}
    else:
        loaded = load_collections(DEFAULT_DATABASE)
        require_readable(loaded)
        results = loaded.results
        shown = {name: BY_NAME[name].file for name in results}
    problems = [p for r in results.values() for p in r.problems]
    if problems:
        report(problems, sys.stderr, github=args.github)
        return 1
    if not args.quiet:
        for name, result in results.items():
            c = BY_NAME[name]
            if c.required or Path(shown[name]).exists():
                n = len(result.records)
                print(f"{shown[name]}: {n} {c.singular if n == 1 else c.name} valid")
    return 0
