"""The result cache: successes seen recently are not requested again.

Only plain successes are stored. A failure must be seen again on the next run (it may have been a
blip, and a cached failure would hide its recovery as badly as a cached success hides rot), and a
permanent redirect should keep nagging until the link is updated. Entries older than the maximum
age are dropped on load. The file is JSON, written atomically, and a corrupt or foreign file is
ignored (with a warning) rather than trusted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .results import Result, Status

FORMAT = "reprogrammability-links-cache"
VERSION = 1


class LinkCache:
    def __init__(
        self,
        path: Path | None,
        max_age: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        self.hits = 0
        self.stored = 0

    @classmethod
    def load(
        cls, path: Path, max_age: float, *, clock: Callable[[], float] = time.time
    ) -> LinkCache:
        cache = cls(path, max_age, clock=clock)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cache
        except OSError as exc:
            cache.warnings.append(
                f"{path}: cannot read the link cache ({exc.strerror}); ignoring it"
            )
            return cache
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError("not a link cache of this version")
            entries = data["entries"]
            if not isinstance(entries, dict):
                raise TypeError("entries is not an object")
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            cache.warnings.append(f"{path}: unusable link cache ({exc}); starting afresh")
            return cache
        now = clock()
        for url, entry in entries.items():
            try:
                checked = float(entry["checked_at"])
            except (KeyError, TypeError, ValueError):
                continue
            if 0 <= now - checked <= max_age:
                cache._entries[url] = entry
        return cache

    def get(self, url: str) -> Result | None:
        """A CACHED result for ``url`` when a fresh success is recorded."""
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return None
            age = self._clock() - float(entry["checked_at"])
            if not 0 <= age <= self.max_age:
                return None
            self.hits += 1
        return Result(
            url=url,
            status=Status.CACHED,
            reason=f"ok {_age(age)} ago",
            code=entry.get("code"),
            final_url=entry.get("final_url"),
            checked_at=float(entry["checked_at"]),
            via="cache",
        )

    def put(self, result: Result) -> bool:
        """Record ``result`` if it is a plain success; returns whether it was stored."""
        if result.status is not Status.OK or result.via not in ("http", "arxiv-api"):
            return False
        with self._lock:
            self._entries[result.url] = {
                "checked_at": result.checked_at if result.checked_at is not None else self._clock(),
                "code": result.code,
                "final_url": result.final_url,
                "via": result.via,
            }
            self.stored += 1
        return True

    def __contains__(self, url: str) -> bool:
        return url in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        if self.path is None:
            return
        now = self._clock()
        with self._lock:
            entries = {
                url: e
                for url, e in sorted(self._entries.items())
                if 0 <= now - float(e["checked_at"]) <= self.max_age
            }
        payload = {"format": FORMAT, "version": VERSION, "entries": entries}
        from ..atomic import write_text_atomic

        write_text_atomic(self.path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def _age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"
