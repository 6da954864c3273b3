"""What a check can conclude about a link, shared by the checker, the cache and the reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(str, enum.Enum):
    """One verdict per link. ``FAILING`` decides the exit code; ``WARNING`` is shown, not fatal."""

    OK = "ok"
    REDIRECTED = "redirected"  #: works, but through a permanent redirect: update the link
    CACHED = "cached"  #: a success recorded in the cache recently enough to skip the request
    EXCLUDED = "excluded"  #: matched an exclude pattern, an unsupported scheme, or --offline
    DEAD = "dead"  #: the server (or the repository, or arXiv) says it does not exist
    ERROR = "error"  #: no usable answer after retries (timeouts, refused connections, DNS)
    NEEDS_HUMAN = "needs human"  #: 403/429/999 that persist: bot walls a person must look at
    REFUSED = "refused"  #: the target is a private/loopback/link-local/... address

    @property
    def failing(self) -> bool:
        # A private address in a public list is broken for every reader, and checking it would
        # let a pull request make CI probe internal hosts: it fails like a dead link.
        return self in (Status.DEAD, Status.ERROR, Status.REFUSED)

    @property
    def warning(self) -> bool:
        return self in (Status.REDIRECTED, Status.NEEDS_HUMAN)


#: Order of the summary line and of the report sections.
STATUS_ORDER = (
    Status.OK,
    Status.REDIRECTED,
    Status.CACHED,
    Status.EXCLUDED,
    Status.DEAD,
    Status.ERROR,
    Status.NEEDS_HUMAN,
    Status.REFUSED,
)


@dataclass
class Result:
    """The verdict on one link target (a URL without its fragment, or a local path+anchor)."""

    url: str
    status: Status
    reason: str = ""
    code: int | None = None  #: the final HTTP status code, when there was one
    final_url: str | None = None  #: where redirects ended, when they did
    redirects: int = 0  #: length of the redirect chain followed
    attempts: int = 0  #: requests rounds made (retries included); 0 for cache/local/excluded
    checked_at: float | None = None  #: epoch seconds of the check (or of the cached check)
    via: str = "http"  #: http | arxiv-api | local | cache | none
    chain: list[str] = field(default_factory=list)  #: redirect hops as "301 https://..."

    def to_json(self) -> dict:
        # By hand, not dataclasses.asdict: that deep-copies recursively, thousands of times.
        return {
            "url": self.url,
            "status": self.status.value,
            "reason": self.reason,
            "code": self.code,
            "final_url": self.final_url,
            "redirects": self.redirects,
            "attempts": self.attempts,
            "checked_at": self.checked_at,
            "via": self.via,
            "chain": list(self.chain),
        }
