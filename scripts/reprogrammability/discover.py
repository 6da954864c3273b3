"""``repro discover``: find new arXiv papers the map is missing, ranked, with ``repro add`` lines.

New reprogramming, visual-prompting and prompt-tuning papers appear every week; a curator should
read a short, ranked list instead of the whole feed. The searches live in a config file
(``discover.toml``) so a pull request can tune them without touching code. Each search runs
through the same polite arXiv client as ``repro add`` (one rate limiter, retries, ``Retry-After``),
page by page, newest first, stopping at the ``--since`` date.

The score is deliberately simple so a reader can check it from the report:

- ``+3`` for each distinct search term found in the title, ``+1`` for each found only in the
  abstract (phrases, case-insensitive, across all searches the paper matched);
- ``+2`` for each paper of the database the abstract names: by its arXiv id, or by the short
  method name its title starts with (``WARP: ...``, ``BlackVIP: ...``).

Papers already in the database (same arXiv id, or the same title with case, accents, spacing and
punctuation ignored) are dropped before ranking.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .arxiv_cli import _common

if TYPE_CHECKING:
    from .arxiv import ArxivRecord

DEFAULT_CONFIG = "discover.toml"
TITLE_POINTS = 3
ABSTRACT_POINTS = 1
CITATION_POINTS = 2
#: A method name a title starts with: one token before the colon, with a capital or a digit.
_NAME_RE = re.compile(r"^([A-Za-z][\w+\-]{2,24}):\s")
_CATEGORY_RE = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")


class ConfigError(ValueError):
    """The discover config is unusable; the message names the file and the field."""


@dataclass(frozen=True)
class Query:
    name: str
    terms: tuple[str, ...]
    categories: tuple[str, ...] = ()

    def search_query(self) -> str:
        """The arXiv ``search_query``: any term in title or abstract, within the categories."""
        phrases = " OR ".join(f'ti:"{t}" OR abs:"{t}"' for t in self.terms)
        if not self.categories:
            return f"({phrases})"
        cats = " OR ".join(f"cat:{c}" for c in self.categories)
        return f"({phrases}) AND ({cats})"


@dataclass(frozen=True)
class Config:
    queries: tuple[Query, ...]
    since_days: int = 8
    max_per_query: int = 300
    page_size: int = 100


def _strings(value: Any, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: must be a list of non-empty strings")
    if not value and not allow_empty:
        raise ConfigError(f"{where}: must not be empty")
    return tuple(v.strip() for v in value)


def _positive_int(raw: dict[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: {key} must be a positive integer, not {value!r}")
    return value


def load_config(path: str | Path) -> Config:
    """Read and check the config; every mistake is a ``ConfigError`` naming file and field."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    known = {"since_days", "max_per_query", "page_size", "query"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}: {key}: unknown setting (known: {', '.join(sorted(known))})")
    entries = raw.get("query")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: query: give at least one [[query]] table")
    queries = []
    for i, entry in enumerate(entries):
        where = f"{path}: query[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(entry) - {"name", "terms", "categories"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.name: must be a non-empty string")
        terms = _strings(entry.get("terms"), f"{where}.terms")
        for term in terms:
            if '"' in term:
                raise ConfigError(f"{where}.terms: {term!r}: a term cannot contain a double quote")
        categories = _strings(entry.get("categories", []), f"{where}.categories",
                              allow_empty=True)
        for cat in categories:
            if not _CATEGORY_RE.match(cat):
                raise ConfigError(f"{where}.categories: {cat!r} is not an arXiv category "
                                  "(e.g. cs.LG)")
        queries.append(Query(name.strip(), terms, categories))
    return Config(
        tuple(queries),
        since_days=_positive_int(raw, "since_days", 8, str(path)),
        max_per_query=_positive_int(raw, "max_per_query", 300, str(path)),
        page_size=_positive_int(raw, "page_size", 100, str(path)),
    )


# -- scoring --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownPaper:
    """What the score needs from a database entry: how an abstract could name it."""

    arxiv: str | None
    title: str
    name: str | None  #: short method name the title starts with, if any


def known_papers(entries) -> list[KnownPaper]:
    out = []
    for e in entries:
        if not e.title:
            continue
        m = _NAME_RE.match(e.title)
        name = m.group(1) if m and any(c.isupper() or c.isdigit() for c in m.group(1)) else None
        out.append(KnownPaper(e.arxiv, e.title, name))
    return out


@dataclass
class Candidate:
    record: ArxivRecord
    queries: set[str] = field(default_factory=set)
    title_terms: set[str] = field(default_factory=set)
    abstract_terms: set[str] = field(default_factory=set)
    cites: list[str] = field(default_factory=list)  #: names/ids of database papers it names

    @property
    def score(self) -> int:
        return (TITLE_POINTS * len(self.title_terms) + ABSTRACT_POINTS * len(self.abstract_terms)
                + CITATION_POINTS * len(self.cites))

    def breakdown(self) -> str:
        parts = []
        if self.title_terms:
            parts.append(f"title: {', '.join(sorted(self.title_terms))} "
                         f"(+{TITLE_POINTS * len(self.title_terms)})")
        if self.abstract_terms:
            parts.append(f"abstract: {', '.join(sorted(self.abstract_terms))} "
                         f"(+{ABSTRACT_POINTS * len(self.abstract_terms)})")
        if self.cites:
            parts.append(f"names {', '.join(self.cites)} (+{CITATION_POINTS * len(self.cites)})")
        return "; ".join(parts)


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


def score(candidate: Candidate, query: Query, known: list[KnownPaper]) -> None:
    """Add ``query``'s term matches and the database papers the abstract names."""
    record = candidate.record
    candidate.queries.add(query.name)
    for term in query.terms:
        if _contains(record.title, term):
            candidate.title_terms.add(term)
            candidate.abstract_terms.discard(term)
        elif term not in candidate.title_terms and _contains(record.summary, term):
            candidate.abstract_terms.add(term)
    if candidate.cites:
        return
    for paper in known:
        if paper.arxiv and paper.arxiv in record.summary:
            candidate.cites.append(f"arXiv {paper.arxiv}")
        elif paper.name and re.search(rf"(?<!\w){re.escape(paper.name)}(?!\w)", record.summary):
            candidate.cites.append(paper.name)


# -- the run --------------------------------------------------------------------------------------

@dataclass
class Report:
    since: str
    queries: tuple[Query, ...]
    fetched: int = 0
    already_listed: int = 0
    candidates: list[Candidate] = field(default_factory=list)

    def ranked(self) -> list[Candidate]:
        """Highest score first; among equals, the newest submission first."""
        newest = sorted(self.candidates, key=lambda c: (c.record.published, c.record.arxiv_id),
                        reverse=True)
        return sorted(newest, key=lambda c: -c.score)


def discover(config: Config, entries, since: str, *, fetch_search) -> Report:
    """Run every query through ``fetch_search(query_string, stop_before=..., ...)`` and rank."""
    from .yamledit import title_key

    known = known_papers(entries)
    listed_ids = {e.arxiv for e in entries if e.arxiv}
    listed_titles = {title_key(e.title) for e in entries if e.title}
    report = Report(since, config.queries)
    by_id: dict[str, Candidate] = {}
    dropped: set[str] = set()
    for query in config.queries:
        records = fetch_search(query.search_query(), stop_before=since,
                               max_results=config.max_per_query, page_size=config.page_size)
        for record in records:
            report.fetched += 1
            if record.arxiv_id in dropped:
                continue
            if record.arxiv_id in listed_ids or title_key(record.title) in listed_titles:
                dropped.add(record.arxiv_id)
                report.already_listed += 1
                continue
            candidate = by_id.setdefault(record.arxiv_id, Candidate(record))
            score(candidate, query, known)
    report.candidates = list(by_id.values())
    return report


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").replace("<", "&lt;").replace("[", "\\[")
                    .replace("]", "\\]").split())


def render_markdown(report: Report, limit: int | None = None) -> str:
    ranked = report.ranked()
    shown = ranked if limit is None else ranked[:limit]
    lines = [
        "# Candidate papers from arXiv",
        "",
        f"Submitted since {report.since}, searched with "
        + ", ".join(f"*{q.name}*" for q in report.queries) + ".",
        f"{report.fetched} records fetched, {report.already_listed} already in the database, "
        f"{len(ranked)} candidates" + (f" (the top {len(shown)} shown)" if len(shown) < len(ranked)
                                       else "") + ".",
        "",
        f"Score: +{TITLE_POINTS} per search term in the title, +{ABSTRACT_POINTS} per term only "
        f"in the abstract, +{CITATION_POINTS} per database paper the abstract names. Check each "
        "paper against the inclusion rule in CONTRIBUTING.md (a frozen backbone; the method "
        "manipulates an interface) before adding it.",
        "",
    ]
    if not shown:
        lines += ["No new candidates.", ""]
        return "\n".join(lines)
    lines += ["| # | Score | Paper | Submitted | Why |", "| --: | --: | --- | --- | --- |"]
    for rank, c in enumerate(shown, 1):
        r = c.record
        authors = r.authors[0] + (" et al." if len(r.authors) > 1 else "") if r.authors else ""
        paper = f"[{_cell(r.title)}](https://arxiv.org/abs/{r.arxiv_id}) ({_cell(authors)}, " \
                f"{r.primary_category or 'arXiv'})"
        lines.append(f"| {rank} | {c.score} | {paper} | {r.published[:10]} | "
                     f"{_cell(c.breakdown())} |")
    lines += ["", "Ready to paste (each appends an untagged entry for you to tag):", "", "```sh"]
    lines += [f"repro add {c.record.arxiv_id}" for c in shown]
    lines += ["```", ""]
    return "\n".join(lines)


def report_json(report: Report) -> dict:
    return {
        "since": report.since,
        "fetched": report.fetched,
        "already_listed": report.already_listed,
        "candidates": [
            {"arxiv": c.record.arxiv_id, "title": c.record.title, "authors": list(c.record.authors),
             "published": c.record.published, "score": c.score, "queries": sorted(c.queries),
             "title_terms": sorted(c.title_terms), "abstract_terms": sorted(c.abstract_terms),
             "names": c.cites}
            for c in report.ranked()
        ],
    }


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"the searches to run (default: {DEFAULT_CONFIG})")
    parser.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD",
                        help="only papers submitted on or after this date "
                             "(default: today minus the config's since_days)")
    parser.add_argument("--out", metavar="PATH", help="write the markdown report here "
                        "(default: standard output)")
    parser.add_argument("--json", metavar="PATH", help="also write the candidates as JSON")
    parser.add_argument("--limit", type=int, default=50, metavar="N",
                        help="show at most N candidates in the report (default: 50)")
    _common(parser)


def run(args: argparse.Namespace) -> int:
    from .arxiv import ArxivError, RateLimiter, search
    from .atomic import write_text_atomic
    from .yamledit import Database, DatabaseError

    err = sys.stderr
    if args.limit < 1:
        print("error: --limit must be at least 1", file=err)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    try:
        db = Database.load(args.database)
    except DatabaseError as exc:
        print(f"error: {exc}", file=err)
        return 2
    since = args.since or (date.today() - timedelta(days=config.since_days)).isoformat()
    limiter = RateLimiter()

    def fetch_search(query: str, **kw) -> list:
        return search(query, api_url=args.api_url, min_interval=args.min_interval,
                      retries=args.retries, limiter=limiter, **kw)

    try:
        report = discover(config, db.entries, since, fetch_search=fetch_search)
    except ArxivError as exc:
        print(f"error: {exc}", file=err)
        return 1
    text = render_markdown(report, args.limit)
    outputs = {args.out: text} if args.out else {}
    if args.json:
        outputs[args.json] = json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
    for path, content in outputs.items():
        try:
            write_text_atomic(path, content)
        except OSError as exc:
            print(f"error: cannot write {path}: {exc.strerror or exc}", file=err)
            return 2
    if not args.out:
        sys.stdout.write(text)
    print(f"{len(report.candidates)} candidate(s) since {since} "
          f"({report.fetched} fetched, {report.already_listed} already listed)", file=err)
    return 0
