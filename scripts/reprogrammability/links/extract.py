"""Links and anchors, with the file and line each came from.

Two sources: the collection files (``data/papers.yaml`` and the files beside it: the link fields
each collection's spec names, e.g. a paper's ``url`` and ``code``; an error names the entry) and
the rendered markdown (README.md, docs/*.md, CONTRIBUTING.md). The markdown scanner is
deliberately small rather than a full CommonMark parser: it understands what the renderer and
contributors actually write (inline links and images, reference definitions, autolinks, bare
URLs, HTML ``href``/``src``), skips fenced code, inline code and HTML comments (none of which
GitHub turns into links), and records every anchor a page defines: headings with GitHub's slug
rules and duplicate suffixes (from ``reprogrammability.markdown``) plus explicit ``id=``/``name=``
anchors.

Everything works on text as well as files so ``--changed-only`` can extract from ``git show``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..markdown import unique_slugs

REMOTE = "remote"  #: http(s) URL
LOCAL = "local"  #: relative path and/or #fragment inside the repository
OTHER = "other"  #: mailto:, ftp:, data: ... (reported as excluded)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})")
_REF_DEF = re.compile(r"^\s{0,3}\[([^\]^][^\]]*)\]:\s*(<[^>]*>|\S+)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>", re.IGNORECASE)
_HTML_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_BARE = re.compile(r"(?<![\w/@.:])https?://[^\s<>\"'`|]+", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_ATX = re.compile(r"^\s{0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_ID_ATTR = re.compile(r"""<[A-Za-z][\w-]*\b[^>]*?\s(?:id|name)\s*=\s*(?:"([^"]+)"|'([^']+)')""")
_ESCAPABLE = r"""!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"""
_BACKSLASH = re.compile(rf"\\([{_ESCAPABLE}])")
_TRAILING = "?!.,:*_~;'\""


class ExtractError(ValueError):
    """An input that cannot be read as links (e.g. YAML syntax); the message has file:line."""


@dataclass(frozen=True)
class Link:
    """One occurrence of a link: what was written, and where."""

    target: str  #: as written (markdown escapes and HTML entities resolved)
    file: str  #: path relative to the repository root, with forward slashes
    line: int  #: 1-based
    kind: str  #: REMOTE | LOCAL | OTHER
    context: str = ""  #: the entry's title or name, for links from a collection file
    field: str = ""  #: the YAML field (url/code) or markdown construct (link/image/ref/...)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def classify(target: str) -> str:
    low = target.lower()
    if low.startswith(("http://", "https://", "//")):
        return REMOTE
    if _SCHEME.match(target):
        return OTHER
    return LOCAL


def remote_key(target: str) -> str:
    """The URL actually requested: fragment dropped, protocol-relative made https."""
    url = target.split("#", 1)[0]
    if url.startswith("//"):
        url = "https:" + url
    return url


# ---------------------------------------------------------------------------------------------
# the collections' YAML files


def extract_collection_text(text: str, relpath: str) -> list[Link]:
    """The link fields of every entry of a collection file, with line and entry label.

    Which collection a file holds is read from its top-level key (``papers``, ``datasets``,
    ...); each collection's spec (``collections.py``) names its link fields (``url`` and
    ``code`` of papers, ``source.url`` of results) and the field that labels an entry.
    Works on the YAML node tree rather than on records so that an entry failing validation
    for an unrelated reason (a bad tag) still has its links checked.
    """
    import yaml

    from ..collections import BY_KEY, PAPERS

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}:{mark.column + 1}" if mark else "1"
        raise ExtractError(f"{relpath}:{line}: YAML syntax error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ExtractError(f"{relpath}: cannot read YAML: {exc}") from None
    entries, spec = None, PAPERS
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value in BY_KEY:
                entries, spec = value, BY_KEY[key.value]
    elif isinstance(root, yaml.SequenceNode):
        entries = root
    if not isinstance(entries, yaml.SequenceNode):
        return []
    links: list[Link] = []
    for entry in entries.value:
        if not isinstance(entry, yaml.MappingNode):
            continue
        label_node = _child(entry, (spec.label_field,))
        label = label_node.value if isinstance(label_node, yaml.ScalarNode) else ""
        if not label:
            label = f"entry at line {entry.start_mark.line + 1}"
        for path in spec.link_fields:
            node = _child(entry, path)
            values = node.value if isinstance(node, yaml.SequenceNode) else [node]
            for item in values:
                if isinstance(item, yaml.ScalarNode) and str(item.value).strip():
                    target = str(item.value).strip()
                    links.append(Link(target, relpath, item.start_mark.line + 1,
                                      classify(target), context=label, field=".".join(path)))
    return links


def _child(node, path: tuple[str, ...]):
    """The node at ``path`` inside nested mappings, or None."""
    import yaml

    for name in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value
                     if isinstance(k, yaml.ScalarNode) and k.value == name), None)
    return node


# ---------------------------------------------------------------------------------------------
# markdown


def _unescape(text: str) -> str:
    # Most text has no backslash: skip the substitution (and its template expansion) outright.
    return _BACKSLASH.sub(r"\1", text) if "\\" in text else text


_EOL = re.compile(r"\r\n|\r|\n")


def markdown_lines(text: str) -> list[str]:
    """The lines as CommonMark (and every editor) counts them: ends are LF, CRLF or CR only.

    ``str.splitlines`` also breaks at form feeds, U+0085, U+2028 and others, which would put a
    link on a line number past the file's end.
    """
    lines = _EOL.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _rendered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code, with HTML comments blanked out."""
    fence: tuple[str, int] | None = None
    in_comment = False
    for number, line in enumerate(markdown_lines(text), 1):
        if fence is not None:
            m = _FENCE_OPEN.match(line)
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= fence[1]
                and (line.strip() == m.group(1) or set(line.strip()) == {fence[0]})
            ):
                fence = None
            continue
        if not in_comment:
            m = _FENCE_OPEN.match(line)
            if m and not (m.group(1)[0] == "`" and "`" in line[m.end() :]):
                fence = (m.group(1)[0], len(m.group(1)))
                continue
        out = []
        pos = 0
        while pos <= len(line):
            if in_comment:
                end = line.find("-->", pos)
                if end < 0:
                    out.append(" " * (len(line) - pos))
                    pos = len(line) + 1
                    break
                out.append(" " * (end + 3 - pos))
                pos = end + 3
                in_comment = False
            else:
                start = line.find("<!--", pos)
                if start < 0:
                    out.append(line[pos:])
                    break
                out.append(line[pos:start])
                pos = start
                in_comment = True
        yield number, "".join(out)


def _blank(line: str, start: int, end: int) -> str:
    return line[:start] + " " * (end - start) + line[end:]


_PLAIN_DEST = re.compile(r"[^ \t()\\]*")


def _parse_destination(line: str, pos: int) -> tuple[str, int] | None:
    """Parse ``(dest "title")`` starting just after ``(``; return (dest, index after ``)``)."""
    n = len(line)
    while pos < n and line[pos] in " \t":
        pos += 1
    if pos < n and line[pos] == "<":
        end = line.find(">", pos + 1)
        if end < 0:
            return None
        dest = line[pos + 1 : end]
        pos = end + 1
    else:
        depth = 0
        start = pos
        # Most destinations hold no parenthesis or escape: skip them in one regex step, then
        # let the careful scan go on from the first character that needs it.
        pos = _PLAIN_DEST.match(line, pos).end()  # type: ignore[union-attr]
        while pos < n:
            ch = line[pos]
            if ch == "\\" and pos + 1 < n:
                pos += 2
                continue
            if ch in " \t":
                break
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            pos += 1
        dest = line[start:pos]
    # optional title, then the closing parenthesis
    while pos < n and line[pos] in " \t":
        pos += 1
    if pos < n and line[pos] in "\"'(":
        closer = ")" if line[pos] == "(" else line[pos]
        end = line.find(closer, pos + 1)
        if end < 0:
            return None
        pos = end + 1
        while pos < n and line[pos] in " \t":
            pos += 1
    if pos < n and line[pos] == ")":
        return _unescape(dest), pos + 1
    return None


def _inline_links(line: str) -> tuple[list[tuple[str, str]], str]:
    """Inline links/images ``[text](dest)``: their destinations, and the line with them blanked."""
    found: list[tuple[str, str]] = []
    search = 0
    while True:
        idx = line.find("](", search)
        if idx < 0:
            break
        # the matching '[' (brackets balance; escaped ones do not count)
        depth = 0
        start = -1
        for j in range(idx, -1, -1):
            ch = line[j]
            if j > 0 and line[j - 1] == "\\":
                continue
            if ch == "]":
                depth += 1
            elif ch == "[":
                depth -= 1
                if depth == 0:
                    start = j
                    break
        parsed = _parse_destination(line, idx + 2)
        if start < 0 or parsed is None:
            search = idx + 2
            continue
        dest, end = parsed
        is_image = start > 0 and line[start - 1] == "!"
        if dest:
            found.append((dest, "image" if is_image else "link"))
        # Blank only the destination and the brackets, keeping the text: an image inside a
        # link's text must still be seen as part of the outer link.
        line = _blank(line, idx, end)
        line = line[:start] + " " + line[start + 1 :]
        if is_image:
            line = line[: start - 1] + " " + line[start:]
        search = start
    return found, line


def _trim_bare(url: str) -> str:
    """GFM's autolink trimming: trailing punctuation and unbalanced closing parentheses go."""
    while url:
        if url[-1] in _TRAILING or url[-1] == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url


def extract_markdown_text(text: str, relpath: str) -> list[Link]:
    """Every link target in a markdown document, in document order."""
    links: list[Link] = []
    for number, line in _rendered_lines(text):
        if not line.strip():
            continue
        # Code spans never hold links; blank them (same length keeps columns meaningful).
        # Each pattern below needs a literal character (a backtick, "<", "=", "://"): a line
        # without it skips that scan, which is most of the cost on a long list of plain links.
        if "`" in line:
            line = _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        found: list[tuple[str, str]] = []
        m = _REF_DEF.match(line)
        if m:
            dest = m.group(2)
            found.append((_unescape(dest[1:-1] if dest.startswith("<") else dest), "reference"))
            line = _blank(line, 0, m.end())
        inline, line = _inline_links(line)
        found.extend(inline)
        if "<" in line:
            for m in _AUTOLINK.finditer(line):
                found.append((m.group(1), "autolink"))
            line = _AUTOLINK.sub(lambda m: " " * len(m.group(0)), line)
        if "=" in line:
            import html  # only for HTML attributes: kept off the start-up of every run

            for m in _HTML_ATTR.finditer(line):
                found.append(
                    (html.unescape(m.group(1) if m.group(1) is not None else m.group(2)), "html")
                )
            line = _HTML_ATTR.sub(lambda m: " " * len(m.group(0)), line)
        if "://" in line:
            for m in _BARE.finditer(line):
                url = _trim_bare(m.group(0))
                if len(url) > len("https://"):
                    found.append((url, "bare"))
        for target, construct in found:
            target = target.strip()
            if target:
                links.append(Link(target, relpath, number, classify(target), field=construct))
    return links


def heading_text(raw: str) -> str:
    """The text GitHub renders for a heading's markdown, which is what it slugs."""
    # Escaped characters are literal: protect them from the emphasis rules below.
    protected: list[str] = []

    def protect(m: re.Match[str]) -> str:
        protected.append(m.group(1))
        return f"\x00{len(protected) - 1}\x00"

    text = _BACKSLASH.sub(protect, raw)
    text = _CODE_SPAN.sub(lambda m: m.group(2).strip(), text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images contribute no text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links -> their text
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)  # reference links -> their text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags (e.g. <a id="x"></a>) vanish
    text = re.sub(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])", "", text)  # _emphasis_
    text = re.sub(r"\x00(\d+)\x00", lambda m: protected[int(m.group(1))], text)
    import html  # only for anchors (local links), not on every run's start-up

    return html.unescape(text).strip()


def headings(text: str) -> list[str]:
    """Heading texts (rendered) in document order: ATX and setext, outside code blocks."""
    out: list[str] = []
    previous: str | None = None
    previous_number = -1
    for number, line in _rendered_lines(text):
        if number != previous_number + 1:
            previous = None  # a code block sat in between: not a paragraph continuing
        previous_number = number
        m = _ATX.match(line)
        if m:
            content = m.group(2) or ""
            content = re.sub(r"(^|[ \t]+)#+[ \t]*$", "", content)
            out.append(heading_text(content))
            previous = None
            continue
        s = _SETEXT.match(line)
        if (
            s
            and previous is not None
            and previous.strip()
            and not re.match(r"^\s{0,3}([-*+>|]|\d+[.)])(\s|$)", previous)
        ):
            out.append(heading_text(previous.strip()))
            previous = None
            continue
        previous = line
    return out


def markdown_anchors(text: str) -> set[str]:
    """Every fragment a rendered page answers to: heading slugs (with -1, -2 suffixes on
    duplicates) and explicit ``id``/``name`` attributes."""
    import html  # only for anchors (local links), not on every run's start-up

    anchors = set(unique_slugs(headings(text)))
    for _, line in _rendered_lines(text):
        line = _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        for m in _ID_ATTR.finditer(line):
            anchors.add(html.unescape(m.group(1) or m.group(2)))
    return anchors


# ---------------------------------------------------------------------------------------------
# files


def is_markdown(path: str | Path) -> bool:
    return str(path).lower().endswith((".md", ".markdown"))


def extract_text(text: str, relpath: str) -> list[Link]:
    """Links of one input by its kind: YAML (a collection file) or markdown."""
    if relpath.lower().endswith((".yaml", ".yml")):
        return extract_collection_text(text, relpath)
    return extract_markdown_text(text, relpath)


def relpath_of(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def extract_file(path: Path, root: Path) -> list[Link]:
    rel = relpath_of(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExtractError(f"{rel}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ExtractError(f"{rel}: cannot read: {exc.strerror}") from None
    return extract_text(text, rel)


def default_inputs(root: Path, papers: str, markdown: Iterable[str]) -> list[Path]:
    """The collection files (the papers database and those beside it) and the markdown globs
    that exist, in that order, without repeats."""
    import glob  # only without explicit inputs

    from ..collections import sibling_paths

    seen: dict[Path, None] = {}
    for candidate in sibling_paths(root / papers).values():
        if candidate.is_file():
            seen[candidate] = None
    for pattern in markdown:
        for name in sorted(glob.glob(str(root / pattern), recursive=True)):
            p = Path(name)
            if p.is_file():
                seen.setdefault(p, None)
    return list(seen)
