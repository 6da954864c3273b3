"""Append entries to ``data/papers.yaml`` without disturbing a byte of what is already there.

``repro add`` and ``repro bib import`` write into a file people curate by hand: its comments,
key order, quoting and line wrapping are part of the review history. A full load-and-dump, even
with ruamel.yaml's round-trip mode, normalises indentation and re-wraps long lines, so the diff of
a one-paper addition would touch unrelated entries. Instead ruamel.yaml (round-trip mode) is used
to *read* the structure (where the ``papers`` list is, how it is indented, what is in it) and to
*render* the new entries (so quoting and escaping of titles and names is YAML-correct); the
rendered block is then spliced into the original text at the end of the list. The result is
parsed again and checked to hold exactly the old entries plus the new ones before it is written,
atomically, so a surprise in the file's layout means an error, never a damaged database.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .taxonomy import AXES, PARADIGM_KEYS

#: Fields a contributor must fill in by hand, with the values they may choose from.
FILL_IN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("paradigm", PARADIGM_KEYS),
    *((axis.field, axis.keys) for axis in AXES),
)


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


@dataclass(frozen=True)
class ExistingEntry:
    """What duplicate checks need from an entry already in the database."""

    line: int
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


def _yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1 << 16  # never wrap: a wrapped title would be a needless multi-line diff
    return y


@dataclass
class Database:
    """A loaded papers.yaml: its exact text, its ruamel tree and the entries' identities."""

    path: Path
    text: str
    data: Any
    entries: list[ExistingEntry] = field(default_factory=list)
    _lines: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> Database:
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            raise DatabaseError(f"{path}: no such file (create it with a 'papers:' list)") from None
        except UnicodeDecodeError as exc:
            raise DatabaseError(f"{path}: not valid UTF-8 ({exc.reason})") from None
        except OSError as exc:
            raise DatabaseError(f"{path}: cannot read: {exc.strerror}") from None
        data = _parse(text, path)
        db = cls(path, text, data, _lines=text.splitlines())
        db.entries = db._identities()
        return db

    # -- reading -------------------------------------------------------------------------------

    @property
    def papers(self) -> Any:
        from ruamel.yaml.comments import CommentedMap

        if self.data is None:
            return None
        if not isinstance(self.data, CommentedMap):
            raise DatabaseError(f"{self.path}:1: the file must be a mapping with a 'papers:' list")
        if "papers" not in self.data:
            raise DatabaseError(f"{self.path}:1: papers: missing (the list of papers)")
        return self.data["papers"]

    def _raw_value(self, item: Any, key: str) -> str | None:
        """A scalar as written: ``arxiv: 2109.01130`` unquoted is a float to YAML, not an id."""
        value = item.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        try:
            line, col = item.lc.value(key)
        except (KeyError, AttributeError, TypeError):
            return str(value)
        raw = self._lines[line][col:]
        return re.split(r"\s+#|\s*$", raw, maxsplit=1)[0].strip() or str(value)

    def _identities(self) -> list[ExistingEntry]:
        from .arxiv import normalize_id

        papers = self.papers
        if papers is None:
            return []
        if not isinstance(papers, list):
            line = self.data.lc.key("papers")[0] + 1
            raise DatabaseError(f"{self.path}:{line}: papers: must be a list of entries")
        out = []
        for i, item in enumerate(papers):
            if not isinstance(item, dict):
                continue
            line = papers.lc.item(i)[0] + 1
            arxiv = self._raw_value(item, "arxiv")
            if arxiv is not None:
                try:
                    arxiv = normalize_id(arxiv)[0]
                except ValueError:
                    pass
            doi = self._raw_value(item, "doi")
            title = item.get("title")
            out.append(ExistingEntry(line, str(title) if title is not None else None, arxiv,
                                     doi_key(doi) if doi else None))
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

        Everything before the insertion point is the original text, byte for byte.
        """
        entries = list(entries)
        if not entries:
            return self.text, []
        lines = self.text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += "\n"
        papers = self.papers
        if papers is None or len(papers) == 0:
            # ``papers:`` or ``papers: []``: turn the key into a block list header.
            key_line = self.data.lc.key("papers")[0]
            m = re.match(r"^(\s*papers\s*:)\s*(?:\[\s*\]|null|~)?(\s*#.*)?\s*$",
                         lines[key_line].rstrip("\r\n"))
            if not m:
                raise DatabaseError(f"{self.path}:{key_line + 1}: papers: cannot append to a list "
                                    "written this way; write 'papers:' on its own line")
            newline = "\r\n" if lines[key_line].endswith("\r\n") else "\n"
            lines[key_line] = m.group(1) + (m.group(2) or "") + newline
            dash, key_col = 2, 4
            insert_at = key_line + 1
            gap = ""
        else:
            if getattr(papers.fa, "flow_style", lambda: False)():
                line = self.data.lc.key("papers")[0] + 1
                raise DatabaseError(f"{self.path}:{line}: papers: is a [flow, list]; write it as a "
                                    "block list ('- title: ...') so entries can be appended")
            first_line, key_col = papers.lc.item(0)
            m = re.match(r"^(\s*)-\s", lines[first_line])
            if not m:
                raise DatabaseError(f"{self.path}:{first_line + 1}: expected the first entry to "
                                    "start with '- '")
            dash = len(m.group(1))
            if key_col <= dash:  # entry written as "-\n    title: ..."; keep the usual offset
                key_col = dash + 2
            insert_at = self._end_of_papers(lines)
            # Follow the file's habit of a blank line between entries, if it has one.
            gap = ""
            if len(papers) >= 2:
                second = papers.lc.item(1)[0]
                dash_line = next(i for i in range(second, -1, -1)
                                 if re.match(r"^\s*-(\s|$)", lines[i]))
                if dash_line > 0 and not lines[dash_line - 1].strip():
                    gap = "\n"
        block = "".join(gap + render_entries([e], dash=dash, key_col=key_col) for e in entries)
        newline = "\r\n" if self.text.count("\r\n") > self.text.count("\n") / 2 > 0 else "\n"
        if newline != "\n":
            block = block.replace("\n", newline)
        new_text = "".join(lines[:insert_at]) + block + "".join(lines[insert_at:])
        item_start = re.compile(rf"^ {{{dash}}}- ")
        starts = [insert_at + 1 + i for i, line in enumerate(block.splitlines())
                  if item_start.match(line)]
        self._verify(new_text, entries)
        return new_text, starts

    def _end_of_papers(self, lines: list[str]) -> int:
        """0-based line before which new entries go: the end of the ``papers`` block.

        Unindented comments and blank lines after the last entry belong to what follows (the
        next top-level key, or a closing remark at the end of the file), so the entries go
        before them; an indented comment stays with the entry it annotates.
        """
        keys = list(self.data.keys())
        idx = keys.index("papers")
        at = len(lines) if idx == len(keys) - 1 else self.data.lc.key(keys[idx + 1])[0]
        while at > 0 and (not lines[at - 1].strip() or lines[at - 1].lstrip().startswith("#")) \
                and not lines[at - 1].startswith((" ", "\t")):
            at -= 1
        return at

    def _verify(self, new_text: str, entries: list[NewEntry]) -> None:
        """Re-read the spliced text: the old entries then exactly the new ones, nothing else."""
        data = _parse(new_text, self.path)
        old = self.papers or []
        try:
            papers = data["papers"]
            ok = len(papers) == len(old) + len(entries)
            if ok:
                for got, want in zip(papers[len(old):], entries):
                    if _plain(got) != entry_values(want):
                        ok = False
                for got, want in zip(papers, old):
                    if _plain(got) != _plain(want):
                        ok = False
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise DatabaseError(f"{self.path}: the file's layout defeated a safe append (the result "
                                "did not read back as the old entries plus the new); add the "
                                "entries by hand")

    def write(self, new_text: str) -> bool:
        return write_text_atomic(self.path, new_text)


def _parse(text: str, path: Path) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DatabaseError(f"{path}{line}: invalid YAML: {exc.problem or exc.context}; "
                            "run repro validate") from None
    except YAMLError as exc:
        raise DatabaseError(f"{path}: invalid YAML: {exc}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def entry_values(entry: NewEntry) -> dict[str, Any]:
    """The entry as plain YAML values, in the order the database writes fields."""
    out: dict[str, Any] = {
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
    for name, _ in FILL_IN:
        out[name] = []
    return out


def render_entries(entries: Iterable[NewEntry], *, dash: int = 2, key_col: int = 4) -> str:
    """YAML text for entries as list items: ``dash`` spaces, ``-``, keys at ``key_col``.

    Titles and arXiv ids are double-quoted (an unquoted ``2109.01130`` is a number to YAML);
    authors a flow list; each taxonomy field an empty list with a comment naming its values, so
    ``repro validate`` fails until a person has chosen.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

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
        values = entry_values(entry)
        m = CommentedMap()
        for key, value in values.items():
            if key == "title" or key == "arxiv":
                value = DoubleQuotedScalarString(value)
            elif isinstance(value, list):
                value = flow(value)
            m[key] = value
        for name, allowed in FILL_IN:
            m.yaml_add_eol_comment(f"# fill in: {' | '.join(allowed)}", key=name,
                                   column=step + width + 6)
        seq.append(m)
    y = _yaml()
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
