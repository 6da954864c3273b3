"""A small, polite client for the arXiv Atom API (``export.arxiv.org/api/query``).

``repro add``, ``repro refresh`` and the link checker all need the same three things from arXiv:
turn whatever a contributor pasted (an id, a versioned id, an abs/pdf URL, an old-style
``hep-th/9901001`` id) into one canonical id; fetch many records in few requests; and never hammer
the service (arXiv asks for at most one request every three seconds and bans crawlers that do
not). So ids are batched into ``id_list`` queries, every request in the process passes through one
rate limiter, and transient failures (5xx, 429, timeouts, dropped connections) are retried with
backoff that honours ``Retry-After``.

The Atom feed is parsed with the standard library only. Three arXiv quirks are handled here so no
caller has to know them: an unknown but well-formed id simply has no entry (-> ``None``); a
malformed id makes arXiv answer with a single entry titled ``Error`` whose id is
``http://arxiv.org/api/errors#...`` (and the whole batch is lost with it, so the offending id is
dropped and the rest re-asked); and entry ids carry the version (``.../abs/2109.01134v2``) and,
for pre-2007 papers, the archive (``.../abs/hep-th/9901001v1``).
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import arxiv_ids
from .retry import parse_retry_after

DEFAULT_API_URL = "https://export.arxiv.org/api/query"
USER_AGENT = "reprogrammability-curation/0.1 (+https://github.com/; repro add/refresh/links)"

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}

#: How withdrawal notices read: "This paper has been withdrawn by the author due to ...",
#: "Withdrawn: ...", "The paper is withdrawn because ...".
_WITHDRAWN = re.compile(r"^\s*withdrawn\b|\b(has been|is|was|been) withdrawn\b", re.IGNORECASE)
_ERROR_ID = "http://arxiv.org/api/errors"


def api_url(text: str) -> str:
    """``--api-url``: an http(s) URL with a host, else argparse's usage error (exit 2).

    Anything else (``not-a-url``, ``file:///etc/passwd``) would only fail later, inside the
    HTTP client, with its traceback instead of a word on the option.
    """
    import argparse
    from urllib.parse import urlsplit

    parts = urlsplit(text.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http(s) URL with a host, such as {DEFAULT_API_URL}")
    return text.strip()


class ArxivError(RuntimeError):
    """arXiv could not be asked or did not answer usably (after retries)."""


@dataclass(frozen=True)
class ArxivRecord:
    """What the API says about one paper (the version it returned, usually the latest)."""

    arxiv_id: str  #: base id without version, e.g. ``2109.01134`` or ``hep-th/9901001``
    version: int  #: the version this record describes (the latest unless one was asked for)
    title: str  #: whitespace collapsed
    authors: tuple[str, ...]
    published: str  #: ISO timestamp of v1
    updated: str  #: ISO timestamp of this version
    summary: str  #: abstract, whitespace collapsed
    primary_category: str | None = None
    categories: tuple[str, ...] = ()
    doi: str | None = None
    journal_ref: str | None = None
    comment: str | None = None

    @property
    def year(self) -> int:
        """Year of the first version, which is how the literature dates arXiv preprints."""
        return int(self.published[:4])

    @property
    def withdrawn(self) -> str | None:
        """arXiv's withdrawal notice, when the latest version is one, else None.

        A withdrawn paper keeps its id; its new version's comment (and often its abstract)
        says "This paper has been withdrawn by the author(s) ...", which is all the API shows.
        """
        for text in (self.comment or "", self.summary or ""):
            if _WITHDRAWN.search(text):
                return text if len(text) <= 120 else text[:117] + "..."
        return None

    @property
    def versioned_id(self) -> str:
        return f"{self.arxiv_id}v{self.version}"

    @property
    def abs_url(self) -> str:
        """The canonical, version-free abstract page."""
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.versioned_id}"


class FetchResults(dict):
    """``{requested id: ArxivRecord | None}`` plus ``errors``: ``{requested id: message}``.

    A plain dict for callers that only need "found or not"; ``errors`` explains the ``None`` values
    that are not merely unknown ids (malformed ids, in arXiv's own words).
    """

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, str] = {}


def normalize_id(text: str) -> tuple[str, int | None]:
    """``(base id, version or None)`` for an arXiv id or arxiv.org URL in any common spelling.

    Accepts ``2109.01134``, ``2109.01134v2``, ``arXiv:2109.01134``,
    ``https://arxiv.org/abs/2109.01134v3``, ``https://arxiv.org/pdf/2109.01134v1.pdf``,
    ``hep-th/9901001``, ``math.GT/0309136v1``, ``cs/0101001``. Raises ``ValueError`` naming the
    input otherwise (``TypeError`` for a non-string). The version is an ``int`` (``v2`` -> 2).
    """
    if not isinstance(text, str):
        raise TypeError(f"not an arXiv id: {text!r} (expected a string such as '2109.01134')")
    raw = text.strip()
    candidate = raw
    m = arxiv_ids.URL.match(candidate)
    if m:
        candidate = m.group("rest")
    elif candidate.lower().startswith("arxiv:"):
        candidate = candidate[6:].strip()
    try:
        found = arxiv_ids.parse(candidate)
    except ValueError as exc:
        raise ValueError(f"not an arXiv id: {raw!r} ({exc})") from None
    return found.base, found.version


class RateLimiter:
    """At most one request per ``interval`` seconds, shared by every caller in the process.

    The interval is passed per call (``fetch(min_interval=...)``) so tests can run unthrottled
    while real use keeps arXiv's three seconds; the last request time is what is shared.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last: float | None = None

    def wait(self, interval: float) -> float:
        """Block until a request may go out; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            slept = 0.0
            if self._last is not None and interval > 0:
                slept = max(0.0, self._last + interval - now)
                if slept:
                    self._sleep(slept)
            self._last = self._clock()
            return slept


#: The process-wide limiter every ``fetch`` goes through.
LIMITER = RateLimiter()


def _text(el: ET.Element, path: str) -> str | None:
    found = el.find(path, NS)
    if found is None or found.text is None:
        return None
    value = " ".join(found.text.split())
    return value or None


def _parse_entry_id(entry_id: str) -> tuple[str, int | None]:
    """``http://arxiv.org/abs/hep-th/9901001v1`` -> ``("hep-th/9901001", 1)``."""
    m = re.search(r"arxiv\.org/abs/(.+)$", entry_id.strip())
    if not m:
        raise ValueError(f"unexpected entry id {entry_id!r}")
    return normalize_id(m.group(1))


@dataclass(frozen=True)
class _Feed:
    records: list[ArxivRecord]
    errors: list[tuple[str, str]]  #: (error id fragment, arXiv's message)
    #: ``opensearch:totalResults``: how many entries the whole query matches (paging stops there).
    total: int | None = None


def parse_feed(xml_text: str | bytes) -> _Feed:
    """Parse an API response into records and arXiv's ``Error`` entries."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        snippet = (xml_text if isinstance(xml_text, str) else xml_text.decode("utf-8", "replace"))
        raise ArxivError(f"arXiv answered with something that is not an Atom feed ({exc}): "
                         f"{snippet.strip()[:120]!r}") from None
    if root.tag != f"{{{NS['atom']}}}feed":
        raise ArxivError(f"arXiv answered with <{root.tag}>, not an Atom <feed>")
    records: list[ArxivRecord] = []
    errors: list[tuple[str, str]] = []
    for entry in root.findall("atom:entry", NS):
        entry_id = _text(entry, "atom:id") or ""
        title = _text(entry, "atom:title")
        if entry_id.startswith(_ERROR_ID) or (title == "Error" and "/api/errors" in entry_id):
            fragment = entry_id.partition("#")[2]
            message = _text(entry, "atom:summary") or fragment.replace("_", " ") or "error"
            errors.append((fragment, message))
            continue
        if not entry_id or not title:
            # Older API versions answered unknown ids with an entry that has no title; that is
            # the same fact as an absent entry: arXiv has no such paper.
            continue
        base, version = _parse_entry_id(entry_id)
        published = _text(entry, "atom:published") or ""
        primary = entry.find("arxiv:primary_category", NS)
        records.append(
            ArxivRecord(
                arxiv_id=base,
                version=version or 1,
                title=title,
                authors=tuple(
                    n for a in entry.findall("atom:author", NS) if (n := _text(a, "atom:name"))
                ),
                published=published,
                updated=_text(entry, "atom:updated") or published,
                summary=_text(entry, "atom:summary") or "",
                primary_category=primary.get("term") if primary is not None else None,
                categories=tuple(
                    t for c in entry.findall("atom:category", NS) if (t := c.get("term"))
                ),
                doi=_text(entry, "arxiv:doi"),
                journal_ref=_text(entry, "arxiv:journal_ref"),
                comment=_text(entry, "arxiv:comment"),
            )
        )
    total_text = _text(root, "opensearch:totalResults")
    total = int(total_text) if total_text and total_text.isdigit() else None
    return _Feed(records, errors, total)


def _get(
    session,
    api_url: str,
    params: dict[str, str],
    *,
    min_interval: float,
    retries: int,
    timeout: float,
    backoff: float,
    max_wait: float,
    limiter: RateLimiter,
) -> tuple[int, str]:
    """One logical GET with retries; returns (status, body) of the final answer."""
    import requests

    attempt = 0
    while True:
        limiter.wait(min_interval)
        wait: float | None = None
        try:
            resp = session.get(
                api_url, params=params, timeout=timeout, headers={"User-Agent": USER_AGENT}
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            throttled = resp.text[:64].strip().startswith("Rate exceeded")
            if resp.status_code < 500 and resp.status_code != 429 and not throttled:
                return resp.status_code, resp.text
            problem = f"HTTP {resp.status_code} {resp.reason or ''}".strip()
            if throttled:  # arXiv's throttle is a bare text body, whatever the status
                problem += " (Rate exceeded.)"
            wait = parse_retry_after(resp.headers.get("Retry-After"))
        if attempt >= retries:
            tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
            raise ArxivError(f"arXiv API at {api_url} failed after {tries}: {problem}")
        if wait is None:
            wait = backoff * (2**attempt)
        time.sleep(min(wait, max_wait))
        attempt += 1


def _match(requested: list[tuple[str, int | None]], records: list[ArxivRecord]):
    """Pair each requested (base, version) with the record arXiv returned for it, if any."""
    by_base: dict[str, list[ArxivRecord]] = {}
    for r in records:
        by_base.setdefault(r.arxiv_id, []).append(r)
    out: dict[tuple[str, int | None], ArxivRecord | None] = {}
    for base, version in requested:
        candidates = by_base.get(base, [])
        if version is not None:
            exact = [r for r in candidates if r.version == version]
            candidates = exact
        out[(base, version)] = max(candidates, key=lambda r: r.version) if candidates else None
    return out


def _query_id(base: str, version: int | None) -> str:
    return f"{base}v{version}" if version else base


def fetch(
    ids: Iterable[str],
    *,
    api_url: str = DEFAULT_API_URL,
    session=None,
    batch_size: int = 100,
    min_interval: float = 3.0,
    retries: int = 3,
    timeout: float = 30,
    backoff: float = 3.0,
    max_wait: float = 120.0,
    limiter: RateLimiter | None = None,
) -> FetchResults:
    """Fetch arXiv records for ``ids`` (any spelling ``normalize_id`` accepts), batched.

    Returns ``{id as given: ArxivRecord | None}``; ``None`` means arXiv has no such paper, or (see
    ``.errors``) that the id was malformed, locally or in arXiv's judgement. A versioned id gets
    that version's record; an unversioned one the latest. Raises ``ArxivError`` only when the
    service itself cannot be reached or keeps failing after ``retries`` retries.
    """
    import requests

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    limiter = LIMITER if limiter is None else limiter
    own_session = session is None
    session = requests.Session() if own_session else session
    results = FetchResults()
    wanted: dict[tuple[str, int | None], list[str]] = {}
    for given in ids:
        if given in results:
            continue
        results[given] = None
        try:
            key = normalize_id(given)
        except ValueError as exc:
            results.errors[given] = str(exc)
            continue
        wanted.setdefault(key, []).append(given)

    pending = list(wanted)
    try:
        while pending:
            batch, pending = pending[:batch_size], pending[batch_size:]
            while batch:
                query = [_query_id(b, v) for b, v in batch]
                status, body = _get(
                    session, api_url, {"id_list": ",".join(query), "max_results": str(len(batch))},
                    min_interval=min_interval, retries=retries, timeout=timeout,
                    backoff=backoff, max_wait=max_wait, limiter=limiter,
                )
                if status >= 400 and "<feed" not in body:
                    raise ArxivError(f"arXiv API at {api_url} answered HTTP {status}: "
                                     f"{body.strip()[:120]!r}")
                feed = parse_feed(body)
                if feed.errors:
                    batch = _drop_rejected(batch, query, feed.errors, wanted, results)
                    continue  # ask again for the ids arXiv did not object to
                for key, record in _match(batch, feed.records).items():
                    for given in wanted[key]:
                        results[given] = record
                batch = []
    finally:
        if own_session:
            session.close()
    return results


def _drop_rejected(batch, query, errors, wanted, results):
    """Attribute arXiv's error entries to ids in the batch; return the ids still worth asking.

    arXiv answers a batch containing one malformed id with nothing but the error, which names the
    id (``#incorrect_id_format_for_1234.5678``, summary ``incorrect id format for 1234.5678``). If
    no id can be identified the whole batch is marked, so the loop always terminates.
    """
    rejected: set[int] = set()
    for fragment, message in errors:
        for i, q in enumerate(query):
            named = f" {q} " in f" {message} " or fragment.endswith("_" + q)
            if named:
                rejected.add(i)
                for given in wanted[batch[i]]:
                    results.errors[given] = message
    if not rejected:
        message = "; ".join(m for _, m in errors)
        for key in batch:
            for given in wanted[key]:
                results.errors[given] = message
        return []
    return [key for i, key in enumerate(batch) if i not in rejected]


def search(
    query: str,
    *,
    stop_before: str | None = None,
    max_results: int = 200,
    page_size: int = 100,
    api_url: str = DEFAULT_API_URL,
    session=None,
    min_interval: float = 3.0,
    retries: int = 3,
    timeout: float = 30,
    backoff: float = 3.0,
    max_wait: float = 120.0,
    limiter: RateLimiter | None = None,
) -> list[ArxivRecord]:
    """Records matching an arXiv ``search_query``, newest submission first, page by page.

    Paging stops at ``max_results`` records, when arXiv has no more (``totalResults`` or an empty
    page), or at the first record submitted before ``stop_before`` (an ISO date): the results are
    sorted by submission date, so nothing older can follow. Every page goes through the same rate
    limiter and retry policy as :func:`fetch`. Raises ``ArxivError`` when the service keeps failing
    or answers with an error entry (a malformed query).
    """
    import requests

    if page_size < 1 or max_results < 1:
        raise ValueError("page_size and max_results must be at least 1")
    limiter = LIMITER if limiter is None else limiter
    own_session = session is None
    session = requests.Session() if own_session else session
    found: list[ArxivRecord] = []
    start = 0
    try:
        while len(found) < max_results:
            size = min(page_size, max_results - len(found))
            params = {"search_query": query, "start": str(start), "max_results": str(size),
                      "sortBy": "submittedDate", "sortOrder": "descending"}
            status, body = _get(session, api_url, params, min_interval=min_interval,
                                retries=retries, timeout=timeout, backoff=backoff,
                                max_wait=max_wait, limiter=limiter)
            if status >= 400 and "<feed" not in body:
                raise ArxivError(f"arXiv API at {api_url} answered HTTP {status}: "
                                 f"{body.strip()[:120]!r}")
            feed = parse_feed(body)
            if feed.errors:
                raise ArxivError(f"arXiv rejected the query {query!r}: "
                                 + "; ".join(m for _, m in feed.errors))
            for record in feed.records:
                if stop_before and record.published[:10] < stop_before:
                    return found
                found.append(record)
            start += len(feed.records)
            if not feed.records or (feed.total is not None and start >= feed.total):
                break
    finally:
        if own_session:
            session.close()
    return found[:max_results]
