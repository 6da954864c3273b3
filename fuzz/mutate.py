"""Mutations of real inputs, as data: the same list of operations drives Hypothesis and the long run.

A mutation is a tuple ``(op, a, b, payload)``: ``op`` names what to do, ``a`` and ``b`` pick
places (taken modulo the input's size, so any integers are valid), ``payload`` is what to
insert. Keeping mutations as plain data rather than as a seeded random function lets Hypothesis
shrink a failing case to the one or two operations that matter, and lets the long runner
(``fuzz/run.py``) draw the same kinds of cases from :class:`random.Random` thousands of times
faster than Hypothesis would.

The operations are the ones that broke or could break a YAML-, BibTeX- or markdown-reading
tool: lines deleted, duplicated, swapped or re-indented; YAML syntax dropped in (complex keys,
anchors, aliases, tags, flow brackets, document markers, block scalars, tabs); values replaced
by what YAML types unexpectedly (``yes``, ``~``, ``.inf``, ``0x7E3``, dates); random bytes and
invalid UTF-8; truncation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

Mutation = tuple[str, int, int, bytes]
_TOP_KEY = re.compile(rb"^[A-Za-z_][\w-]*:")
_ITEM = re.compile(rb"^ {0,4}- ")

#: Lines and fragments that mean something to a YAML, BibTeX or markdown parser.
TOKENS: tuple[bytes, ...] = (
    b"?", b"? [a]", b"? {a: b}", b"-", b"- ", b":", b": x", b"&a", b"*a", b"&a x", b"*b",
    b"!!binary", b"!!python/object:os.system", b"!custom x", b"!!int", b"!!float x", b"!!str",
    b"{", b"}", b"[", b"]", b"{a: [", b"---", b"...", b"|", b">-", b"%YAML 1.1", b"%TAG ! x",
    b'"', b"'", b"#", b"\t", b"  \t- x", b"<<: *a", b"~", b"null", b"yes", b"no", b"on",
    b".inf", b"-.nan", b"0x7E3", b"0o17", b"1e400", b"2019.0", b"2021-02-30", b"2020-01-01",
    b"12:30:00", b"1_000", b"'unterminated", b'"\\x', b'"\\U0010FFFF"', b"\xef\xbb\xbf",
    b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f\x98", b"\x00", b"\r", b"\x1b[31m",
    "\u202e".encode(), "\u00e9".encode(), "e\u0301".encode(), b"@article{x,", b"}", b"@comment{",
    b"title = {", b"author = {A and others},", b"crossref = {missing},", b"@string{a = ",
    b"[x](", b"[x]: <", b"![i](", b"<a href='", b"```", b"    code", b"### ", b"_No response_",
    b"https://", b"http://[::1", b"x" * 300,
)

OPS: tuple[str, ...] = (
    "delete", "duplicate", "swap", "insert_line", "insert_bytes", "replace_value", "indent",
    "dedent", "flip_byte", "truncate",
)


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def apply(data: bytes, mutations: Sequence[Mutation]) -> bytes:
    """``data`` with every mutation applied in order (each sees the previous one's result)."""
    for op, a, b, payload in mutations:
        lines = _lines(data)
        n = len(lines)
        i, j = a % n, b % n
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[j])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert_line":
            indent = b" " * (b % 9)
            lines.insert(i, indent + payload + b"\n")
        elif op == "insert_bytes":
            pos = a % (len(data) + 1)
            data = data[:pos] + payload + data[pos:]
            continue
        elif op == "replace_value":
            line = lines[i]
            colon = line.find(b": ")
            if colon < 0:
                colon = max(len(line) - 1, 0)
            ending = b"\n" if line.endswith(b"\n") else b""
            lines[i] = line[:colon + 2] + payload + ending
        elif op == "indent":
            lines[i] = b" " * (1 + b % 4) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip(b" ")
        elif op == "flip_byte":
            if data:
                pos = a % len(data)
                data = data[:pos] + bytes([data[pos] ^ (1 << (b % 8))]) + data[pos + 1:]
            continue
        elif op == "truncate":
            data = data[:a % (len(data) + 1)]
            continue
        else:  # pragma: no cover - OPS is closed
            raise ValueError(f"unknown mutation {op!r}")
        data = b"".join(lines)
    return data


def random_mutations(rng: random.Random, most: int = 4) -> list[Mutation]:
    """What the long runner applies: 1..``most`` operations with random places and payloads."""
    out = []
    for _ in range(rng.randint(1, most)):
        if rng.random() < 0.2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            payload = rng.choice(TOKENS)
        out.append((rng.choice(OPS), rng.randrange(1 << 20), rng.randrange(1 << 20), payload))
    return out


def entries(data: bytes) -> tuple[bytes, list[bytes]]:
    """The file's head (through its first top-level key) and its list items, as bytes."""
    lines = _lines(data)
    head = next((i + 1 for i, line in enumerate(lines) if _TOP_KEY.match(line)), 0)
    starts = [i for i in range(head, len(lines)) if _ITEM.match(lines[i])]
    if not starts:
        return b"".join(lines[:head]), [b"".join(lines[head:])]
    items = [b"".join(lines[a:b]) for a, b in zip(starts, starts[1:] + [len(lines)])]
    return b"".join(lines[:starts[0]]), items


def window(data: bytes, start: int, size: int) -> bytes:
    """The file's head (everything through its first top-level key, ``papers:``) plus whole
    entries: from the first entry at or after line ``start`` of the rest, about ``size`` lines.

    The real files are thousands of lines; fuzzing a window of a few entries keeps each case
    fast while every line still comes from the real file, and cutting at entry boundaries
    keeps the unmutated window valid, so the mutations alone decide what is wrong.
    """
    lines = _lines(data)
    head = next((i + 1 for i, line in enumerate(lines) if _TOP_KEY.match(line)), 0)
    body = lines[head:]
    if not body:
        return data
    starts = [i for i, line in enumerate(body) if _ITEM.match(line)] or [0]
    first = next((i for i in starts if i >= start % len(body)), starts[0])
    last = next((i for i in starts if i >= first + size), len(body))
    return b"".join(lines[:head] + body[first:last])
