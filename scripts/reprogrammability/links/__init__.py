"""``repro links``: check every URL, relative link and ``#anchor`` in the data and the docs.

A curated list is only as good as its links, and links rot quietly. The checker is modelled on
lychee: concurrent, polite (per-host limits, keep-alive connections shared by the workers,
retries with backoff that honour ``Retry-After``), cheap (HEAD first, small bodies drained for
reuse and large ones abandoned, successes cached), bounded (every request has a deadline, however
slowly a server trickles), thorough (``page.html#section`` needs that anchor in the page), and
safe to run on untrusted pull requests (private, loopback and link-local targets are refused,
redirects included, unless allowlisted).

Modules, in the order data flows through them:

- ``extract``: links (with file and line) from ``data/papers.yaml`` and the rendered markdown,
  and the anchors each markdown file defines.
- ``config``: ``links.toml`` (excludes, accepted codes, limits, timeouts, cache age).
- ``anchors``: relative links and ``#fragments`` resolved inside the repository.
- ``cache``: the JSON result cache (successes only, with a maximum age).
- ``transport``: keep-alive HTTP/1.1 connections on http.client, one pool per host.
- ``checker``: the HTTP engine (scheduling, deadlines, redirects, retries, fragments, address
  guard and allowlist, arXiv API).
- ``report``: console summary, JSON and the markdown report the scheduled workflow posts.
- ``cli``: ``configure(parser)`` / ``run(args)`` for ``repro links``.
"""

from __future__ import annotations

from .results import Result, Status

__all__ = ["Result", "Status"]
