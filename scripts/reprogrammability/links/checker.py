"""The HTTP engine: many URLs, checked concurrently, politely, cheaply and safely.

- **Concurrency.** ``concurrency`` worker threads (the global limit), each with its own
  ``requests.Session`` (connection reuse without sharing a non-thread-safe session). A scheduler
  hands out URLs round-robin across hosts and holds a per-host semaphore for each request in
  flight, so one slow host never occupies every worker and no host sees more than ``per_host``
  requests at once.
- **Cheap.** HEAD first; GET only when HEAD is refused or fails (405, 501, 403-on-HEAD ...).
  Responses are streamed and closed without reading the body, so a multi-gigabyte PDF costs a
  few kilobytes. Redirects are followed by hand (bounded) so every hop is guarded and reported.
- **Patient.** Timeouts, dropped connections, 5xx, 408 and 429 are retried with exponential
  backoff and jitter, honouring ``Retry-After`` (seconds or HTTP date), every wait capped.
  403/429/999 that persist are bot walls: "needs human", not dead.
- **Safe.** Pull requests choose the URLs, so private, loopback, link-local, multicast, reserved
  and unspecified targets are refused: before connecting (every address the name resolves to) and
  again on the connected socket's peer address (so DNS rebinding cannot slip through), for every
  redirect hop. Credentials from ``~/.netrc`` are never attached.
- **arXiv.** ``arxiv.org/abs|pdf/ID`` links are verified in batches through the arXiv API
  (``reprogrammability.arxiv.fetch``) instead of one polite-but-slow page request each.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from ..retry import backoff_delay, parse_retry_after, retryable_status
from .config import Config
from .results import Result, Status

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})
ACCEPT_HEADER = "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.8"


# ---------------------------------------------------------------------------------------------
# address guard


class PrivateAddressError(Exception):
    """Raised from inside urllib3 when a socket connected to a refused address.

    Deliberately not an ``OSError``: urllib3 and requests must not turn it into a retryable
    connection error.
    """

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} connected to {address} ({why})")
        self.host, self.address, self.why = host, address, why


class HostLookupError(Exception):
    def __init__(self, host: str, message: str, transient: bool) -> None:
        super().__init__(message)
        self.host, self.transient = host, transient


def address_problem(address: str) -> str | None:
    """Why ``address`` may not be contacted (``"loopback"``, ``"private"`` ...), or None."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            inner = address_problem(str(embedded))
            if inner:
                return inner
    for attr, label in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attr):
            return label
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if not ip.is_global:
        return "not globally routable"
    return None


class AddressGuard:
    """Refuses URLs whose host is, or resolves to, a non-public address."""

    def __init__(self, resolver: Callable[..., list] = socket.getaddrinfo) -> None:
        self._resolver = resolver
        self._resolved: dict[tuple[str, int], list[str] | HostLookupError] = {}
        self._lock = threading.Lock()

    def _addresses(self, host: str, port: int) -> list[str]:
        key = (host, port)
        with self._lock:
            known = self._resolved.get(key)
        if known is None:
            try:
                infos = self._resolver(host, port, 0, socket.SOCK_STREAM)
                known = sorted({info[4][0] for info in infos})
            except UnicodeError:
                known = HostLookupError(host, f"invalid host name {host!r}", transient=False)
            except socket.gaierror as exc:
                transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
                known = HostLookupError(
                    host, f"host not found: {host} ({exc.strerror or exc})", transient
                )
            with self._lock:
                if not (isinstance(known, HostLookupError) and known.transient):
                    self._resolved[key] = known
        if isinstance(known, HostLookupError):
            raise known
        return known

    def refusal(self, url: str) -> str | None:
        """A "refused: private address (...)" reason for ``url``, or None when it may be fetched.

        Raises ``HostLookupError`` when the name does not resolve.
        """
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return f"refused: private address ({host} is loopback)"
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            literal = True
        except ValueError:
            literal = False
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [host] if literal else self._addresses(host, port)
        for address in addresses:
            why = address_problem(address)
            if why:
                shown = host if literal else f"{host} -> {address}"
                return f"refused: private address ({shown} is {why})"
        return None

    def check_peer(self, sock: socket.socket, host: str) -> None:
        """Called on every new connection: the address actually connected to must be public."""
        try:
            peer = sock.getpeername()[0]
        except OSError:
            return
        why = address_problem(peer)
        if why:
            raise PrivateAddressError(host, peer, why)


@functools.lru_cache(maxsize=1)
def _guarded_adapter_class():
    """An ``HTTPAdapter`` whose connections run ``AddressGuard.check_peer`` after connecting.

    Built lazily so importing this module does not import requests/urllib3.
    """
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class GuardedAdapter(HTTPAdapter):
        def __init__(self, guard: AddressGuard | None, **kwargs) -> None:
            self._guard = guard
            super().__init__(**kwargs)

        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            guard = self._guard
            if guard is None:
                return

            def guarded(base: type) -> type:
                """``base`` whose new sockets are checked against the address guard."""

                class Guarded(base):  # type: ignore[misc, valid-type]
                    def _new_conn(self):  # type: ignore[override]
                        sock = super()._new_conn()
                        try:
                            guard.check_peer(sock, self.host)
                        except BaseException:
                            sock.close()
                            raise
                        return sock

                return Guarded

            GuardedHTTPConnection = guarded(HTTPConnection)
            GuardedHTTPSConnection = guarded(HTTPSConnection)

            class Pool(HTTPConnectionPool):
                ConnectionCls = GuardedHTTPConnection

            class SPool(HTTPSConnectionPool):
                ConnectionCls = GuardedHTTPSConnection

            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": SPool}

    return GuardedAdapter


class _NoAuth:
    """Set as ``Session.auth`` so requests never looks up ``~/.netrc`` for a checked URL."""

    def __call__(self, request):
        return request


# ---------------------------------------------------------------------------------------------
# scheduling


class HostScheduler:
    """Hands out URLs so that no host has more than ``per_host`` in flight.

    A worker takes the next URL of the first host (round-robin) whose semaphore it can acquire
    without blocking; if every host with work is saturated it waits for a release. Workers thus
    never sit blocked on one busy host while other hosts have work.
    """

    def __init__(self, urls: Iterable[str], per_host: int) -> None:
        self._queues: dict[str, collections.deque[str]] = {}
        for url in urls:
            self._queues.setdefault(host_key(url), collections.deque()).append(url)
        self._rotation = collections.deque(self._queues)
        self._slots = {h: threading.BoundedSemaphore(per_host) for h in self._queues}
        self._pending = sum(len(q) for q in self._queues.values())
        self._cond = threading.Condition()

    def take(self) -> tuple[str, str] | None:
        with self._cond:
            while True:
                if self._pending == 0:
                    return None
                for _ in range(len(self._rotation)):
                    host = self._rotation[0]
                    self._rotation.rotate(-1)
                    queue = self._queues[host]
                    if not queue:
                        continue
                    if self._slots[host].acquire(blocking=False):
                        self._pending -= 1
                        url = queue.popleft()
                        if not queue:
                            self._rotation.remove(host)
                        if self._pending == 0:
                            self._cond.notify_all()  # nothing left: let every waiter finish
                        return host, url
                self._cond.wait()

    def release(self, host: str) -> None:
        with self._cond:
            self._slots[host].release()
            # One slot freed, one waiter needed (waking all of them is a thundering herd).
            self._cond.notify()


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be requested at all (bad scheme, no host, bad port), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        return f"invalid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "invalid URL (not http or https)"
    if not parts.hostname:
        return "invalid URL (no host)"
    return None


def host_key(url: str) -> str:
    """What the per-host limit counts by: host and explicit port."""
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return ""


def is_arxiv_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (parts.hostname or "").lower() in ARXIV_HOSTS and parts.path.startswith(
        ("/abs/", "/pdf/")
    )


# ---------------------------------------------------------------------------------------------
# the checker


@dataclass
class _Outcome:
    """One attempt (HEAD, maybe GET, redirects followed)."""

    kind: str  #: response | error | dead | refused
    code: int | None = None
    phrase: str = ""
    final_url: str | None = None
    chain: list[str] = field(default_factory=list)
    permanent: bool = False
    retry_after: float | None = None
    message: str = ""
    retryable: bool = False


class HttpChecker:
    """Checks remote URLs; ``check_all`` returns one ``Result`` per distinct URL."""

    def __init__(
        self,
        config: Config,
        *,
        cache=None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        resolver: Callable[..., list] = socket.getaddrinfo,
    ) -> None:
        self.cfg = config
        self.cache = cache
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.guard = None if config.allow_private else AddressGuard(resolver)
        self._local = threading.local()
        self._sessions: list = []
        self._lock = threading.Lock()
        self._head_refused: set[str] = set()
        self.warnings: list[str] = []
        self.requests_made = 0

    # -- sessions -------------------------------------------------------------------------

    def make_session(self):
        import requests

        session = requests.Session()
        adapter = _guarded_adapter_class()(
            self.guard,
            pool_connections=max(8, min(self.cfg.concurrency, 128)),
            pool_maxsize=2,
            max_retries=0,
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": self.cfg.user_agent, "Accept": ACCEPT_HEADER})
        session.auth = _NoAuth()
        with self._lock:
            self._sessions.append(session)
        return session

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self.make_session()
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()

    # -- one URL ----------------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        with self._rng_lock:
            return backoff_delay(
                attempt, self.cfg.backoff_base, self.cfg.backoff_max, retry_after, self._rng
            )

    def check_url(self, url: str) -> Result:
        """Check one URL (no cache), with retries; never raises for network trouble."""
        started = time.time()
        problem = url_problem(url)
        if problem:
            return Result(url, Status.DEAD, problem, checked_at=started)
        attempts = 0
        while True:
            attempts += 1
            outcome = self._attempt(url)
            if not outcome.retryable or attempts > self.cfg.retries:
                break
            self._sleep(self._delay(attempts - 1, outcome.retry_after))
        return self._verdict(url, outcome, attempts, started)

    def _attempt(self, url: str) -> _Outcome:
        host = host_key(url)
        if host not in self._head_refused:
            out = self._follow(url, "HEAD")
            if (
                out.kind != "response"
                or out.code is None
                or out.code < 400
                or out.code in self.cfg.accept
                or out.code == 429
            ):
                return out
            if out.code in (405, 501):
                self._head_refused.add(host)  # this server will never answer HEAD: skip it
        return self._follow(url, "GET")

    def _follow(self, url: str, method: str) -> _Outcome:
        import requests

        current = url
        chain: list[str] = []
        permanent = False
        session = self._session()
        timeout = (self.cfg.connect_timeout, self.cfg.read_timeout)
        for _hop in range(self.cfg.max_redirects + 1):
            if self.guard is not None:
                try:
                    refusal = self.guard.refusal(current)
                except HostLookupError as exc:
                    # An error, not "dead": a resolver that is down looks the same from here.
                    return _Outcome("error", message=str(exc), chain=chain, retryable=exc.transient)
                if refusal:
                    where = "" if current == url else f" (redirect target {current})"
                    return _Outcome("refused", message=refusal + where, chain=chain)
            try:
                with self._lock:
                    self.requests_made += 1
                resp = session.request(
                    method, current, stream=True, allow_redirects=False, timeout=timeout
                )
            except PrivateAddressError as exc:
                return _Outcome(
                    "refused",
                    message=f"refused: private address ({exc.host} -> {exc.address} is {exc.why})",
                    chain=chain,
                )
            except requests.Timeout as exc:
                what = "connect timeout" if isinstance(exc, requests.ConnectTimeout) else "timeout"
                return _Outcome("error", message=what, chain=chain, retryable=True)
            except requests.exceptions.SSLError as exc:
                return _Outcome("error", message=f"TLS error: {_short(exc)}", chain=chain)
            except requests.ConnectionError as exc:
                return _Outcome(
                    "error",
                    message=f"connection failed: {_short(exc)}",
                    chain=chain,
                    retryable=True,
                )
            except (requests.RequestException, ValueError) as exc:
                return _Outcome("dead", message=f"invalid request: {_short(exc)}", chain=chain)
            code = resp.status_code
            phrase = resp.reason or ""
            location = resp.headers.get("Location")
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            self._finish(resp, method)
            if code in REDIRECT_CODES and location:
                target = urljoin(current, location.strip())
                if urlsplit(target).scheme.lower() not in ("http", "https"):
                    return _Outcome(
                        "dead",
                        code=code,
                        chain=chain,
                        message=f"redirects to unsupported URL {target}",
                    )
                chain.append(f"{code} {target}")
                permanent = permanent or code in PERMANENT_REDIRECTS
                if code == 303 and method != "HEAD":
                    method = "GET"
                current = target
                continue
            return _Outcome(
                "response",
                code=code,
                phrase=phrase,
                final_url=current,
                chain=chain,
                permanent=permanent,
                retry_after=retry_after,
                retryable=retryable_status(code),
            )
        return _Outcome(
            "dead",
            chain=chain,
            final_url=current,
            message=f"too many redirects (more than {self.cfg.max_redirects})",
        )

    @staticmethod
    def _finish(resp, method: str) -> None:
        """Never read a body: HEAD (and empty) responses give their connection back to the pool;
        anything with a body is closed unread (the connection is dropped, not drained)."""
        try:
            empty = (
                method == "HEAD"
                or resp.status_code in (204, 304)
                or resp.headers.get("Content-Length") == "0"
            )
            if empty:
                resp.raw.release_conn()
            else:
                resp.close()
        except Exception:  # noqa: BLE001 - a failed close must not fail the check
            resp.close()

    def _verdict(self, url: str, out: _Outcome, attempts: int, started: float) -> Result:
        result = Result(
            url=url,
            status=Status.DEAD,
            code=out.code,
            final_url=out.final_url if out.chain else None,
            redirects=len(out.chain),
            attempts=attempts,
            checked_at=started,
            via="http",
            chain=list(out.chain),
        )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if out.kind == "refused":
            result.status, result.reason = Status.REFUSED, out.message
        elif out.kind == "dead":
            result.status, result.reason = Status.DEAD, out.message
        elif out.kind == "error":
            result.status, result.reason = Status.ERROR, out.message + tries
        else:
            code = out.code or 0
            text = f"HTTP {code}" + (f" {out.phrase}" if out.phrase else "")
            if code in self.cfg.accept:
                if out.permanent:
                    result.status = Status.REDIRECTED
                    result.reason = (
                        f"permanently redirected ({len(out.chain)} hop"
                        f"{'s' if len(out.chain) != 1 else ''}) to {out.final_url}"
                    )
                else:
                    result.status = Status.OK
                    result.reason = text + (
                        f" via {len(out.chain)} redirect(s)" if out.chain else ""
                    )
            elif code in self.cfg.needs_human:
                result.status = Status.NEEDS_HUMAN
                result.reason = f"{text}{tries}: probably a bot wall, check it in a browser"
            elif code in REDIRECT_CODES:
                result.reason = f"{text} without a Location header"
            else:
                result.reason = text + tries
        return result

    # -- many URLs --------------------------------------------------------------------------

    def _check_arxiv(self, urls: list[str]) -> dict[str, Result] | None:
        """Verify arXiv abs/pdf URLs through the API; None when the API itself failed."""
        from .. import arxiv

        started = time.time()
        session = self.make_session()
        try:
            records = arxiv.fetch(
                urls,
                api_url=self.cfg.arxiv_api_url,
                session=session,
                batch_size=self.cfg.arxiv_batch_size,
                min_interval=self.cfg.arxiv_min_interval,
                retries=self.cfg.retries,
                timeout=self.cfg.read_timeout,
                backoff=self.cfg.backoff_base,
                max_wait=self.cfg.backoff_max,
            )
        except Exception as exc:  # noqa: BLE001 - any API failure falls back to plain HTTP
            self.warnings.append(
                f"arXiv API at {self.cfg.arxiv_api_url} failed ({_short(exc)}); "
                f"checked {len(urls)} arXiv link(s) over plain HTTP instead"
            )
            return None
        out: dict[str, Result] = {}
        for url in urls:
            record = records.get(url)
            if record is not None:
                reason = f"arXiv {record.versioned_id}: {_clip(record.title, 70)}"
                out[url] = Result(url, Status.OK, reason, checked_at=started, via="arxiv-api")
            else:
                why = records.errors.get(url)
                try:
                    base, version = arxiv.normalize_id(url)
                    ident = base + (f"v{version}" if version else "")
                except ValueError:
                    ident = url
                reason = why or f"arXiv has no paper {ident}"
                out[url] = Result(url, Status.DEAD, reason, checked_at=started, via="arxiv-api")
        return out

    def check_all(self, urls: Iterable[str]) -> dict[str, Result]:
        """Results for every distinct URL: cached ones first, the rest checked concurrently."""
        results: dict[str, Result] = {}
        todo: list[str] = []
        for url in dict.fromkeys(urls):
            hit = self.cache.get(url) if self.cache is not None else None
            if hit is not None:
                results[url] = hit
            else:
                todo.append(url)
        arxiv_urls = [u for u in todo if self.cfg.arxiv_api and is_arxiv_url(u)]
        via_api = set(arxiv_urls)
        http_urls = [u for u in todo if u not in via_api]

        arxiv_box: dict[str, dict[str, Result] | None] = {}
        arxiv_thread = None
        if arxiv_urls:
            arxiv_thread = threading.Thread(
                target=lambda: arxiv_box.__setitem__("r", self._check_arxiv(arxiv_urls)),
                name="links-arxiv",
                daemon=True,
            )
            arxiv_thread.start()
        try:
            results.update(self._check_many(http_urls))
            if arxiv_thread is not None:
                arxiv_thread.join()
                verified = arxiv_box.get("r")
                if verified is None:
                    results.update(self._check_many(arxiv_urls))
                else:
                    results.update(verified)
        finally:
            self.close()
        if self.cache is not None:
            for result in results.values():
                self.cache.put(result)
        return results

    def _check_many(self, urls: list[str]) -> dict[str, Result]:
        if not urls:
            return {}
        scheduler = HostScheduler(urls, self.cfg.per_host)
        results: dict[str, Result] = {}
        lock = threading.Lock()

        def worker() -> None:
            while True:
                job = scheduler.take()
                if job is None:
                    return
                host, url = job
                try:
                    result = self.check_url(url)
                except Exception as exc:  # noqa: BLE001 - one bad URL must not stop the run
                    result = Result(
                        url, Status.ERROR, f"checker error: {_short(exc)}", checked_at=time.time()
                    )
                finally:
                    scheduler.release(host)
                with lock:
                    results[url] = result

        workers = min(self.cfg.concurrency, len(urls))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="links") as pool:
            futures = [pool.submit(worker) for _ in range(workers)]
            for f in futures:
                f.result()
        return results


def _short(exc: BaseException) -> str:
    """A one-line reason from requests' nested exception messages.

    urllib3 wraps the useful part (``[Errno 111] Connection refused``) in layers of reprs; dig
    it out, with the host when one is named.
    """
    text = str(exc) or type(exc).__name__
    errno_text = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno_text:
        host = re.search(r"host='([^']+)'", text)
        detail = errno_text.group(1).strip()
        return f"{host.group(1)}: {detail}" if host else detail
    for marker in ("Caused by ", "caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = " ".join(text.split())
    return _clip(text.strip("()'\" "), 160)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
