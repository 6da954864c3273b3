"""Retry policy shared by every HTTP client here (the link checker, the arXiv API client).

One place decides which answers are worth retrying and how long to wait, so the link checker
and ``repro add`` back off from a struggling server the same way.
"""

from __future__ import annotations

import random
import time


def retryable_status(code: int) -> bool:
    return code in (408, 429) or 500 <= code <= 599


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # an HTTP date is rare; keep the import off start-up

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def backoff_delay(
    attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random
) -> float:
    """Wait before retry number ``attempt + 1``: the server's ``Retry-After`` if it gave one,
    else ``base * 2**attempt`` with "equal jitter" (half fixed, half random, so clients that
    failed together do not retry together); never more than ``cap``."""
    if retry_after is not None:
        return max(0.0, min(cap, retry_after))
    delay = min(cap, base * (2**attempt))
    return delay / 2 + rng.uniform(0, delay / 2)
