"""``repro``: one command for contributors and CI.

Each subcommand lives in its own module exposing ``configure(parser)`` and ``run(args) -> int``;
they are imported lazily so ``repro validate`` never pays for the link checker's imports.
Exit codes everywhere: 0 success, 1 the data or the check failed, 2 usage error: a bad option,
or an input that cannot be read or an output that cannot be written (a subcommand raises
``errors.UsageError`` and :func:`main` prints its one line).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UsageError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("reprogrammability.build", "validate, then render every derived file (the main job)"),
    "validate": ("reprogrammability.validate",
                 "check data/*.yaml (every collection) against the schemas and rules"),
    "render": ("reprogrammability.render", "render README.md and docs/ from data/*.yaml"),
    "links": ("reprogrammability.links.cli", "check every URL and anchor in the data and the docs"),
    "add": ("reprogrammability.arxiv_cli", "append papers to data/papers.yaml from arXiv metadata"),
    "refresh": ("reprogrammability.arxiv_cli", "report papers whose arXiv metadata disagrees"),
    "bib": ("reprogrammability.bibtex", "export docs/papers.bib or import a .bib file"),
    "suggest": ("reprogrammability.suggest", "add a paper from a 'Suggest a paper' issue body"),
    "discover": ("reprogrammability.discover", "rank new arXiv papers the database is missing"),
    "site": ("reprogrammability.sitegen", "build the website (HTML, offline) from the same data"),
}


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message on one clean line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only``, just that subcommand's options are configured (imported)."""
    parser = _Parser(prog="repro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name != only:
            continue
        mod = importlib.import_module(module)
        configure = getattr(mod, f"configure_{name}", None) or mod.configure
        configure(p)
        p.set_defaults(_module=module, _name=name)
    return parser


def _innermost(parser: argparse.ArgumentParser,
               args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that parsed the last chosen subcommand: ``repro bib export``'s own."""
    while True:
        chosen = None
        for action in parser._actions:  # argparse keeps subcommands only here
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(args, action.dest, None) or "")
        if chosen is None:
            return parser
        parser = chosen


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand, with its usage, not the top-level one
        _innermost(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    mod = importlib.import_module(args._module)
    run = getattr(mod, f"run_{args._name}", None) or mod.run
    try:
        return int(run(args) or 0)
    except UsageError as exc:
        print(f"repro {args._name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
