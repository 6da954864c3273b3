"""``repro suggest``: turn a "Suggest a paper" issue into a database entry, or into advice.

The issue-to-PR workflow runs this with the issue body in an environment variable (never on a
shell line: the body is untrusted and a ``$(...)`` in it must stay text). It reads the form
(:func:`issueforms.parse_body`), fetches the paper's metadata from arXiv as ``repro add`` does,
appends the entry with the contributor's tags, code link and note, and validates the result
before anything is written. It always leaves a markdown comment for the issue (what was added,
or every problem to fix) and a small JSON result the workflow reads for the PR title.

Exit codes: 0 the entry was added and the database validates; 1 the suggestion cannot be added
as it stands (the comment says why); 2 usage errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from .arxiv_cli import _common, entry_from_record


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--body-env", required=True, metavar="NAME",
                        help="the environment variable that holds the issue body")
    parser.add_argument("--result", required=True, metavar="PATH",
                        help="write {ok, arxiv, title, problems} as JSON here")
    parser.add_argument("--comment", required=True, metavar="PATH",
                        help="write the markdown reply for the issue here")
    _common(parser)


def _comment(ok: bool, title: str | None, arxiv: str | None, problems: list[str]) -> str:
    if ok:
        return (f"Thank you! The entry for **{title}** (arXiv {arxiv}) validates; a pull request "
                "with it is on its way for review.\n")
    # The problems quote parts of an untrusted body: a code block keeps them inert (no
    # mentions, links or markup), and backticks are dropped so it cannot be closed early.
    lines = ["This suggestion cannot be added as it stands:", "", "```text"]
    lines += [f"- {p.replace('`', chr(39))}" for p in problems]
    lines += ["```", "", "Edit the issue to fix these; the workflow runs again on every edit."]
    return "\n".join(lines) + "\n"


def suggest(body: str | None, args: argparse.Namespace) -> tuple[bool, str | None, str | None,
                                                                   list[str]]:
    """(ok, title, arxiv id, problems); writes the database only when the result validates."""
    from .arxiv import ArxivError, fetch
    from .issueforms import parse_body
    from .validate import load
    from .yamledit import Database, DatabaseError

    parsed = parse_body(body)
    if not parsed.ok:
        return False, None, parsed.arxiv, parsed.problems
    try:
        db = Database.load(args.database)
    except DatabaseError as exc:
        return False, None, parsed.arxiv, [f"the database cannot be read: {exc}"]
    existing = next((e for e in db.entries if e.arxiv == parsed.arxiv), None)
    if existing is not None:
        return False, existing.title, parsed.arxiv, [
            f"arXiv {parsed.arxiv} is already listed ({db.path}:{existing.line}); use the "
            "'Report a wrong tag' form to change its tags"]
    try:
        results = fetch([parsed.arxiv], api_url=args.api_url, min_interval=args.min_interval,
                        retries=args.retries)
    except ArxivError as exc:
        return False, None, parsed.arxiv, [f"arXiv could not be asked just now ({exc}); "
                                           "edit the issue later to try again"]
    record = results[parsed.arxiv]
    if record is None:
        why = results.errors.get(parsed.arxiv) or "arXiv has no paper with this id"
        return False, None, parsed.arxiv, [f"arXiv {parsed.arxiv}: {why}"]
    entry = dataclasses.replace(entry_from_record(record), tags=parsed.tags, code=parsed.code,
                                note=parsed.note)
    dup = db.duplicate_of(entry)
    if dup:
        return False, record.title, parsed.arxiv, [f"{record.title!r} is {dup}"]
    try:
        new_text, _ = db.appended([entry])
    except DatabaseError as exc:
        return False, record.title, parsed.arxiv, [str(exc)]
    checked = load(db.path, new_text.encode("utf-8"))  # references resolve beside it
    if checked.problems:
        return False, record.title, parsed.arxiv, [p.format() for p in checked.problems]
    db.write(new_text)
    return True, record.title, parsed.arxiv, []


def run(args: argparse.Namespace) -> int:
    from .atomic import write_text_atomic

    body = os.environ.get(args.body_env)
    if body is None:
        print(f"error: the environment variable {args.body_env} is not set", file=sys.stderr)
        return 2
    ok, title, arxiv, problems = suggest(body, args)
    outputs = {
        args.result: json.dumps({"ok": ok, "arxiv": arxiv, "title": title,
                                 "problems": problems}, ensure_ascii=False, indent=2) + "\n",
        args.comment: _comment(ok, title, arxiv, problems),
    }
    for path, text in outputs.items():
        try:
            write_text_atomic(path, text)
        except OSError as exc:
            print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 0 if ok else 1
