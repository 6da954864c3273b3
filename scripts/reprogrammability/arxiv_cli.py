"""``repro add`` and ``repro refresh``: arXiv metadata into, and against, the database.

``add`` saves a contributor from typing titles and author lists (and from typos in them): it
fetches each paper's metadata and appends a complete entry whose taxonomy fields are left empty,
with a comment listing the allowed values, so ``repro validate`` keeps failing until a person has
read the paper and tagged it. ``refresh`` is the maintenance half: arXiv titles change, new
versions appear, DOIs and journal references get added after publication, and the database
should hear about it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .papers import DEFAULT_DATABASE

if TYPE_CHECKING:  # the CLI imports these lazily, so `repro --help` stays fast
    from .arxiv import ArxivRecord
    from .yamledit import NewEntry


def _non_negative(kind: type):
    def convert(text: str):
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must not be negative: {text}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in "invalid float value"
    return convert


def _common(parser: argparse.ArgumentParser) -> None:
    from .arxiv import DEFAULT_API_URL, api_url

    parser.add_argument("--database", default=DEFAULT_DATABASE,
                        help=f"the YAML database (default: {DEFAULT_DATABASE})")
    parser.add_argument("--api-url", default=DEFAULT_API_URL, type=api_url,
                        help="arXiv API endpoint (default: %(default)s)")
    parser.add_argument("--min-interval", type=_non_negative(float), default=3.0, metavar="SECONDS",
                        help="seconds between API requests; arXiv asks for 3 (default: 3)")
    parser.add_argument("--retries", type=_non_negative(int), default=3, metavar="N",
                        help="retries after a server error or timeout (default: 3)")


# -- repro add ----------------------------------------------------------------------------------

def configure_add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="+", metavar="ARXIV_ID_OR_URL",
                        help="arXiv ids (2109.01134, hep-th/9901001, arXiv:...v2) or "
                             "arxiv.org URLs")
    _common(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the entries that would be appended; write nothing")
    parser.add_argument("--allow-withdrawn", action="store_true",
                        help="add papers whose authors withdrew them (refused otherwise)")


def entry_from_record(record: ArxivRecord) -> NewEntry:
    """A database entry for an arXiv record: venue and year from the journal ref or comment.

    A paper that says "Published as a conference paper at ICLR 2019" is cited as ICLR 2019 even
    though its first arXiv version is from 2018; one that names no known venue is ``arXiv`` and
    dated by its first version.
    """
    from .venues import ARXIV_VENUE, detect_venue
    from .yamledit import NewEntry

    found = detect_venue(record.journal_ref) or detect_venue(record.comment)
    return NewEntry(
        title=record.title,
        authors=record.authors,
        year=found.year if found and found.year else record.year,
        venue=found.short if found else ARXIV_VENUE,
        url=record.abs_url,
        arxiv=record.arxiv_id,
        doi=record.doi,
    )


def run_add(args: argparse.Namespace) -> int:
    from .arxiv import ArxivError, fetch, normalize_id
    from .yamledit import Database, DatabaseError, doi_key, title_key

    err = sys.stderr
    failed = 0
    try:
        db = Database.load(args.database)
    except DatabaseError as exc:
        print(f"error: {exc}", file=err)
        return 1

    wanted: list[str] = []  # base ids, in the order given
    for given in args.ids:
        try:
            base, _ = normalize_id(given)
        except ValueError as exc:
            print(f"error: {exc}", file=err)
            failed += 1
            continue
        if base in wanted:
            print(f"note: {given}: arXiv {base} given twice; adding it once", file=err)
            continue
        existing = next((e for e in db.entries if e.arxiv == base), None)
        if existing is not None:
            print(f"error: {given}: already in {db.path}:{existing.line} (arXiv {base}); "
                  "not added", file=err)
            failed += 1
            continue
        wanted.append(base)

    entries = []
    if wanted:
        try:
            results = fetch(wanted, api_url=args.api_url, min_interval=args.min_interval,
                            retries=args.retries)
        except ArxivError as exc:
            print(f"error: {exc}", file=err)
            return 1
        for base in wanted:
            record = results[base]
            if record is None:
                why = results.errors.get(base)
                print(f"error: {base}: " + (f"arXiv says: {why}" if why else
                                            "arXiv has no paper with this id"), file=err)
                failed += 1
                continue
            notice = record.withdrawn
            if notice and not args.allow_withdrawn:
                print(f"error: {base}: arXiv shows {record.title!r} as withdrawn ({notice!r}); "
                      "not added (pass --allow-withdrawn to add it anyway)", file=err)
                failed += 1
                continue
            if notice:
                print(f"warning: {base}: {record.title!r} is withdrawn ({notice!r}); adding it "
                      "because of --allow-withdrawn: say why in its note", file=err)
            entry = entry_from_record(record)
            dup = db.duplicate_of(entry)
            if dup:  # same title or DOI under another (or no) arXiv id
                print(f"error: {base}: {record.title!r} is {dup}; not added", file=err)
                failed += 1
                continue
            twin = next((e for e in entries if title_key(e.title) == title_key(entry.title)
                         or (e.doi and entry.doi and doi_key(e.doi) == doi_key(entry.doi))), None)
            if twin is not None:
                print(f"error: {base}: {record.title!r} is the same paper as arXiv {twin.arxiv} "
                      "(same title or DOI); adding only the first", file=err)
                failed += 1
                continue
            entries.append(entry)

    if entries:
        plural = "y" if len(entries) == 1 else "ies"
        if not db.commit_entries(
            entries, dry_run=args.dry_run, out=sys.stdout, err=err,
            describe=lambda i, line: (f"added {db.path}:{line}: {entries[i].title} "
                                      f"(arXiv {entries[i].arxiv}, {entries[i].venue} "
                                      f"{entries[i].year})"),
            dry_run_summary=f"{len(entries)} entr{plural} would be appended",
        ):
            return 1
    return 1 if failed else 0


# -- repro refresh ------------------------------------------------------------------------------

def configure_refresh(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--json", metavar="PATH", help="also write the findings as JSON")


def normalize_title(title: str) -> str:
    """Titles compared the way a reader would: case, accents, spacing, punctuation, TeX ignored."""
    text = re.sub(r"\\[a-zA-Z]+\s*|[{}$]", "", title)
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()
                            if not unicodedata.combining(c)).split())


@dataclass
class Finding:
    """One paper checked against arXiv."""

    title: str
    line: int
    arxiv: str
    pinned_version: int | None = None
    latest_version: int | None = None
    differences: list[dict] = field(default_factory=list)

    def differ(self, field_name: str, line: int, message: str) -> None:
        self.differences.append({"field": field_name, "line": line, "message": message})


def compare(paper, record, error: str | None) -> Finding:
    """What differs between a database entry and arXiv's record for it."""
    from .arxiv import normalize_id
    from .venues import canonical, detect_venue
    from .yamledit import doi_key

    base, pinned = normalize_id(paper.arxiv)
    f = Finding(paper.title, paper.line, base, pinned)
    if record is None:
        f.differ("arxiv", paper.line_of("arxiv"),
                 f"arXiv says: {error}" if error else f"arXiv id {base} is unknown to arXiv")
        return f
    f.latest_version = record.version
    if normalize_title(record.title) != normalize_title(paper.title):
        f.differ("title", paper.line_of("title"), f"title differs: arXiv has {record.title!r}")
    if pinned is not None and record.version > pinned:
        f.differ("arxiv", paper.line_of("arxiv"),
                 f"new version v{record.version} available (database pins v{pinned})")
    if record.doi:
        if not paper.doi:
            f.differ("doi", paper.line_of("title"), f"DOI missing: arXiv lists {record.doi}")
        elif doi_key(paper.doi) != doi_key(record.doi):
            f.differ("doi", paper.line_of("doi"),
                     f"DOI differs: arXiv lists {record.doi}, database has {paper.doi}")
    for source, text in (("journal_ref", record.journal_ref), ("comment", record.comment)):
        found = detect_venue(text)
        if found is None:
            continue
        if canonical(paper.venue).casefold() != found.short.casefold():
            f.differ("venue", paper.line_of("venue"),
                     f"venue differs: arXiv {source} says {text!r}, i.e. {found.short}; the "
                     f"database has {paper.venue}")
        break  # the journal_ref, when it names a venue, outranks the comment
    return f


def run_refresh(args: argparse.Namespace) -> int:
    from .arxiv import ArxivError, fetch, normalize_id
    from .atomic import write_text_atomic
    from .validate import load, read_input, report

    out, err = sys.stdout, sys.stderr
    result = load(args.database, read_input(args.database))
    if result.problems:
        report(result.problems, err)
        print(f"note: {len(result.problems)} problem(s) in {args.database}; entries that did not "
              "validate were not checked (run repro validate)", file=err)
    papers = []
    disagreements = 0
    for p in result.papers:
        if not p.arxiv:
            continue
        try:
            normalize_id(p.arxiv)
        except ValueError as exc:
            print(f"{args.database}:{p.line_of('arxiv')}: {p.title}: {exc}", file=out)
            disagreements += 1
            continue
        papers.append(p)
    # Ask for base ids: arXiv then answers with the latest version, which is what "a new
    # version is available" is measured against.
    bases = [normalize_id(p.arxiv)[0] for p in papers]
    try:
        results = fetch(bases, api_url=args.api_url, min_interval=args.min_interval,
                        retries=args.retries)
    except ArxivError as exc:
        print(f"error: {exc}", file=err)
        return 1
    findings = [compare(p, results[b], results.errors.get(b)) for p, b in zip(papers, bases)]
    for f in findings:
        for d in f.differences:
            disagreements += 1
            print(f"{args.database}:{d['line']}: {f.title}: {d['message']}", file=out)
    print(f"{len(findings)} papers with arXiv ids checked; {disagreements} disagreement(s)",
          file=err)
    if args.json:
        doc = {
            "database": str(args.database),
            "checked": len(findings),
            "disagreements": disagreements,
            "papers": [vars(f) for f in findings],
        }
        write_text_atomic(Path(args.json), json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return 1 if disagreements or result.problems else 0
