"""Read YAML into plain Python values while remembering where every key and value was written.

``yaml.safe_load`` throws away positions, silently keeps the last of two duplicate keys, expands
aliases (a few lines of anchors can expand to gigabytes) and turns ``arxiv: 2506.00620`` into the
float ``2506.0062``. A contributor needs to hear about each of those at the right line, so this
module builds values itself from libyaml's event stream:

* **Speed.** PyYAML's composer calls a Python resolver for every scalar and its node graph wakes
  the cyclic garbage collector again and again; on a 10,000-paper file that costs seconds. The
  event stream of the C parser (``CSafeLoader``) is cheap, plain scalars are resolved here with
  a first-character shortcut, and the collector is paused while building (the values hold no
  reference cycles).
* **Positions.** Alongside the values a *span tree* mirrors the document: :class:`MapSpan` and
  :class:`SeqSpan` for containers, a packed int position for each string scalar, and the
  parser's own ``ScalarEvent`` for any scalar YAML typed otherwise (it keeps the text as
  written and its quoting, so a message can say what YAML read and what the contributor wrote).
* **Safety.** Anchors and aliases are reported at their position and never expanded, so an
  alias bomb costs as much as its text; nesting is handled with an explicit stack, so deep
  brackets cannot overflow the Python stack.
* **Every problem.** Duplicate keys, anchors, aliases, complex keys and unsupported tags are
  collected as :class:`SourceIssue` and building goes on; only a syntax error stops it.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

try:  # libyaml bindings: an order of magnitude faster than the pure-Python parser.
    from yaml import CSafeLoader as _Loader

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

    HAVE_LIBYAML = False

PathKey = str | int
Path_ = tuple[PathKey, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
#: Explicit scalar tags we construct; anything else (``!!python/...``, ``!custom``) is refused.
_SCALAR_TAGS = {
    _STR, _INT, "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp",
}
_KIND_NAMES = {
    _INT: "an integer", "tag:yaml.org,2002:float": "a number", "tag:yaml.org,2002:timestamp":
    "a date", "tag:yaml.org,2002:bool": "a boolean", "tag:yaml.org,2002:null": "null",
}
_CONSTRUCTORS = yaml.SafeLoader.yaml_constructors
#: SafeLoader's YAML 1.1 implicit resolvers by first character, as safe_load uses them, less
#: ``<<`` (merge, meaningless without aliases) and ``=`` (value), which safe_load cannot build
#: as values either: here they stay strings.
_RESOLVERS: dict[str, list[tuple[str, re.Pattern[str]]]] = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in _CONSTRUCTORS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
#: First characters whose only implicit resolvers are YAML 1.1's bool and null words; for
#: plain scalars starting with them a dictionary lookup replaces the regular expressions.
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("null", "Null", "NULL", "~"), None),
}
_WORD_STARTS = frozenset(
    c for c, resolvers in _RESOLVERS.items()
    if c and {tag for tag, _ in resolvers} <= {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"}
) | (frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") - set(_RESOLVERS))
#: A plain scalar of ASCII digits not starting with 0 is a decimal int (and nothing else).
_DIGITS = frozenset("123456789")
#: How an integer is written when it is written plainly: optional minus, no leading zero.
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)")
_CONSTRUCTOR = yaml.SafeLoader("")  # only its construct_yaml_* methods are used


# Positions are packed into one int, ``line << 32 | column`` (0-based, as libyaml counts): an
# int is an atomic object the garbage collector never tracks, while keeping the parser's Mark
# objects would leave a million tracked objects behind for the collector to walk, again and
# again, after a 10,000-entry file has been read.
_COLUMN_BITS = 32
_COLUMN_MASK = (1 << _COLUMN_BITS) - 1


def _pack(mark: Any) -> int:
    return (mark.line << _COLUMN_BITS) | mark.column


def _unpack(pos: int) -> tuple[int, int]:
    """Packed position -> 1-based (line, col)."""
    return (pos >> _COLUMN_BITS) + 1, (pos & _COLUMN_MASK) + 1


class MapSpan:
    """Positions inside one mapping: its start, each key's position, each value's span."""

    __slots__ = ("keys", "start", "values")

    def __init__(self, start: int) -> None:
        self.start = start
        self.keys: dict[str, int] = {}
        self.values: dict[str, Span] = {}

    @property
    def line(self) -> int:
        """1-based line where the mapping starts (its first key, for a block mapping)."""
        return (self.start >> _COLUMN_BITS) + 1

    def key_lines(self) -> dict[str, int]:
        """1-based line of every key."""
        return {key: (pos >> _COLUMN_BITS) + 1 for key, pos in self.keys.items()}


class SeqSpan:
    """Positions inside one sequence: its start and each item's span."""

    __slots__ = ("items", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.items: list[Span] = []


#: A container span; a packed position for a string scalar (and a plain decimal int, whose
#: text ``str()`` gives back); or the parser's own event for any other scalar and for aliases,
#: which keeps the text as written (``event.value``), its quoting (``event.style``) and its tag.
Span = MapSpan | SeqSpan | int | ScalarEvent | AliasEvent


def span_position(span: Span) -> tuple[int, int]:
    """1-based (line, col) where a span starts."""
    if isinstance(span, int):
        return _unpack(span)
    if isinstance(span, MapSpan | SeqSpan):
        return _unpack(span.start)
    return _pos(span.start_mark)


@dataclass(frozen=True)
class SourceIssue:
    """A problem found while reading the YAML text itself, before any schema is applied.

    ``line`` and ``col`` are 1-based; ``path`` locates the offending node in the document
    (``("papers", 3, "location")``) so later checks can skip what was already reported.
    """

    line: int
    col: int
    path: Path_
    message: str
    #: syntax | duplicate-key | anchor | alias | tag | key | encoding | documents
    kind: str


def _pos(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


@dataclass
class Document:
    """Plain values (``data``) and the span tree that says where each one was written."""

    data: Any
    root: Span | None
    #: Paths whose values were replaced or dropped because of a source issue.
    damaged: set[Path_] = field(default_factory=set)

    def span(self, path: Path_) -> Span | None:
        """The span at ``path``, or None when the path does not exist in the document."""
        node = self.root
        for part in path:
            if isinstance(node, MapSpan) and isinstance(part, str):
                node = node.values.get(part)
            elif isinstance(node, SeqSpan) and isinstance(part, int) and (
                0 <= part < len(node.items)
            ):
                node = node.items[part]
            else:
                return None
        return node

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at ``path`` (of its key, with ``key=True``).

        Falls back to the nearest ancestor that exists, so an error about a missing field
        points at the mapping that lacks it.
        """
        for cut in range(len(path), -1, -1):
            prefix = path[:cut]
            if key and cut == len(path) and cut > 0:
                parent = self.span(prefix[:-1])
                if isinstance(parent, MapSpan) and prefix[-1] in parent.keys:
                    return _unpack(parent.keys[prefix[-1]])
            node = self.span(prefix)
            if node is not None:
                return span_position(node)
        return 1, 1

    def scalar(self, path: Path_) -> ScalarEvent | None:
        """The parser's event for a scalar YAML did not read as a string, if one is there."""
        node = self.span(path)
        return node if isinstance(node, ScalarEvent) else None

    def plain_text(self, path: Path_, value: Any) -> str | None:
        """The text as written of an unquoted scalar that YAML read as ``value``, a non-string.

        None when the scalar was quoted or tagged, or is not a scalar at all.
        """
        node = self.span(path)
        if isinstance(node, ScalarEvent):
            return None if node.style or node.tag not in (None, "!") else node.value
        if isinstance(node, int) and isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # the decimal shortcut: the text was exactly these digits
        return None


@dataclass
class YamlResult:
    """What reading gave: a document (None after a syntax error or for an empty file)."""

    document: Document | None
    issues: list[SourceIssue]


def _short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:binary`` -> ``!!binary``, as the contributor wrote it."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag


def _construct(tag: str, event: ScalarEvent) -> Any:
    """safe_load's value for a typed scalar; ValueError for ones Python cannot hold sensibly."""
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    try:
        value = _CONSTRUCTORS[tag](_CONSTRUCTOR, node)
    except IndexError:  # PyYAML's int and float constructors index an empty value ("!!int")
        raise ValueError("the value is empty") from None
    if value.__class__ is int and value.bit_length() > 128:
        # Python refuses to print ints of over 4300 digits; no field needs more than a year.
        raise ValueError("the number is too large")
    return value


class _Builder:
    """Turns one event stream into values plus spans; see the module docstring for why.

    The loop below is the hot path of ``repro validate`` (hundreds of thousands of events for a
    large database), hence the flat frames and the inlined common cases.
    """

    def __init__(self) -> None:
        self.issues: list[SourceIssue] = []
        self.damaged: set[Path_] = set()

    def issue(self, where: Any, path: Path_, message: str, kind: str) -> None:
        """Record an issue at a parser mark or a packed position."""
        line, col = _unpack(where) if isinstance(where, int) else _pos(where)
        self.issues.append(SourceIssue(line, col, path, message, kind))

    def anchor(self, event: Any, path: Path_) -> None:
        self.issue(event.start_mark, path,
                   f"anchors (&{event.anchor}) are not allowed: write the value out", "anchor")

    def tagged(self, event: ScalarEvent, tag: str, path: Path_) -> Any:
        """A scalar with an explicit tag (``!!str 2021``, ``!!binary ...``, ``!custom``)."""
        if tag == _STR:
            return event.value
        if tag in _SCALAR_TAGS:
            try:
                return _construct(tag, event)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                raw = event.value if len(event.value) <= 40 else event.value[:37] + "..."
                reason = str(exc).split(";")[0].split(":")[0][:80]
                self.issue(event.start_mark, path,
                           f"cannot read {raw!r} as {_KIND_NAMES.get(tag, tag)} ({reason}); "
                           "remove the tag", "tag")
                self.damaged.add(path)
                return None
        self.issue(event.start_mark, path,
                   f"unsupported YAML tag {_short_tag(tag)}: write a plain value instead", "tag")
        self.damaged.add(path)
        return None

    def unreadable(self, event: ScalarEvent, tag: str, exc: Exception, top: Any) -> None:
        """A plain scalar that looks like a typed value but is not one (``2021-02-30``)."""
        path = _child_path(top)
        kind = _KIND_NAMES.get(tag, tag)
        raw = event.value if len(event.value) <= 40 else event.value[:37] + "..."
        reason = str(exc).split(";")[0].split(":")[0][:80]
        self.issue(event.start_mark, path,
                   f"YAML reads the unquoted {raw} as {kind} but cannot make one of it "
                   f"({reason}); quote it if it is text", "tag")
        self.damaged.add(path)

    def notation(self, event: ScalarEvent, value: int, top: Any) -> int:
        """A plain integer in one of YAML 1.1's other notations (``0x7E3``, ``03743``,
        ``2_019``, ``33:39``, ``+2019``): YAML reads 2019, but nobody writes a year or a count
        that way on purpose, so it is reported with the decimal to write instead. The value
        stays what safe_load makes of it; the path is marked damaged for the validator."""
        path = _child_path(top)
        raw = event.value if len(event.value) <= 40 else event.value[:37] + "..."
        self.issue(event.start_mark, path,
                   f"YAML reads the unquoted {raw} as the integer {value} ({_notation(raw)}); "
                   f"write {value} in plain decimal digits, or quote it if it is text", "number")
        self.damaged.add(path)
        return value

    def check_tag(self, event: Any, path: Path_, expected: str) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag != expected:
            self.issue(event.start_mark, path,
                       f"unsupported YAML tag {_short_tag(tag)}: remove it", "tag")
            self.damaged.add(path)

    def build(self, loader: Any) -> tuple[Any, Span | None, bool]:
        """Consume one document's events: (value, span, saw_document)."""
        get = loader.get_event
        event = get()
        if event.__class__ is StreamStartEvent:
            event = get()
        if event is None or event.__class__ is StreamEndEvent:
            return None, None, False
        # event is the DocumentStartEvent.
        issue = self.issue
        resolvers_for = _RESOLVERS.get
        # A frame: [container, span, path, pending, is_key, span.values|span.items, key_marks].
        # ``pending`` is None for a sequence; for a mapping it is _NO_KEY while a key is awaited,
        # the key once read, or _SKIP when the value after a rejected key must be dropped.
        stack: list[list[Any]] = []
        top: list[Any] | None = None
        root_value: Any = None
        root_span: Span | None = None
        while True:
            event = get()
            cls = event.__class__
            if cls is ScalarEvent:
                if top is not None and top[3] is _NO_KEY:
                    # A scalar key: its source text is the key (``2021: x`` gives "2021").
                    key = event.value
                    keys = top[6]
                    if event.anchor is not None:
                        self.anchor(event, top[2] + (key,))
                    if key in keys:
                        first = (keys[key] >> _COLUMN_BITS) + 1
                        issue(event.start_mark, top[2] + (key,),
                              f"duplicate key {key!r}: first at line {first}, again at line "
                              f"{event.start_mark.line + 1}; keep one (the first is used)",
                              "duplicate-key")
                        top[3] = _SKIP
                    else:
                        mark = event.start_mark
                        keys[key] = (mark.line << _COLUMN_BITS) | mark.column
                        top[3] = key
                    continue
                if event.anchor is not None:
                    self.anchor(event, _child_path(top))
                tag = event.tag
                value = event.value
                span: Any = None  # a packed position unless the event itself is kept
                if tag is not None and tag != "!":
                    value = self.tagged(event, tag, _child_path(top))
                    span = event
                elif not event.style and event.implicit[0]:
                    # Plain scalar: YAML 1.1 implicit typing, as safe_load does it. Two exact
                    # shortcuts first: words that are no bool/null, and plain decimal ints.
                    first = value[:1]
                    if first in _WORD_STARTS:
                        if value in _WORDS:
                            value = _WORDS[value]
                            span = event
                    elif first in _DIGITS and value.isdigit() and value.isascii() and len(
                        value
                    ) < 100:
                        value = int(value)
                    else:
                        for res_tag, regexp in resolvers_for(first, ()):
                            if regexp.match(value):
                                span = event
                                try:
                                    value = _construct(res_tag, event)
                                except (ValueError, OverflowError, yaml.YAMLError) as exc:
                                    value = self.unreadable(event, res_tag, exc, top)
                                else:
                                    if res_tag == _INT and not _DECIMAL.fullmatch(event.value):
                                        value = self.notation(event, value, top)
                                break
                if span is None:
                    mark = event.start_mark
                    span = (mark.line << _COLUMN_BITS) | mark.column
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                is_key = top is not None and top[3] is _NO_KEY
                path = top[2] if is_key else _child_path(top)  # type: ignore[index]
                if event.anchor is not None:
                    self.anchor(event, path)
                if cls is MappingStartEvent:
                    self.check_tag(event, path, _MAP)
                    mspan = MapSpan(_pack(event.start_mark))
                    top = [{}, mspan, path, _NO_KEY, is_key, mspan.values, mspan.keys]
                else:
                    self.check_tag(event, path, _SEQ)
                    sspan = SeqSpan(_pack(event.start_mark))
                    top = [[], sspan, path, None, is_key, sspan.items, None]
                stack.append(top)
                continue
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                frame = stack.pop()
                top = stack[-1] if stack else None
                value, span = frame[0], frame[1]
                if frame[4]:  # the container was a mapping key
                    # Only the key's own value is dropped (``_SKIP``); the mapping that held
                    # it is not damaged, so its other fields are still checked and reported.
                    issue(span.start, frame[2],
                          "a key must be a plain name, not a list or mapping", "key")
                    top[3] = _SKIP  # type: ignore[index]
                    continue
            elif cls is AliasEvent:
                if top is not None and top[3] is _NO_KEY:
                    issue(event.start_mark, top[2],
                          f"aliases (*{event.anchor}) are not allowed: write the key out", "alias")
                    top[3] = _SKIP
                    continue
                path = _child_path(top)
                issue(event.start_mark, path,
                      f"aliases (*{event.anchor}) are not allowed: write the value out", "alias")
                self.damaged.add(path)
                value, span = None, event
            elif cls is DocumentEndEvent:
                break
            else:  # pragma: no cover - libyaml emits nothing else inside a document
                raise yaml.YAMLError(f"unexpected event {event!r}")
            # Attach the finished value to its parent.
            if top is None:
                root_value, root_span = value, span
                continue
            key = top[3]
            if key is None:
                top[0].append(value)
                top[5].append(span)
            else:
                top[3] = _NO_KEY
                if key is not _SKIP:
                    top[0][key] = value
                    top[5][key] = span
        return root_value, root_span, True


def _notation(raw: str) -> str:
    text = raw.lstrip("+-")
    if text.startswith(("0x", "0X")):
        return "hexadecimal"
    if text.startswith(("0b", "0B")):
        return "binary"
    if ":" in text:
        return "base 60"
    if "_" in text:
        return "digits grouped with _"
    if len(text) > 1 and text.startswith("0"):
        return "octal, because of the leading 0"
    return "an explicit + sign"


_NO_KEY = object()
_SKIP = object()


def _child_path(top: list[Any] | None) -> Path_:
    """Path of the next value inside the frame ``top`` (the root when there is none)."""
    if top is None:
        return ()
    if top[3] is None:
        return top[2] + (len(top[0]),)
    key = top[3]
    return top[2] + ((key,) if isinstance(key, str) else ())


def _syntax_issue(exc: yaml.YAMLError, text: str) -> SourceIssue:
    """One issue for a parser or reader error: the problem's position and text, no traceback."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = _pos(mark) if mark is not None else (1, 1)
        parts = [p for p in (exc.problem, exc.context) if p]
        if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
            parts[-1] = f"{exc.context} started at line {exc.context_mark.line + 1}"
        lines = text.splitlines() or [""]
        if line > len(lines):
            # The reader's end-of-stream mark lies past the last line: point at the file's end,
            # a place an editor can jump to.
            line, col = len(lines), len(lines[-1]) + 1
            parts[0] += " at the end of the file"
        if 0 < line <= len(lines) and lines[line - 1][col - 1:col] == "\t":
            parts.append("YAML indents with spaces, never tabs")
        return SourceIssue(line, col, (), "invalid YAML: " + "; ".join(parts), "syntax")
    if isinstance(exc, yaml.reader.ReaderError):
        # libyaml reports a byte offset into the UTF-8 text, PyYAML's reader a character index.
        if HAVE_LIBYAML:
            data = text.encode("utf-8", "surrogatepass")[: exc.position]
            before = data.decode("utf-8", "replace")
        else:
            before = text[: exc.position]
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        return SourceIssue(
            line, col, (),
            f"invalid YAML: {exc.reason} (U+{exc.character:04X}); remove it", "encoding",
        )
    return SourceIssue(1, 1, (), f"invalid YAML: {exc}", "syntax")


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Each collection walks every live container, and building a large document allocates
    enough of them to trigger collections over and over: pausing it makes reading a
    10,000-entry file about twice as fast. Nothing built here forms a reference cycle.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_text(text: str) -> YamlResult:
    """Read one YAML document from ``text``; never raises for bad YAML, only reports it."""
    builder = _Builder()
    loader = None
    with paused_gc():
        try:
            loader = _Loader(text)  # PyYAML's own reader checks characters right here
            value, span, saw = builder.build(loader)
            if saw:
                event = loader.get_event()
                if event.__class__ is DocumentStartEvent:
                    builder.issue(event.start_mark, (),
                                  "a second YAML document ('---') is not allowed: the database "
                                  "is one mapping", "documents")
        except yaml.YAMLError as exc:
            builder.issues.append(_syntax_issue(exc, text))
            return YamlResult(None, builder.issues)
        finally:
            if loader is not None:
                loader.dispose()
    if not saw:
        return YamlResult(None, builder.issues)
    return YamlResult(Document(value, span, builder.damaged), builder.issues)


def parse_bytes(data: bytes) -> YamlResult:
    """Decode UTF-8 (a BOM is allowed) and read; undecodable bytes are an issue at their line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        return YamlResult(None, [SourceIssue(
            line, col, (), f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
            "save it as UTF-8", "encoding")])
    return parse_text(text)


def parse_file(path: str | Path) -> YamlResult:
    """Read a YAML file; ``OSError`` (missing, unreadable) is left to the caller."""
    return parse_bytes(Path(path).read_bytes())
