"""``links.toml``: what to check, what to accept, and how hard to try.

The file lives at the repository root so that a change of policy (a new exclude, a tighter
timeout) is reviewed like code. Every key has a default here, so the file only states the
project's choices; CLI flags override both. Unknown keys and wrong types are errors naming the
file, line and key: a typo such as ``exlude`` must not silently check everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "links.toml"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RANGE = re.compile(r"^\s*(\d{3})\s*(\.\.=|\.\.|-)\s*(\d{3})\s*$")


class ConfigError(ValueError):
    """A bad configuration value; the message names where it came from."""


@dataclass(frozen=True)
class Config:
    """Every knob of the checker. Times are seconds; ``accept`` is a set of status codes."""

    papers: str = "data/papers.yaml"
    markdown: tuple[str, ...] = ("README.md", "docs/*.md", "docs/cells/*.md", "CONTRIBUTING.md")
    exclude: tuple[str, ...] = ()
    accept: frozenset[int] = frozenset(range(200, 300))
    needs_human: frozenset[int] = frozenset({403, 429, 999})
    concurrency: int = 32
    per_host: int = 8
    connect_timeout: float = 10.0
    #: a deadline over the whole request (connect, headers, body), at least connect_timeout
    read_timeout: float = 20.0
    retries: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_redirects: int = 10
    user_agent: str = "Mozilla/5.0 (compatible; reprogrammability-links/0.1)"
    allow_private: bool = False
    #: hosts, addresses and networks (CIDR) allowed although not public: a local mirror
    allow_private_hosts: tuple[str, ...] = ()
    cache: bool = True
    cache_path: str = ".cache/links.json"
    max_cache_age: float = 86400.0
    arxiv_api: bool = True
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_batch_size: int = 100
    arxiv_min_interval: float = 3.0
    #: compiled ``exclude`` (derived; not a key)
    exclude_res: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (``None`` values ignored) and excludes recompiled."""
        changes = {k: v for k, v in changes.items() if v is not None}
        cfg = replace(self, **changes)
        return replace(cfg, exclude_res=compile_excludes(cfg.exclude, "exclude"))

    def excluded_by(self, url: str) -> str | None:
        """The first exclude pattern matching ``url`` (searched, like lychee), or None."""
        for pattern in self.exclude_res:
            if pattern.search(url):
                return pattern.pattern
        return None


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"12h"``, ``"1d"``, ``"1d 12h"``."""
    if isinstance(value, bool):
        raise ConfigError(f'{where}: expected a duration such as 3600, "12h" or "1d"')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(f"{where}: a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        parts = _DURATION_PART.findall(text)
        if parts and _DURATION_PART.sub("", text).strip() == "":
            return float(sum(float(n) * _UNITS[u.lower()] for n, u in parts))
    raise ConfigError(f'{where}: {value!r} is not a duration (use seconds or e.g. "12h", "1d")')


def parse_codes(values: Any, where: str) -> frozenset[int]:
    """Status codes from ints and ranges (``"200..=299"`` inclusive, ``"200..300"``, ``"200-299"``).

    Strings may also hold a comma-separated list (the CLI's ``--accept 200..=299,403``).
    """
    if isinstance(values, (int, str)):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of status codes or ranges")
    codes: set[int] = set()
    for item in values:
        if isinstance(item, bool):
            raise ConfigError(f"{where}: {item!r} is not a status code")
        if isinstance(item, int):
            pieces: list[Any] = [item]
        elif isinstance(item, str):
            pieces = [p for p in item.split(",") if p.strip()]
        else:
            raise ConfigError(f"{where}: {item!r} is not a status code or range")
        for piece in pieces:
            if isinstance(piece, int):
                lo = hi = piece
            elif piece.strip().isdigit():
                lo = hi = int(piece)
            else:
                m = _RANGE.match(piece)
                if not m:
                    raise ConfigError(
                        f"{where}: {piece.strip()!r} is not a status code or range "
                        '(use 200, "200..=299" or "200-299")'
                    )
                lo, op, hi = int(m.group(1)), m.group(2), int(m.group(3))
                if op == "..":
                    hi -= 1  # Rust/lychee: a..b excludes b
            if not (100 <= lo <= hi <= 999):
                raise ConfigError(f"{where}: {piece!r} is not a valid status code range (100-999)")
            codes.update(range(lo, hi + 1))
    return frozenset(codes)


_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
                        r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def parse_allow_entry(entry: str, where: str):
    """``("host", name)`` or ``("network", ip_network)`` for one ``allow_private_hosts`` entry:
    a host name (``mirror.lan``), an address (``10.0.0.5``, ``::1``) or a network in CIDR
    notation (``10.0.0.0/8``). Anything else is an error: a typo must not allow nothing (or
    everything) silently."""
    import ipaddress

    text = entry.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return "network", ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    if "/" not in text and ":" not in text and _HOST_NAME.match(text):
        return "host", text
    raise ConfigError(
        f"{where}: {entry!r} is not a host name, an IP address or a network such as 10.0.0.0/8"
    )


def compile_excludes(patterns: Any, where: str) -> tuple[re.Pattern[str], ...]:
    if isinstance(patterns, str):
        patterns = [patterns]
    out = []
    for p in patterns:
        if not isinstance(p, str):
            raise ConfigError(f"{where}: {p!r} is not a regular expression string")
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise ConfigError(f"{where}: {p!r} is not a valid regular expression: {exc}") from None
    return tuple(out)


# key in the file -> (Config field, kind)
_TOP: dict[str, tuple[str, str]] = {
    "papers": ("papers", "str"),
    "markdown": ("markdown", "strs"),
    "exclude": ("exclude", "regexes"),
    "accept": ("accept", "codes"),
    "needs_human": ("needs_human", "codes"),
    "concurrency": ("concurrency", "pos_int"),
    "per_host": ("per_host", "pos_int"),
    "connect_timeout": ("connect_timeout", "pos_duration"),
    "read_timeout": ("read_timeout", "pos_duration"),
    "retries": ("retries", "nonneg_int"),
    "backoff_base": ("backoff_base", "duration"),
    "backoff_max": ("backoff_max", "duration"),
    "max_redirects": ("max_redirects", "nonneg_int"),
    "user_agent": ("user_agent", "str"),
    "allow_private": ("allow_private", "bool"),
    "allow_private_hosts": ("allow_private_hosts", "allowlist"),
    "cache": ("cache", "bool"),
    "cache_path": ("cache_path", "str"),
    "max_cache_age": ("max_cache_age", "duration"),
}
_ARXIV: dict[str, tuple[str, str]] = {
    "api": ("arxiv_api", "bool"),
    "api_url": ("arxiv_api_url", "str"),
    "batch_size": ("arxiv_batch_size", "pos_int"),
    "min_interval": ("arxiv_min_interval", "duration"),
}


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """1-based line where ``key`` is assigned (inside ``[table]`` when given), for messages."""
    current: str | None = None
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        m = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", stripped)
        if m:
            current = m.group(1)
            continue
        if current == table and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return i
    return None


def _convert(value: Any, kind: str, where: str) -> Any:
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a non-empty string")
        return value
    if kind == "strs":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        return tuple(value)
    if kind == "regexes":
        compile_excludes(value, where)
        return tuple([value] if isinstance(value, str) else value)
    if kind == "codes":
        return parse_codes(value, where)
    if kind in ("pos_int", "nonneg_int"):
        low = 1 if kind == "pos_int" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{where}: expected an integer >= {low}")
        return value
    if kind == "duration":
        return parse_duration(value, where)
    if kind == "pos_duration":
        seconds = parse_duration(value, where)
        if seconds <= 0:
            raise ConfigError(f"{where}: must be more than 0 seconds")
        return seconds
    if kind == "allowlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of host names, addresses or networks")
        for entry in value:
            parse_allow_entry(entry, where)
        return tuple(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false")
        return value
    raise AssertionError(kind)


def load_config(path: str | Path | None) -> Config:
    """Defaults overlaid with ``path`` (when given and present)."""
    base = Config()
    if path is None:
        return base.with_overrides()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    import tomllib  # only when there is a file to read

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None

    changes: dict[str, Any] = {}

    def where(key: str, table: str | None) -> str:
        line = _line_of(text, key, table)
        dotted = f"{table}.{key}" if table else key
        return f"{path}:{line}: {dotted}" if line else f"{path}: {dotted}"

    for key, value in data.items():
        if key == "arxiv":
            if not isinstance(value, dict):
                raise ConfigError(f"{where(key, None)}: expected a table [arxiv]")
            for sub, subvalue in value.items():
                if sub not in _ARXIV:
                    raise ConfigError(
                        f"{where(sub, 'arxiv')}: unknown key (known: {', '.join(sorted(_ARXIV))})"
                    )
                name, kind = _ARXIV[sub]
                changes[name] = _convert(subvalue, kind, where(sub, "arxiv"))
            continue
        if key not in _TOP:
            raise ConfigError(
                f"{where(key, None)}: unknown key (known: {', '.join(sorted([*_TOP, 'arxiv']))})"
            )
        name, kind = _TOP[key]
        changes[name] = _convert(value, kind, where(key, None))
    return base.with_overrides(**changes)


def config_fields() -> list[str]:
    """Names of the settable fields (for error messages and tests)."""
    return [f.name for f in fields(Config) if f.name != "exclude_res"]
