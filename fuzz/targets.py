"""Every parser that reads user input, wrapped as a fuzz target with the property it must keep.

The property, for every target: given any bytes, the parser returns a result or a list of
problems that carry line numbers, with a clean exit code; it never raises, never runs longer
than :data:`TIME_BOUND` seconds on one input, and never writes a file when it reports a problem.
A target's :meth:`Target.check` raises :class:`Violation` when the parser returned but broke the
property; any other exception escaping it is a traceback, the bug the fuzzers look for.

``tests/test_fuzz.py`` drives these targets with Hypothesis (a bounded number of examples, so
the suite stays fast); ``fuzz/run.py`` drives them with :mod:`random` for long runs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Seconds one input may take before the case counts as a hang.
TIME_BOUND = 10.0


class Violation(AssertionError):
    """The parser returned normally but broke the property (bad exit code, line, write ...)."""


@dataclass
class Outcome:
    """What one case did: ``problems`` counts reported problems (0: the input was accepted)."""

    problems: int
    seconds: float = 0.0


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") + 1


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise Violation(message)


@contextlib.contextmanager
def _quiet() -> object:
    """Swallow what CLI entry points print: the fuzzers judge exit codes and files, not text."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out, err


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Target:
    """One parser: its seed inputs (read from the repository) and how to run and judge a case.

    ``window`` (lines per case, 0 for whole files) keeps cases small: a window of a few entries
    of the real papers file fuzzes the same syntax thousands of times faster than the whole.
    """

    name: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes, random.Random], int]
    window: int = 0
    #: Cases per run that the test suite and the long runner use by default.
    test_examples: int = 60
    long_cases: int = 50_000

    @cached_property
    def corpus(self) -> list[bytes]:
        seeds = self.seeds()
        if not seeds:
            raise RuntimeError(f"fuzz target {self.name}: no seed input found")
        return seeds

    def case(self, seed_index: int, start: int) -> bytes:
        from .mutate import window

        base = self.corpus[seed_index % len(self.corpus)]
        return window(base, start, self.window) if self.window else base

    def check(self, data: bytes, rng: random.Random | None = None) -> Outcome:
        """Run one input; :class:`Violation` when the property is broken, else the outcome."""
        began = time.perf_counter()
        problems = self.run(data, rng or random.Random(0))
        seconds = time.perf_counter() - began
        _expect(seconds <= TIME_BOUND, f"took {seconds:.1f} s (bound {TIME_BOUND:g} s)")
        return Outcome(problems, seconds)


# --- the database validator, every collection ------------------------------------------------


def _collection_seeds(name: str) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        from reprogrammability.collections import BY_NAME

        real = ROOT / BY_NAME[name].file
        fixture = ROOT / "tests/fixtures/collections/valid" / Path(BY_NAME[name].file).name
        return [p.read_bytes() for p in (real, fixture) if p.is_file()]
    return seeds


@functools.lru_cache(maxsize=1)
def _real_files() -> dict[str, bytes]:
    from reprogrammability.collections import BY_NAME

    return {name: (ROOT / c.file).read_bytes() for name, c in BY_NAME.items()
            if (ROOT / c.file).is_file()}


@functools.cache
def _referenced(name: str) -> frozenset[str]:
    """The other collections whose ids ``name``'s fields refer to (validating only those keeps
    a case fast: the papers file is the largest)."""
    from reprogrammability.collections import BY_NAME

    found: set[str] = set()
    stack = list(BY_NAME[name].fields())
    while stack:
        f = stack.pop()
        if f.ref:
            found.add(f.ref)
        stack.extend(f.fields)
        stack.extend(sub for _, subs in f.variants for sub in subs)
    return frozenset(found - {name})


@functools.cache
def _others(name: str) -> dict[str, bytes]:
    """The real files ``name`` refers to, cut to the entries its real file names.

    References still resolve exactly as in the repository (an id the real file uses is kept),
    but validating the other files costs little per case: the whole papers file is the largest
    part of a tools or results case otherwise.
    """
    from .mutate import entries

    files = _real_files()
    used = files.get(name, b"")
    out = {}
    for other in _referenced(name):
        if other not in files:
            continue
        head, items = entries(files[other])
        kept = [e for e in items if (m := _ID.search(e)) and m.group(1) in used]
        out[other] = b"".join([head, *kept])
    return out


_ID = re.compile(rb"^ {2}- id: *(\S+)", re.MULTILINE)


def _validate(name: str) -> Callable[[bytes, random.Random], int]:
    def run(data: bytes, rng: random.Random) -> int:
        from reprogrammability.collections import BY_NAME
        from reprogrammability.validate import load_bytes

        c = BY_NAME[name]
        # Beside the real files it refers to, so its references resolve as in the repository.
        others = _others(name)
        result = load_bytes(data, str(ROOT / c.file), name, others)
        lines = _line_count(data)
        for p in result.problems:
            _expect(isinstance(p.line, int) and 0 <= p.line <= lines,
                    f"problem at line {p.line} of a {lines}-line file: {p.format()}")
            _expect(p.col >= 0 and bool(p.message), f"malformed problem {p!r}")
            p.format()
            p.annotation()
        if not result.problems:
            _expect(isinstance(result.records, list), "no problems but no records list")
        return len(result.problems)
    return run


def _cli_validate(data: bytes, rng: random.Random) -> int:
    """``repro validate FILE`` as contributors run it: exit 0 or 1, never a traceback."""
    from reprogrammability.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "papers.yaml"
        path.write_bytes(data)
        for other in ("datasets", "tools", "resources", "results"):
            src = ROOT / "data" / f"{other}.yaml"
            if src.is_file():
                shutil.copyfile(src, Path(tmp) / src.name)
        with _quiet() as (_, err):
            code = main(["validate", str(path)])
        _expect(code in (0, 1), f"exit code {code}")
        _expect(code == 0 or bool(err.getvalue().strip()), "exit 1 without a message")
    return code


def _build(data: bytes, rng: random.Random) -> int:
    """``repro build`` on a copy of the repository's data with one file mutated.

    Exit 0 writes the outputs; exit 1 must leave the output tree exactly as it was.
    """
    from reprogrammability.cli import main

    names = ["papers", "datasets", "tools", "resources", "results"]
    names = [n for n in names if (ROOT / "data" / f"{n}.yaml").is_file()]
    victim = names[rng.randrange(len(names))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        for n in names:
            src = ROOT / "data" / f"{n}.yaml"
            (root / "data" / src.name).write_bytes(data if n == victim else src.read_bytes())
        (root / "README.md").write_text("committed\n", encoding="utf-8")
        before = _tree(root)
        with _quiet():
            code = main(["build", str(root / "data" / "papers.yaml"), "--root", str(root)])
        _expect(code in (0, 1), f"exit code {code}")
        if code == 1:
            _expect(_tree(root) == before, "build reported problems but wrote files")
        else:
            _expect((root / "README.md").read_text(encoding="utf-8") != "committed\n",
                    "build exited 0 without rendering README.md")
    return code


def _papers_seed() -> list[bytes]:
    return [(ROOT / "data/papers.yaml").read_bytes()]


# --- BibTeX import ---------------------------------------------------------------------------


def _bib_seeds() -> list[bytes]:
    """The test fixtures whole, and the exported database in chunks of five entries."""
    seeds = [p.read_bytes() for p in sorted((ROOT / "tests/fixtures/bib").glob("*.bib"))]
    exported = (ROOT / "docs/papers.bib").read_bytes().split(b"\n@")
    seeds += [b"\n@".join(exported[i:i + 5]) for i in range(0, len(exported), 5)]
    return seeds


# A small database the import fuzzer appends to; its comments must survive.
_SMALL_DB = (ROOT / "tests" / "fixtures" / "one_paper.yaml").read_text(encoding="utf-8")


def _comments(text: str) -> list[str]:
    return sorted(line.strip() for line in text.splitlines() if line.strip().startswith("#"))


def _check_append(before: str, after: str) -> None:
    """An append keeps every old line and comment, and the result still reads as YAML."""
    import yaml

    old_lines, new_lines = before.splitlines(), after.splitlines()
    _expect(len(new_lines) >= len(old_lines), "the edit removed lines")
    rest = iter(new_lines)
    _expect(all(any(line == got for got in rest) for line in old_lines),
            "the edit changed or reordered an existing line")
    _expect(set(_comments(before)) <= set(_comments(after)), "the edit lost a comment")
    # The pure-Python reader as well as libyaml (which the tools use) must still read the file
    # when it read the original: other programs read it too, and the two readers disagree on
    # some plain flow scalars.
    try:
        yaml.compose(before, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return
    yaml.compose(after, Loader=yaml.SafeLoader)


def _bib_import(data: bytes, rng: random.Random) -> int:
    """``repro bib import``: exit 0, 1 or 2; the database is unchanged or cleanly appended to."""
    from reprogrammability.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        bib, db = Path(tmp) / "in.bib", Path(tmp) / "papers.yaml"
        bib.write_bytes(data)
        db.write_text(_SMALL_DB, encoding="utf-8")
        with _quiet():
            code = main(["bib", "import", str(bib), "--database", str(db)])
        _expect(code in (0, 1, 2), f"exit code {code}")
        after = db.read_text(encoding="utf-8")
        if code == 2:
            _expect(after == _SMALL_DB, "usage error but the database changed")
        if after != _SMALL_DB:
            _check_append(_SMALL_DB, after)
    return code


# --- the YAML editor behind repro add --------------------------------------------------------


def random_text(rng: random.Random, most: int = 40) -> str:
    """Text with the characters that break naive YAML writers: quotes, colons, #, escapes."""
    alphabet = ("abcXYZ 019:#'\"\\-[]{},&*!|>%@`?~\t\u00e9\u0301\u202e\u2028\u0085\ufeff"
                "\U0001F600\x00\x07\x1b")
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


def new_entry(rng: random.Random) -> object:
    from reprogrammability.yamledit import NewEntry

    authors = tuple(random_text(rng, 12) or "A B" for _ in range(rng.randint(1, 3)))
    return NewEntry(
        title=random_text(rng) or "T", authors=authors, year=rng.randint(1900, 2100),
        venue=random_text(rng, 10) or "arXiv", url="https://example.org/" + str(rng.random()),
        arxiv=rng.choice([None, "2506.04650", "cs/0112017"]),
        note=rng.choice([None, random_text(rng, 80)]),
        tags=rng.choice([{}, {"paradigm": ["model reprogramming"], "location": ["input"]}]),
    )


def _yaml_append(data: bytes, rng: random.Random) -> int:
    """``Database.appended``: a DatabaseError, or a text that keeps every old line and comment
    and reads back with the new entry (the editor verifies the values itself)."""
    from reprogrammability.yamledit import Database, DatabaseError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "papers.yaml"
        path.write_bytes(data)
        try:
            db = Database.load(path)
            new_text, lines = db.appended([new_entry(rng)])
        except DatabaseError as exc:
            _expect(bool(str(exc)), "empty DatabaseError")
            _expect(path.read_bytes() == data, "the editor failed but changed the file")
            return 1
        _expect(len(lines) == 1, f"one entry appended but {len(lines)} line numbers")
        _check_append(db.text, new_text)
        _expect(path.read_bytes() == data, "appended() wrote the file")
    return 0


# --- the reference trainer's config and --override ------------------------------------------


def _config_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((ROOT / "reference/configs").glob("*.yaml"))]


_OVERRIDE_KEYS = ("lr", "epochs", "batch_size", "model.name", "manipulation.name",
                  "manipulation.kwargs.pad", "alignment", "data.type", "data.root", "seed",
                  "amp", "optimizer", "", "a..b", ".", "model", "scheduler.x")


def _config(data: bytes, rng: random.Random) -> int:
    from reference.config import ConfigError, load_config

    from .mutate import TOKENS

    overrides = []
    for _ in range(rng.randint(0, 3)):
        value = _decode(rng.choice(TOKENS)) if rng.random() < 0.7 else random_text(rng, 10)
        overrides.append(rng.choice([f"{rng.choice(_OVERRIDE_KEYS)}={value}", value]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(data)
        try:
            load_config(path, overrides)
        except ConfigError as exc:
            _expect(str(exc).startswith((str(path), "--override")),
                    f"the error does not name the file or --override: {exc}")
            _expect(exc.line >= 0, f"line {exc.line}")
            return 1
    return 0


# --- the link extractor ----------------------------------------------------------------------


def _markdown_seeds() -> list[bytes]:
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [p.read_bytes() for p in files if p.is_file()]


def _data_seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted((ROOT / "data").glob("*.yaml"))]


def _links(suffix: str) -> Callable[[bytes, random.Random], int]:
    def run(data: bytes, rng: random.Random) -> int:
        from reprogrammability.links.extract import ExtractError, extract_file

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"input{suffix}"
            path.write_bytes(data)
            try:
                links = extract_file(path, Path(tmp))
            except ExtractError as exc:
                _expect(str(exc).startswith(f"input{suffix}"), f"error without the file: {exc}")
                return 1
        lines = _line_count(data)
        for link in links:
            _expect(1 <= link.line <= lines, f"link at line {link.line} of {lines}: {link}")
        return 0
    return run


# --- the suggest-a-paper issue body ----------------------------------------------------------


def _body_seeds() -> list[bytes]:
    from reprogrammability.issueforms import CODE_FIELD, NOTE_FIELD, PAPER_FIELD, tag_fields

    parts = [f"### {PAPER_FIELD[1]}\n\nhttps://arxiv.org/abs/2506.04650v2\n"]
    parts += [f"### {t.label}\n\n{t.options[0]}\n" for t in tag_fields()]
    parts += [f"### {CODE_FIELD[1]}\n\nhttps://github.com/owner/repo\n",
              f"### {NOTE_FIELD[1]}\n\nThe frozen model reads a learned padding.\n"]
    return ["\n".join(parts).encode()]


def _issue_body(data: bytes, rng: random.Random) -> int:
    from reprogrammability.issueforms import parse_body, tag_fields

    result = parse_body(_decode(data))
    _expect(all(isinstance(p, str) and p for p in result.problems), "malformed problems")
    if result.ok:
        options = {t.key: t.options for t in tag_fields()}
        for key, values in result.tags.items():
            _expect(all(v in options[key] for v in values), f"unchecked tag {key}: {values}")
    return len(result.problems)


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("validate-papers", _collection_seeds("papers"), _validate("papers"), 60, 60),
    Target("validate-datasets", _collection_seeds("datasets"), _validate("datasets"), 60, 25),
    Target("validate-tools", _collection_seeds("tools"), _validate("tools"), 60, 25),
    Target("validate-resources", _collection_seeds("resources"), _validate("resources"), 60, 25),
    Target("validate-results", _collection_seeds("results"), _validate("results"), 60, 25),
    Target("cli-validate", _papers_seed, _cli_validate, 45, 15, 5_000),
    Target("build", _papers_seed, _build, 0, 4, 300),
    Target("bib-import", _bib_seeds, _bib_import, 0, 40),
    Target("yaml-append", _collection_seeds("papers"), _yaml_append, 45, 40),
    Target("config", _config_seeds, _config, 0, 40),
    Target("links-markdown", _markdown_seeds, _links(".md"), 40, 60),
    Target("links-yaml", _data_seeds, _links(".yaml"), 45, 40),
    Target("issue-body", _body_seeds, _issue_body, 0, 80),
)}
