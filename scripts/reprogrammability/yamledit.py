"""Append entries to ``data/papers.yaml`` without disturbing a byte of what is already there.

``repro add`` and ``repro bib import`` write into a file people curate by hand: its comments,
key order, quoting and line wrapping are part of the review history. A full load-and-dump, even
with ruamel.yaml's round-trip mode, normalises indentation and re-wraps long lines, so the diff of
a one-paper addition would touch unrelated entries. So the edit is a splice:

* **Render** the new entries with ruamel.yaml in round-trip mode (double-quoted titles and ids,
  flow lists, end-of-line ``# fill in`` comments), so quoting and escaping are YAML-correct;
  any string YAML 1.1 would read as something else (an author called ``No``, a venue ``2021``)
  is quoted, since the validator reads the file the way PyYAML does.
* **Locate** the end of the ``papers`` list, its indentation and the identities of the entries
  already there from libyaml's node tree (``yaml.compose`` with the C loader): positions and
  scalars exactly as written, with no type guessing (an unquoted ``2109.01130`` stays that text),
  and fast enough for a 10,000-paper file, where ruamel.yaml's pure-Python parser takes minutes.
* **Verify** by parsing the spliced text again: the list must hold the old entries plus exactly
  the new ones, and whatever follows the insertion point must read as before. Only then is the
  file written, atomically, so a surprise in the layout is an error, never a damaged database.
"""

from __future__ import annotations

import gc
import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from .atomic import write_text_atomic
from .errors import UnreadableInput
from .taxonomy import AXES, PARADIGM_KEYS

try:  # libyaml: an order of magnitude faster than PyYAML's pure-Python parser
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

#: Fields a contributor must fill in by hand, with the values they may choose from.
FILL_IN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("paradigm", PARADIGM_KEYS),
    *((axis.field, axis.keys) for axis in AXES),
)

_STR_TAG = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()


class DatabaseError(Exception):
    """The database cannot be read or safely edited; the message names file and line."""


@dataclass(frozen=True)
class NewEntry:
    """Bibliographic facts for one paper to append; taxonomy fields are left to the contributor."""

    title: str
    authors: tuple[str, ...]
    year: int
    venue: str
    url: str
    arxiv: str | None = None
    doi: str | None = None
    code: str | None = None
    #: Tag field -> chosen values, when the contributor already chose them (``repro suggest``);
    #: fields left out are written empty with a "fill in" comment.
    tags: dict[str, list[str]] = field(default_factory=dict)
    note: str | None = None
    #: Chosen on append (``Database.with_ids``) unless given: a new id never renames a paper.
    id: str | None = None


@dataclass(frozen=True)
class ExistingEntry:
    """What duplicate checks and id choice need from an entry already in the database."""

    line: int
    id: str | None
    title: str | None
    arxiv: str | None  #: base id, version stripped
    doi: str | None  #: normalised (lower case, no resolver prefix)


def title_key(title: str) -> str:
    """A title reduced for duplicate detection: accents, case, spacing and punctuation ignored."""
    folded = unicodedata.normalize("NFKD", title)
    return "".join(c for c in folded.casefold() if c.isalnum())


def doi_key(doi: str) -> str:
    """DOIs are case-insensitive and often pasted with a resolver prefix."""
    text = doi.strip()
    text = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", text, flags=re.IGNORECASE)
    return text.casefold()


def _compose(text: str, path: Path) -> yaml.Node | None:
    """libyaml's node tree for ``text``; syntax errors become a ``DatabaseError`` at their line."""
    enabled = gc.isenabled()
    gc.disable()  # the node tree holds no cycles; the collector only slows building it
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DatabaseError(f"{path}{line}: invalid YAML: {exc.problem or exc.context}; "
                            "run repro validate") from None
    except yaml.YAMLError as exc:
        raise DatabaseError(f"{path}: invalid YAML: {exc}; run repro validate") from None
    finally:
        if enabled:
            gc.enable()


def _construct(node: yaml.Node) -> Any:
    """Plain values for one node, as ``yaml.safe_load`` would give them."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def _scalar(node: yaml.MappingNode, key: str) -> str | None:
    """A mapping's scalar value as written (no type resolution), or None."""
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v.value if isinstance(v, yaml.ScalarNode) and v.value != "" else None
    return None


@dataclass
class _Layout:
    """Where the ``papers`` list is in the node tree."""

    root: yaml.MappingNode
    index: int  #: position of the ``papers`` pair among the top-level pairs
    key: yaml.ScalarNode
    value: yaml.Node

    @property
    def items(self) -> list[yaml.Node]:
        return self.value.value if isinstance(self.value, yaml.SequenceNode) else []

    @property
    def following(self) -> list[tuple[yaml.Node, yaml.Node]]:
        return self.root.value[self.index + 1:]


def _layout(root: yaml.Node | None, path: Path) -> _Layout:
    if root is None:
        raise DatabaseError(f"{path}:1: the file is empty; start it with 'papers:'")
    if not isinstance(root, yaml.MappingNode):
        raise DatabaseError(f"{path}:{root.start_mark.line + 1}: the file must be a mapping with "
                            "a 'papers:' list")
    for i, (k, v) in enumerate(root.value):
        if isinstance(k, yaml.ScalarNode) and k.value == "papers":
            if isinstance(v, yaml.SequenceNode) or (
                isinstance(v, yaml.ScalarNode) and v.tag == "tag:yaml.org,2002:null"
            ):
                return _Layout(root, i, k, v)
            raise DatabaseError(f"{path}:{v.start_mark.line + 1}: papers: must be a list of "
                                "entries")
    raise DatabaseError(f"{path}:1: papers: missing (the list of papers)")


@dataclass
class Database:
    """A loaded papers.yaml: its exact text, where its list is, and the entries' identities."""

    path: Path
    text: str
    layout: _Layout = field(repr=False)
    entries: list[ExistingEntry] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> Database:
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            raise UnreadableInput(path, "no such file (create it with a 'papers:' list)") \
                from None
        except UnicodeDecodeError as exc:
            raise DatabaseError(f"{path}: not valid UTF-8 ({exc.reason})") from None
        except OSError as exc:  # a directory, no permission: a usage error (exit 2)
            raise UnreadableInput(path, exc.strerror or str(exc)) from None
        db = cls(path, text, _layout(_compose(text, path), path))
        db.entries = db._identities()
        return db

    def _identities(self) -> list[ExistingEntry]:
        from .arxiv import normalize_id

        out = []
        for item in self.layout.items:
            if not isinstance(item, yaml.MappingNode):
                continue
            arxiv = _scalar(item, "arxiv")
            if arxiv is not None:
                try:
                    arxiv = normalize_id(arxiv)[0]
                except ValueError:
                    pass
            doi = _scalar(item, "doi")
            out.append(ExistingEntry(item.start_mark.line + 1, _scalar(item, "id"),
                                     _scalar(item, "title"), arxiv,
                                     doi_key(doi) if doi else None))
        return out

    def with_ids(self, entries: Iterable[NewEntry]) -> list[NewEntry]:
        """``entries`` with an id each: given ones kept, others by ``bibtex.new_id``, unique
        against the database and against each other (in order)."""
        from dataclasses import replace

        from .bibtex import new_id

        entries = list(entries)
        taken = {e.id for e in self.entries if e.id} | {e.id for e in entries if e.id}
        out = []
        for entry in entries:
            if entry.id is None:
                entry = replace(entry, id=new_id(entry.authors, entry.year, entry.title, taken))
                taken.add(entry.id)
            out.append(entry)
        return out

    def duplicate_of(self, entry: NewEntry) -> str | None:
        """Why ``entry`` is already in the database (``file:line (same ...)``), or None."""
        tkey = title_key(entry.title)
        dkey = doi_key(entry.doi) if entry.doi else None
        for e in self.entries:
            where = f"{self.path}:{e.line}"
            if entry.arxiv and e.arxiv == entry.arxiv:
                return f"already in {where} (same arXiv id {entry.arxiv})"
            if dkey and e.doi == dkey:
                return f"already in {where} (same DOI {entry.doi})"
            if e.title is not None and tkey and title_key(e.title) == tkey:
                return f"already in {where} (same title)"
        return None

    # -- writing -------------------------------------------------------------------------------

    def appended(self, entries: Iterable[NewEntry]) -> tuple[str, list[int]]:
        """The new file text with ``entries`` at the end of the list, and each one's 1-based line.

        Entries without an id get one (:meth:`with_ids`). Only the inserted lines differ from
        the original text (and, for an empty ``papers: []``, that one line becomes ``papers:``).
        """
        entries = self.with_ids(entries)
        if not entries:
            return self.text, []
        lines = self.text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += "\n"
        layout = self.layout
        items = layout.items
        gap = ""
        if not items:
            # ``papers:``, ``papers: []`` or ``papers: ~``: make the key a block list header.
            key_line = layout.key.start_mark.line
            m = re.match(r"^(\s*papers\s*:)\s*(?:\[\s*\]|null|Null|NULL|~)?(\s*#.*)?\s*$",
                         lines[key_line].rstrip("\r\n"))
            if not m or layout.value.end_mark.line != key_line:
                raise DatabaseError(f"{self.path}:{key_line + 1}: papers: cannot append to a list "
                                    "written this way; write 'papers:' on its own line")
            newline = "\r\n" if lines[key_line].endswith("\r\n") else "\n"
            lines[key_line] = m.group(1) + (m.group(2) or "") + newline
            dash, key_col = 2, 4
            insert_at = key_line + 1
        else:
            if layout.value.flow_style:
                raise DatabaseError(f"{self.path}:{layout.key.start_mark.line + 1}: papers: is a "
                                    "[flow, list]; write it as a block list ('- title: ...') so "
                                    "entries can be appended")
            first = items[0]
            dash_line = self._dash_line(lines, first.start_mark.line)
            dash = len(lines[dash_line]) - len(lines[dash_line].lstrip(" "))
            # Keys at least two columns right of the dash ("-\n    title: ...", an empty item).
            key_col = max(first.start_mark.column, dash + 2)
            insert_at = self._end_of_papers(lines)
            # Follow the file's habit of a blank line between entries, if it has one.
            if len(items) >= 2:
                second = self._dash_line(lines, items[1].start_mark.line)
                if second > 0 and not lines[second - 1].strip():
                    gap = "\n"
        block = "".join(gap + render_entries([e], dash=dash, key_col=key_col) for e in entries)
        crlf = self.text.count("\r\n")
        if crlf and crlf >= self.text.count("\n") / 2:
            block = block.replace("\n", "\r\n")
        new_text = "".join(lines[:insert_at]) + block + "".join(lines[insert_at:])
        item_start = re.compile(rf"^ {{{dash}}}- ")
        starts = [insert_at + 1 + i for i, line in enumerate(block.splitlines())
                  if item_start.match(line)]
        self._verify(new_text, entries)
        return new_text, starts

    def _dash_line(self, lines: list[str], line: int) -> int:
        """The line holding the ``-`` that opens the list item whose first key is on ``line``."""
        for i in range(line, -1, -1):
            if re.match(r"^\s*-(\s|$)", lines[i]):
                return i
        raise DatabaseError(f"{self.path}:{line + 1}: expected a list item starting with '- '")

    def _end_of_papers(self, lines: list[str]) -> int:
        """0-based line before which new entries go: the end of the ``papers`` block.

        Unindented comments and blank lines after the last entry belong to what follows (the
        next top-level key, or a closing remark at the end of the file), so the entries go
        before them; an indented comment stays with the entry it annotates.
        """
        following = self.layout.following
        at = following[0][0].start_mark.line if following else len(lines)
        while at > 0 and (not lines[at - 1].strip() or lines[at - 1].startswith("#")):
            at -= 1
        # Never before the end of the last entry's last value (a block scalar's blank lines).
        node = self.layout.items[-1]
        while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.value:
            node = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
        end = node.end_mark
        return max(at, end.line + (1 if end.column > 0 else 0))

    def _verify(self, new_text: str, entries: list[NewEntry]) -> None:
        """Re-read the spliced text: the old entries then exactly the new ones, nothing else.

        Text before the insertion point is unchanged, so the entries before the last one read as
        they did; the last old entry (a trailing block scalar could absorb what follows it), the
        new entries, and every top-level key after ``papers`` are compared value by value.
        """
        old = self.layout
        try:
            new = _layout(_compose(new_text, self.path), self.path)
        except DatabaseError as exc:
            raise DatabaseError(f"{exc} (after inserting the new entries; nothing was written)")
        n_old = len(old.items)
        ok = len(new.items) == n_old + len(entries)
        try:
            if ok and n_old:
                ok = _construct(new.items[n_old - 1]) == _construct(old.items[-1])
            if ok:
                ok = all(_construct(got) == entry_values(want)
                         for got, want in zip(new.items[n_old:], entries))
            if ok:
                ok = [(_construct(k), _construct(v)) for k, v in new.following] == [
                    (_construct(k), _construct(v)) for k, v in old.following]
        except (yaml.YAMLError, ValueError, TypeError, OverflowError, IndexError) as exc:
            # a value the file already held cannot be read: a tag, a date like 2021-02-30
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise DatabaseError(f"{self.path}{line}: cannot read a value: "
                                f"{getattr(exc, 'problem', None) or exc}; run repro validate; "
                                "nothing was written") from None
        if not ok:
            raise DatabaseError(f"{self.path}: the file's layout defeated a safe append (the "
                                "result did not read back as the old entries plus the new); add "
                                "the entries by hand")

    def write(self, new_text: str) -> bool:
        return write_text_atomic(self.path, new_text)

    def commit_entries(self, entries: list[NewEntry], *, dry_run: bool, out: TextIO, err: TextIO,
                       describe: Callable[[int, int], str], dry_run_summary: str) -> bool:
        """Append ``entries`` (or, with ``dry_run``, print what would be appended) and report.

        ``repro add`` and ``repro bib import`` end the same way: one safe append, one line per
        written entry (``describe(index, line)``), and the reminder that the taxonomy tags are
        the contributor's to fill. Returns False when the append could not be made safely.
        """
        try:
            new_text, lines = self.appended(entries)
        except DatabaseError as exc:
            print(f"error: {exc}", file=err)
            return False
        if dry_run:
            out.write(inserted_block(new_text, self.text))
            print(f"dry run: {dry_run_summary} to {self.path}; nothing written", file=out)
            return True
        self.write(new_text)
        for index, line in enumerate(lines):
            print(describe(index, line), file=out)
        if not all(all(e.tags.get(name) for name, _ in FILL_IN) for e in entries):
            print("now fill in paradigm, configuration, location, operator and alignment "
                  "(see the '# fill in' comments), then run: repro validate", file=out)
        return True


def entry_values(entry: NewEntry) -> dict[str, Any]:
    """The entry as plain YAML values, in the order the database writes fields."""
    out: dict[str, Any] = {"id": entry.id} if entry.id else {}
    out |= {
        "title": entry.title,
        "authors": list(entry.authors),
        "year": entry.year,
        "venue": entry.venue,
    }
    if entry.arxiv:
        out["arxiv"] = entry.arxiv
    if entry.doi:
        out["doi"] = entry.doi
    out["url"] = entry.url
    if entry.code:
        out["code"] = entry.code
    for name, _ in FILL_IN:
        chosen = list(entry.tags.get(name, ()))
        out[name] = chosen[0] if len(chosen) == 1 else chosen
    if entry.note:
        out["note"] = entry.note
    return out


#: Plain block values are unsafe when they start with an indicator, hold ": " or " #", end in
#: a space, or hold characters a reader may refuse or normalise.
_BLOCK_RISKY = re.compile(r"^[-?:,\[\]{}#&*!|>'\"%@`\s]|: |\s#|\s$|:$"
                          r"|[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
#: What may stay plain inside a [flow, list]: names made of letters, digits, spaces, . ' -
_FLOW_PLAIN = re.compile(r"[^\W_][\w .'-]*(?<! )")


def _needs_quotes(value: str, flow: bool = False) -> bool:
    """True when ``value`` written plain would not read back as the same text.

    YAML 1.1 (what PyYAML and the validator use) types some plain scalars (``yes``, ``2021``);
    indicators and ``: `` end or change a plain scalar; and libyaml and pure-Python PyYAML
    disagree on some plain flow items (``c?``), so flow items stay plain only when they look
    like names.
    """
    if flow and not _FLOW_PLAIN.fullmatch(value):
        return True
    if _BLOCK_RISKY.search(value):
        return True
    return _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR_TAG


def render_entries(entries: Iterable[NewEntry], *, dash: int = 2, key_col: int = 4) -> str:
    """YAML text for entries as list items: ``dash`` spaces, ``-``, keys at ``key_col``.

    Titles and arXiv ids are double-quoted (an unquoted ``2109.01130`` is a number to YAML);
    authors a flow list; each taxonomy field an empty list with a comment naming its values, so
    ``repro validate`` fails until a person has chosen.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    def text(value: str, always: bool = False, in_flow: bool = False) -> str:
        quote = always or _needs_quotes(value, flow=in_flow)
        return DoubleQuotedScalarString(value) if quote else value

    def flow(items: Iterable[Any]) -> CommentedSeq:
        seq = CommentedSeq(items)
        seq.fa.set_flow_style()
        return seq

    step = key_col - dash
    if step < 2:
        raise ValueError("key_col must be at least dash + 2")
    width = max(len(name) for name, _ in FILL_IN)
    seq = CommentedSeq()
    for entry in entries:
        m = CommentedMap()
        for key, value in entry_values(entry).items():
            if isinstance(value, str):
                value = text(value, always=key in ("title", "arxiv", "note"))
            elif isinstance(value, list):
                value = flow(text(v, in_flow=True) for v in value)
            m[key] = value
        for name, allowed in FILL_IN:
            if not entry.tags.get(name):
                m.yaml_add_eol_comment(f"# fill in: {' | '.join(allowed)}", key=name,
                                       column=step + width + 6)
        seq.append(m)
    y = YAML(typ="rt")
    y.width = 1 << 16  # never wrap: a wrapped title would be a needless multi-line diff
    y.indent(mapping=step, sequence=step, offset=0)
    buf = io.StringIO()
    y.dump(seq, buf)
    pad = " " * dash
    return "".join(pad + line if line.strip() else line for line in buf.getvalue().splitlines(True))


def inserted_block(new_text: str, old_text: str) -> str:
    """The lines an append inserted: the new text minus the unchanged prefix and suffix."""
    new_lines, old_lines = new_text.splitlines(True), old_text.splitlines(True)
    start = 0
    while start < min(len(old_lines), len(new_lines)) and new_lines[start] == old_lines[start]:
        start += 1
    end = 0
    while (end < len(old_lines) - start
           and new_lines[len(new_lines) - 1 - end] == old_lines[len(old_lines) - 1 - end]):
        end += 1
    return "".join(new_lines[start:len(new_lines) - end])
