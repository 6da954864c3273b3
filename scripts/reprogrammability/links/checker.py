"""The HTTP engine: many URLs, checked concurrently, politely, cheaply and safely.

- **Concurrency.** ``concurrency`` worker threads (the global limit) share one ``Transport``
  (``transport.py``: one pool of keep-alive connections per host, on http.client alone, since
  requests' and urllib3's per-request machinery cost most of the CPU). A scheduler hands out
  URLs round-robin across hosts and holds a per-host semaphore for each request in flight, so one
  slow host never occupies every worker, no host sees more than ``per_host`` requests at once,
  and no host gets more than ``per_host`` connections (idle ones are reused).
- **Cheap.** HEAD first; GET when HEAD is refused or fails (405, 501, 403-on-HEAD, a HEAD that
  times out or is dropped). A body is drained when small (so its connection is reused) and the
  connection closed when it is large: a multi-gigabyte PDF costs a few kilobytes. Redirects are
  followed by hand (bounded) so every hop is guarded and reported.
- **Bounded.** Every request has a deadline (connect, headers and body together): a watchdog
  thread shuts the socket of a request that runs past it, so a server trickling one byte at a
  time cannot hold a link "in progress" for longer than the timeout.
- **Patient.** Timeouts, dropped connections, 5xx, 408 and 429 are retried with exponential
  backoff and jitter, honouring ``Retry-After`` (seconds or HTTP date), every wait capped. A host
  name that does not exist is not retried (a resolver that is down is), with or without the
  address guard. 403/429/999 that persist are bot walls: "needs human", not dead.
- **Fragments.** ``page.html#section`` is fetched with GET and the HTML streamed only until an
  element with that ``id`` (or an ``<a name>``) appears, at most ``MAX_SCAN_BYTES``.
- **Safe.** Pull requests choose the URLs, so private, loopback, link-local, multicast, reserved
  and unspecified targets are refused: before connecting (every address the name resolves to) and
  again on the connected socket's peer address (so DNS rebinding cannot slip through), for every
  redirect hop. ``allow_private`` lifts the rule; ``allow_private_hosts`` lifts it only for named
  hosts, addresses and networks (a local mirror). Proxies from the environment and credentials
  from ``~/.netrc`` are never used.
- **arXiv.** ``arxiv.org/abs|pdf/ID`` links are verified in batches through the arXiv API
  (``reprogrammability.arxiv.fetch``) instead of one polite-but-slow page request each.
"""

from __future__ import annotations

import collections
import functools
import heapq
import http.client
import ipaddress
import random
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit

from ..retry import backoff_delay, parse_retry_after, retryable_status
from .config import Config, parse_allow_entry
from .results import Result, Status
from .transport import ConnectTimeoutError, Transport

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
ARXIV_HOSTS = frozenset({"arxiv.org", "www.arxiv.org", "export.arxiv.org"})
ACCEPT_HEADER = "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.8"
#: A body up to this size is read to the end so its connection can serve the next request;
#: a larger one (or one announcing a larger Content-Length) is abandoned and its connection closed.
DRAIN_LIMIT = 256 * 1024
#: How much of an HTML page is read looking for a ``#fragment``'s anchor.
MAX_SCAN_BYTES = 4 * 1024 * 1024
_HTML_TYPES = ("text/html", "application/xhtml+xml")


# ---------------------------------------------------------------------------------------------
# address guard


class PrivateAddressError(Exception):
    """Raised from the connect hook when a socket connected to a refused address.

    Deliberately not an ``OSError``: no HTTP layer may turn it into a retryable connection error.
    """

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} connected to {address} ({why})")
        self.host, self.address, self.why = host, address, why


class HostLookupError(Exception):
    def __init__(self, host: str, message: str, transient: bool) -> None:
        super().__init__(message)
        self.host, self.transient = host, transient


def lookup_error(host: str, exc: socket.gaierror | UnicodeError) -> HostLookupError:
    """One wording and one retry rule for a failed name lookup, wherever it failed (the guard's
    own lookup or the connection's): only a resolver that is struggling (EAI_AGAIN) is worth retrying;
    a name that does not exist will not exist a second later either."""
    if isinstance(exc, UnicodeError):
        return HostLookupError(host, f"invalid host name {host!r}", transient=False)
    transient = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
    return HostLookupError(host, f"host not found: {host} ({exc.strerror or exc})", transient)


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


class AllowList:
    """Hosts, addresses and networks that may be contacted although they are not public.

    A host name (``mirror.lan``) allows that name whatever it resolves to; an address
    (``10.0.0.5``, ``::1``) or network (``10.0.0.0/8``) allows any host that resolves (and
    connects) there. Entries are validated by ``config.parse_allow_entry``.
    """

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            kind, value = parse_allow_entry(entry, "allow_private_hosts")
            if kind == "host":
                self.hosts.add(value)
            else:
                self.networks.append(value)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)

    def allows_host(self, host: str) -> bool:
        return host.rstrip(".").lower() in self.hosts

    def allows_address(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


class AddressGuard:
    """Resolves hosts (once each) and refuses URLs whose host is, or resolves to, a non-public
    address, unless ``allow_all`` or the allowlist says otherwise.

    Name lookups go through here even when everything is allowed, so a host that does not exist
    is reported, and retried, the same way with or without the guard.
    """

    def __init__(
        self,
        resolver: Callable[..., list] = socket.getaddrinfo,
        *,
        allow_all: bool = False,
        allow: Iterable[str] = (),
    ) -> None:
        self._resolver = resolver
        self._resolved: dict[tuple[str, int], list[str] | HostLookupError] = {}
        self._lock = threading.Lock()
        self.allow_all = allow_all
        self.allow = AllowList(allow)

    def _addresses(self, host: str, port: int) -> list[str]:
        key = (host, port)
        with self._lock:
            known = self._resolved.get(key)
        if known is None:
            try:
                infos = self._resolver(host, port, 0, socket.SOCK_STREAM)
                known = sorted({info[4][0] for info in infos})
            except (UnicodeError, socket.gaierror) as exc:
                known = lookup_error(host, exc)
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
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            literal = True
        except ValueError:
            literal = False
        host_allowed = self.allow_all or self.allow.allows_host(host)
        if not literal and (host == "localhost" or host.endswith(".localhost")):
            if host_allowed:
                return None
            if not self.allow.networks:
                return f"refused: private address ({host} is loopback)"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = [host] if literal else self._addresses(host, port)
        if host_allowed:
            return None
        for address in addresses:
            why = address_problem(address)
            if why and not self.allow.allows_address(address):
                shown = host if literal else f"{host} -> {address}"
                return f"refused: private address ({shown} is {why})"
        return None

    def check_peer(self, sock: socket.socket, host: str) -> None:
        """Called on every new connection: the address actually connected to must be public."""
        if self.allow_all or self.allow.allows_host(host):
            return
        try:
            peer = sock.getpeername()[0]
        except OSError:
            return
        why = address_problem(peer)
        if why and not self.allow.allows_address(peer):
            raise PrivateAddressError(host, peer, why)


# ---------------------------------------------------------------------------------------------
# deadlines


class Deadline:
    """One request's end time and the sockets it uses, which the watchdog shuts when it passes."""

    __slots__ = ("at", "done", "fired", "seconds", "socks")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.socks: list[socket.socket] = []
        self.fired = False
        self.done = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def __lt__(self, other: Deadline) -> bool:
        return self.at < other.at


def _shut(sock: socket.socket) -> None:
    """Wake whoever is blocked reading ``sock``; the base method, so a TLS socket is shut too."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class Watchdog:
    """Ends requests that run past their deadline.

    A socket timeout bounds each read, not the request: a server sending one byte per second
    never trips a 5 s read timeout. One daemon thread keeps the deadlines in a heap and shuts the
    sockets of any request still running when its deadline passes; the blocked read then fails
    and the request is reported as a timeout. Finished requests are dropped lazily, and the
    thread wakes at most every ``GRANULARITY`` seconds, so the cost per request is one heap push.
    """

    GRANULARITY = 0.05

    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self._stopped = False

    @property
    def current(self) -> Deadline | None:
        """The deadline of the request this thread is making (sockets it opens attach to it)."""
        return getattr(self._local, "deadline", None)

    def start(self, seconds: float) -> Deadline:
        deadline = Deadline(seconds)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="links-watchdog", daemon=True)
                self._thread.start()
            earliest = not self._heap or deadline.at < self._heap[0].at
            heapq.heappush(self._heap, deadline)
            if earliest:
                self._cond.notify()
        self._local.deadline = deadline
        return deadline

    def attach(self, deadline: Deadline, sock: socket.socket) -> None:
        with self._cond:
            if deadline.done:
                return
            if deadline.fired:
                _shut(sock)
            else:
                deadline.socks.append(sock)

    def finish(self, deadline: Deadline) -> bool:
        """Mark the request finished; True when the deadline had already fired (the socket is
        then shut and must not go back to the pool)."""
        with self._cond:
            deadline.done = True
            deadline.socks.clear()
        if getattr(self._local, "deadline", None) is deadline:
            self._local.deadline = None
        return deadline.fired

    def stop(self) -> None:
        """End the thread (a checker is done); a later ``start`` begins a new one."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        with self._cond:
            self._stopped = False

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                while self._heap and self._heap[0].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0].at - time.monotonic()
                if wait > 0:
                    self._cond.wait(max(wait, self.GRANULARITY))
                    continue
                now = time.monotonic()
                while self._heap and self._heap[0].at <= now:
                    expired = heapq.heappop(self._heap)
                    if not expired.done:
                        expired.fired = True
                        for sock in expired.socks:
                            _shut(sock)


def _guarded_pool_classes(guard: AddressGuard) -> dict[str, type]:
    """urllib3 pool classes whose new connections are checked against ``guard`` (for the
    requests session the arXiv API client uses; the checker's own requests go through
    ``transport``). Built lazily, so importing this module does not import urllib3."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def guarded(base: type) -> type:
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

    class Pool(HTTPConnectionPool):
        ConnectionCls = guarded(HTTPConnection)

    class SPool(HTTPSConnectionPool):
        ConnectionCls = guarded(HTTPSConnection)

    return {"http": Pool, "https": SPool}


@functools.lru_cache(maxsize=1)
def _guarded_adapter_class():
    """A requests ``HTTPAdapter`` with guarded connections (for the arXiv API client)."""
    from requests.adapters import HTTPAdapter

    class GuardedAdapter(HTTPAdapter):
        def __init__(self, guard: AddressGuard, **kwargs) -> None:
            self._guard = guard
            super().__init__(**kwargs)

        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = _guarded_pool_classes(self._guard)

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
        #: the most requests the per-host limits allow at once: more workers would only wait
        #: (and be woken for nothing at every release)
        self.most_in_flight = sum(min(per_host, len(q)) for q in self._queues.values())

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
# fragments


_LINE_ANCHOR = re.compile(r"L\d+(C\d+)?(-L\d+(C\d+)?)?")


def checkable_fragment(fragment: str) -> bool:
    """Whether ``#fragment`` names an element a page's HTML should contain.

    Not checked: ``#top`` (browsers scroll to the top without an element), GitHub line anchors
    (``#L10-L20``, drawn by script), text fragments (``#:~:text=``), script routes (``#/path``,
    ``#!path``) and key=value viewer state (``#page=3`` in a PDF).
    """
    return bool(
        fragment
        and fragment.lower() != "top"
        and not _LINE_ANCHOR.fullmatch(fragment)
        and not fragment.startswith(("/", "!", ":~:"))
        and "=" not in fragment
    )


@functools.lru_cache(maxsize=4096)
def _anchor_pattern(fragment: str) -> re.Pattern[bytes]:
    """Bytes regex for an element whose ``id`` (or ``name``) is ``fragment``, quoted or not.

    GitHub renders a README's heading ids as ``user-content-<slug>`` and scrolls to ``#<slug>``
    by script, so that prefix is accepted too. The value is matched literally and as HTML
    escapes it (``&amp;``), case-sensitively, as browsers do.
    """
    import html

    value = unquote(fragment)
    forms = {value, html.escape(value, quote=True)}
    alternatives = b"|".join(re.escape(f.encode("utf-8")) for f in sorted(forms))
    v = b"(?:user-content-)?(?:" + alternatives + b")"
    return re.compile(
        rb"[\s\"'](?i:id|name)\s*=\s*(?:\"" + v + rb"\"|'" + v + rb"'|" + v + rb"(?=[\s>/]))"
    )


def _decoder(encoding: str | None) -> Callable[[bytes, int], bytes] | None:
    """A function decompressing the next piece of a gzip/deflate body, at most ``limit`` bytes
    out per call (a small compressed page may inflate to gigabytes)."""
    import zlib

    encoding = (encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        d = zlib.decompressobj(zlib.MAX_WBITS)  # zlib-wrapped, as the RFC says
    else:
        return None

    def decode(data: bytes, limit: int) -> bytes:
        return d.decompress(data, max(1, limit))

    return decode


@dataclass
class FragmentScan:
    """What reading an HTML page for anchors found."""

    found: set[str]
    complete: bool  #: the whole page was read (so an anchor not found is not there)
    html: bool = True  #: False: not an HTML page, nothing was looked for
    read: int = 0  #: bytes of (decoded) page read


# ---------------------------------------------------------------------------------------------
# errors


def describe_error(exc: BaseException, host: str | None = None) -> tuple[str, str, bool]:
    """``(kind, message, retryable)`` for a failed request: one readable sentence, never a nested
    repr (``Connection aborted.', ConnectionResetError(104, ...)``). Understands the standard
    library's exceptions (the checker's transport) and, when loaded, urllib3's (the arXiv
    client goes through requests), which wrap the same causes."""
    u3 = sys.modules.get("urllib3.exceptions")

    def u3types(*names: str) -> tuple[type, ...]:
        return tuple(getattr(u3, n) for n in names if hasattr(u3, n)) if u3 else ()

    seen: list[BaseException] = []
    cause: BaseException | None = exc
    protocol = u3types("ProtocolError")
    while cause is not None and len(seen) < 8:
        seen.append(cause)
        nxt = cause.__cause__ or cause.__context__
        if nxt is None and protocol and isinstance(cause, protocol) and len(cause.args) > 1:
            arg = cause.args[1]
            nxt = arg if isinstance(arg, BaseException) else None
        nxt = nxt or getattr(cause, "reason", None) if not isinstance(cause, ssl.SSLError) else nxt
        cause = nxt if isinstance(nxt, BaseException) else None

    def first(*types: type) -> BaseException | None:
        return next((e for e in seen if types and isinstance(e, types)), None)

    def one_line(e: BaseException) -> str:
        return _clip(" ".join(str(e).split()), 120)

    if (e := first(PrivateAddressError)) is not None:
        assert isinstance(e, PrivateAddressError)
        return "refused", f"refused: private address ({e.host} -> {e.address} is {e.why})", False
    if (e := first(socket.gaierror)) is not None:
        named = getattr(first(*u3types("NameResolutionError")), "host", None)
        err = lookup_error(host or named or "host", e)  # type: ignore[arg-type]
        return "error", str(err), err.transient
    if first(ConnectTimeoutError, *u3types("ConnectTimeoutError")) is not None:
        return "error", "connect timeout", True
    if first(TimeoutError, socket.timeout, *u3types("ReadTimeoutError")) is not None:
        return "error", "timeout", True
    if (e := first(ssl.SSLCertVerificationError)) is not None:
        detail = getattr(e, "verify_message", "") or "certificate not trusted"
        return "error", f"TLS error: {detail}", False
    if (e := first(ssl.SSLError)) is not None:
        return "error", f"TLS error: {getattr(e, 'reason', None) or one_line(e)}", False
    if first(ConnectionRefusedError) is not None:
        return "error", "connection refused", True
    if first(http.client.RemoteDisconnected) is not None:  # a ConnectionResetError subclass
        return "error", "the server closed the connection without answering", True
    if first(ConnectionResetError) is not None:
        return "error", "connection reset by the server", True
    if first(http.client.IncompleteRead, *u3types("IncompleteRead")) is not None:
        return "error", "the connection closed before the answer was complete", True
    if first(ConnectionAbortedError, BrokenPipeError) is not None:
        return "error", "the connection was dropped", True
    invalid = (http.client.InvalidURL, *u3types("LocationParseError", "LocationValueError"))
    if (e := first(*invalid)) is not None:
        return "dead", f"invalid URL ({one_line(e)})", False
    if (e := first(http.client.HTTPException)) is not None:
        return "error", f"invalid answer: {one_line(e)}", True
    if (e := first(ValueError)) is not None:  # a redirect to a URL that cannot be requested
        return "dead", f"invalid URL ({one_line(e)})", False
    if (e := first(OSError)) is not None:
        assert isinstance(e, OSError)
        return "error", f"connection failed: {e.strerror or one_line(e)}", True
    return "error", f"request failed: {type(exc).__name__}", True


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
    #: the request was sent but no answer came (timeout, reset): worth a GET after a HEAD
    unanswered: bool = False
    scan: FragmentScan | None = None


class HttpChecker:
    """Checks remote URLs; ``check_all`` returns one ``Result`` per distinct URL (and per
    ``URL#fragment`` asked for)."""

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
        self.guard = AddressGuard(
            resolver, allow_all=config.allow_private, allow=config.allow_private_hosts
        )
        self.watchdog = Watchdog()
        #: the most one request may take, connect, headers and body together
        self.deadline = max(config.connect_timeout, config.read_timeout)
        self.transport = Transport(
            {
                "User-Agent": config.user_agent,
                "Accept": ACCEPT_HEADER,
                "Accept-Encoding": "gzip, deflate",
            },
            on_socket=self._on_socket,
            max_idle_per_host=max(config.per_host, config.concurrency),
        )
        self._sessions: list = []
        self._lock = threading.Lock()
        #: hosts that refused a HEAD (405/501) and never answered one: GET only from then on
        self._head_refused: set[str] = set()
        #: hosts that answered a HEAD: one URL refusing it does not make the host GET-only
        self._head_answered: set[str] = set()
        self.warnings: list[str] = []
        self.requests_made = 0

    # -- connections ----------------------------------------------------------------------

    def _on_socket(self, sock: socket.socket, host: str) -> None:
        """Every new connection, before a byte is sent: the address actually connected to must
        be allowed (DNS rebinding), and the socket joins the current request's deadline."""
        self.guard.check_peer(sock, host)
        current = self.watchdog.current
        if current is not None:
            self.watchdog.attach(current, sock)

    def make_session(self):
        """A requests session with guarded connections (the arXiv API client takes one)."""
        import requests

        session = requests.Session()
        adapter = _guarded_adapter_class()(self.guard, pool_connections=4, pool_maxsize=2, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": self.cfg.user_agent, "Accept": ACCEPT_HEADER})
        session.auth = _NoAuth()
        session.trust_env = False  # no proxies or .netrc from the environment
        with self._lock:
            self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for s in sessions:
            s.close()
        self.transport.close()
        self.watchdog.stop()

    # -- one URL ----------------------------------------------------------------------------

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        with self._rng_lock:
            return backoff_delay(
                attempt, self.cfg.backoff_base, self.cfg.backoff_max, retry_after, self._rng
            )

    def check_url(self, url: str) -> Result:
        """Check one URL (no cache), with retries; never raises for network trouble."""
        return self.check_with_fragments(url, frozenset())[0]

    def check_with_fragments(
        self, url: str, fragments: frozenset[str]
    ) -> tuple[Result, dict[str, Result]]:
        """The URL's result, and one per fragment (keyed ``URL#fragment``) when any are asked
        for: then the page is fetched with GET and read for their anchors."""
        started = time.time()
        problem = url_problem(url)
        if problem:
            result = Result(url, Status.DEAD, problem, checked_at=started)
            return result, {f"{url}#{f}": result for f in fragments}
        attempts = 0
        skip_head = bool(fragments)
        while True:
            attempts += 1
            outcome = self._attempt(url, fragments, skip_head)
            if outcome.kind == "error" and outcome.unanswered:
                skip_head = True  # HEAD went unanswered once: retries go straight to GET
            if not outcome.retryable or attempts > self.cfg.retries:
                break
            self._sleep(self._delay(attempts - 1, outcome.retry_after))
        result = self._verdict(url, outcome, attempts, started)
        return result, self._fragment_verdicts(url, result, outcome, fragments)

    def _attempt(self, url: str, fragments: frozenset[str], skip_head: bool) -> _Outcome:
        host = host_key(url)
        if not skip_head and host not in self._head_refused:
            out = self._follow(url, "HEAD", fragments)
            if out.kind == "response":
                if (
                    out.code is None
                    or out.code < 400
                    or out.code in self.cfg.accept
                    or out.code == 429
                ):
                    if host not in self._head_answered:
                        with self._lock:
                            self._head_answered.add(host)
                    return out
                if out.code in (405, 501) and host not in self._head_answered:
                    # This server does not do HEAD: skip it for the rest of its links (a small
                    # GET body is drained and its connection reused). A server that has answered
                    # HEAD before keeps it: one odd URL must not cost every other a body.
                    with self._lock:
                        self._head_refused.add(host)
            elif not (out.kind == "error" and out.unanswered):
                return out  # refused, dead, or no connection at all: a GET would fare no better
        return self._follow(url, "GET", fragments)

    def _follow(self, url: str, method: str, fragments: frozenset[str]) -> _Outcome:
        current = url
        chain: list[str] = []
        permanent = False
        for _hop in range(self.cfg.max_redirects + 1):
            try:
                refusal = self.guard.refusal(current)
            except HostLookupError as exc:
                # An error, not "dead": a resolver that is down looks the same from here.
                return _Outcome("error", message=str(exc), chain=chain, retryable=exc.transient)
            if refusal:
                where = "" if current == url else f" (redirect target {current})"
                return _Outcome("refused", message=refusal + where, chain=chain)
            with self._lock:
                self.requests_made += 1
            deadline = self.watchdog.start(self.deadline)
            try:
                resp, key, conn = self.transport.request(
                    method,
                    current,
                    connect_timeout=max(0.001, min(self.cfg.connect_timeout, deadline.remaining())),
                    read_timeout=functools.partial(self._read_timeout, deadline),
                    on_connected=functools.partial(self.watchdog.attach, deadline),
                )
            except Exception as exc:  # noqa: BLE001 - every failure becomes a verdict
                fired = self.watchdog.finish(deadline)
                return self._failure(exc, fired, chain, urlsplit(current).hostname)
            code = resp.status
            phrase = resp.reason or ""
            location = resp.getheader("Location")
            retry_after = parse_retry_after(resp.getheader("Retry-After"))
            redirect = code in REDIRECT_CODES and bool(location)
            scan = None
            if fragments and method == "GET" and not redirect and 200 <= code < 300:
                scan, reusable = self._scan(resp, fragments)
            else:
                reusable = self._drain(resp, method)
            fired = self.watchdog.finish(deadline)
            if reusable and not fired:
                self.transport.give_back(key, conn)
            else:
                resp.close()
                conn.close()
            if redirect:
                assert location is not None
                try:
                    target = urljoin(current, location.strip())
                    problem = url_problem(target)
                except ValueError as exc:
                    target, problem = location.strip(), f"invalid URL ({exc})"
                if problem:
                    what = "unsupported URL" if "not http" in problem else problem
                    return _Outcome(
                        "dead", code=code, chain=chain, message=f"redirects to {what} {target}"
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
                scan=scan,
            )
        return _Outcome(
            "dead",
            chain=chain,
            final_url=current,
            message=f"too many redirects (more than {self.cfg.max_redirects})",
        )

    def _read_timeout(self, deadline: Deadline) -> float:
        """The socket timeout for one read: never beyond the request's deadline."""
        return max(0.001, min(self.cfg.read_timeout, deadline.remaining()))

    def _failure(
        self, exc: BaseException, fired: bool, chain: list[str], host: str | None
    ) -> _Outcome:
        if fired:
            return _Outcome(
                "error",
                message=f"timeout (no complete answer within {self.deadline:g} s)",
                chain=chain,
                retryable=True,
                unanswered=True,
            )
        kind, message, retryable = describe_error(exc, host)
        # A HEAD that was sent but never answered (timed out, reset, dropped) may be a server
        # that mishandles HEAD: the caller tries GET. A failed connect or lookup is not that.
        unanswered = kind == "error" and not message.startswith(
            ("connect timeout", "connection refused", "host not found", "TLS error", "invalid")
        )
        return _Outcome(kind, message=message, chain=chain, retryable=retryable, unanswered=unanswered)

    @staticmethod
    def _drain(resp: http.client.HTTPResponse, method: str) -> bool:
        """Read a small body to its end so the connection can be reused; True when it was.

        A body larger than ``DRAIN_LIMIT`` (announced or found) is abandoned: closing the
        connection is cheaper than downloading a PDF to keep it. Read as sent (compressed).
        """
        try:
            if method == "HEAD" or resp.length == 0:
                resp.read()  # nothing, but http.client needs it read to send the next request
                return True
            if resp.length is not None and resp.length > DRAIN_LIMIT:
                return False
            read = 0
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    resp.read()  # marks the answer complete (read1 alone never does)
                    return resp.isclosed()
                read += len(chunk)
                if read > DRAIN_LIMIT:
                    return False
        except Exception:  # noqa: BLE001 - a body that fails to arrive just costs its connection
            return False

    def _scan(
        self, resp: http.client.HTTPResponse, fragments: frozenset[str]
    ) -> tuple[FragmentScan, bool]:
        """Stream an HTML page until every fragment's anchor is found (or ``MAX_SCAN_BYTES`` of
        it, decompressed, have been read)."""
        ctype = (resp.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype and ctype not in _HTML_TYPES:
            return FragmentScan(set(), complete=True, html=False), self._drain(resp, "GET")
        wanted = {f: _anchor_pattern(f) for f in fragments if checkable_fragment(f)}
        decoder = _decoder(resp.getheader("Content-Encoding"))
        found: set[str] = set()
        total = 0
        tail = b""
        overlap = 256 + max((len(f.encode()) for f in wanted), default=0) * 6
        complete = False
        try:
            while len(found) < len(wanted) and total < MAX_SCAN_BYTES:
                raw = resp.read1(min(65536, MAX_SCAN_BYTES - total))
                if not raw:
                    resp.read()  # marks the answer complete (read1 alone never does)
                    complete = True
                    break
                chunk = decoder(raw, MAX_SCAN_BYTES - total) if decoder else raw
                total += len(chunk)
                window = tail + chunk
                for fragment, pattern in wanted.items():
                    if fragment not in found and pattern.search(window):
                        found.add(fragment)
                tail = window[-overlap:]
        except Exception:  # noqa: BLE001 - a page cut short: what was found still counts
            complete = False
        # Stopped early (every anchor found, or the cap): the rest is not worth reading.
        return FragmentScan(found, complete=complete, read=total), complete and resp.isclosed()

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

    def _fragment_verdicts(
        self, url: str, result: Result, out: _Outcome, fragments: frozenset[str]
    ) -> dict[str, Result]:
        """One result per ``URL#fragment``: the page's own when it failed, else whether the page
        has the anchor (a page read only in part cannot say an anchor is missing)."""
        verdicts: dict[str, Result] = {}
        for fragment in sorted(fragments):
            key = f"{url}#{fragment}"
            scan = out.scan
            if result.status not in (Status.OK, Status.REDIRECTED) or scan is None:
                verdicts[key] = result
                continue

            def own(status: Status, reason: str, key: str = key) -> Result:
                return Result(
                    key,
                    status,
                    reason,
                    code=result.code,
                    final_url=result.final_url,
                    redirects=result.redirects,
                    attempts=result.attempts,
                    checked_at=result.checked_at,
                    chain=list(result.chain),
                )

            if not scan.html:
                verdicts[key] = own(Status.OK, "fragment not checked (not an HTML page)")
            elif not checkable_fragment(fragment):
                verdicts[key] = own(Status.OK, "fragment not checked (not an element id)")
            elif fragment in scan.found:
                verdicts[key] = (
                    result
                    if result.status is Status.REDIRECTED
                    else own(Status.OK, f"HTTP {result.code}, anchor #{fragment} found")
                )
            elif scan.complete:
                verdicts[key] = own(
                    Status.DEAD, f"no anchor #{unquote(fragment)} in the page (HTTP {result.code})"
                )
            else:
                verdicts[key] = own(
                    Status.OK,
                    f"anchor #{fragment} not in the first {scan.read // 1024} KiB "
                    "(the rest of the page was not read)",
                )
        return verdicts

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

    def check_all(
        self, urls: Iterable[str], fragments: dict[str, set[str]] | None = None
    ) -> dict[str, Result]:
        """Results for every distinct URL, and for every ``URL#fragment`` in ``fragments``
        (fragments wanted per URL): cached ones first, the rest checked concurrently.

        A URL whose fragments are all cached (and the URL too) is not requested; otherwise it is
        fetched with GET and read for the anchors not cached.
        """
        fragments = fragments or {}
        results: dict[str, Result] = {}
        todo: list[str] = []
        wanted: dict[str, frozenset[str]] = {}
        for url in dict.fromkeys([*urls, *fragments]):
            cached = self.cache is not None
            hit = self.cache.get(url) if cached else None
            missing = []
            for fragment in sorted(fragments.get(url, ())):
                key = f"{url}#{fragment}"
                frag_hit = self.cache.get(key) if cached else None
                if frag_hit is None:
                    missing.append(fragment)
                else:
                    results[key] = frag_hit
            if hit is not None and not missing:
                results[url] = hit
            else:
                todo.append(url)
                if missing:
                    wanted[url] = frozenset(missing)
        arxiv_urls = [
            u for u in todo if self.cfg.arxiv_api and is_arxiv_url(u) and u not in wanted
        ]
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
            results.update(self._check_many(http_urls, wanted))
            if arxiv_thread is not None:
                arxiv_thread.join()
                verified = arxiv_box.get("r")
                if verified is None:
                    results.update(self._check_many(arxiv_urls, {}))
                else:
                    results.update(verified)
        finally:
            self.close()
        if self.cache is not None:
            for result in results.values():
                self.cache.put(result)
        return results

    def _check_many(
        self, urls: list[str], fragments: dict[str, frozenset[str]]
    ) -> dict[str, Result]:
        if not urls:
            return {}
        scheduler = HostScheduler(urls, self.cfg.per_host)
        results: dict[str, Result] = {}
        lock = threading.Lock()

        failures: list[BaseException] = []

        def worker() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                failures.append(exc)

        def work() -> None:
            while True:
                job = scheduler.take()
                if job is None:
                    return
                host, url = job
                wanted = fragments.get(url, frozenset())
                try:
                    result, extra = self.check_with_fragments(url, wanted)
                except Exception as exc:  # noqa: BLE001 - one bad URL must not stop the run
                    result = Result(
                        url, Status.ERROR, f"checker error: {_short(exc)}", checked_at=time.time()
                    )
                    extra = {f"{url}#{f}": result for f in wanted}
                finally:
                    scheduler.release(host)
                with lock:
                    results[url] = result
                    results.update(extra)

        workers = min(self.cfg.concurrency, scheduler.most_in_flight)
        # Plain threads: concurrent.futures would import logging (and more) for nothing.
        threads = [
            threading.Thread(target=worker, name=f"links-{i}", daemon=True) for i in range(workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        return results


def _short(exc: BaseException) -> str:
    """A one-line reason for any failure (from urllib3, requests or the arXiv client)."""
    _kind, message, _retryable = describe_error(exc)
    if not message.startswith("request failed:"):
        return message
    text = " ".join((str(exc) or type(exc).__name__).split())
    return _clip(text.strip("()'\" "), 160)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
