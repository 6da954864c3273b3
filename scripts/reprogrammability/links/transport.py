"""HTTP/1.1 keep-alive connections for the link checker, on the standard library alone.

Why not requests or urllib3: a link check is one small request whose answer is mostly thrown
away, thousands of times. requests' per-request machinery (environment proxies, cookies, hooks,
retries objects) and urllib3's import and wrapping cost several times the CPU of the work itself
(measured in ``benchmarks/bench_links.py``); what the checker needs from them is small:

- one pool of idle connections per (scheme, host, port), shared by every worker thread, so a host
  gets as many connections as it has requests in flight and no more;
- a connection is handed back only when its answer was read to the end (http.client refuses to
  send the next request otherwise), and an idle one the server has closed is noticed before use
  (and a request that fails on a reused connection is sent once more on a fresh one: the server
  may have closed it just as it was picked);
- every new socket goes through the caller's ``on_socket`` hook before a byte is sent (the
  address guard checks the peer there, the deadline watchdog takes the socket);
- TLS with certificate and host-name verification (certifi's bundle when installed, else the
  system's), SNI, and no proxies or credentials from the environment.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Callable
from urllib.parse import quote, urlsplit

#: characters a request target keeps as they are (RFC 3986 reserved and unreserved, and ``%``)
_SAFE = "/%:@!$&'()*+,;=-._~"


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server's EOF (it closed it) or
    bytes nobody asked for. Either way it cannot carry the next request. ``poll`` where there is
    one (``select`` cannot watch descriptors past FD_SETSIZE)."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class ConnectTimeoutError(TimeoutError):
    """The TCP connection (not an answer) took too long."""


def split_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, target)`` of an http(s) URL: the host IDNA-encoded, the target
    (path and query) percent-encoded where a request line may not carry the character (a link
    written with a space or non-ASCII letters), as browsers send it.

    Raises ``ValueError`` for a URL that cannot be requested.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if not host:
        raise ValueError("no host")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    port = parts.port or (443 if scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not target.isascii() or any(c <= " " or c == "\x7f" for c in target):
        target = quote(target, safe=_SAFE + "?")
    return scheme, host, port, target


class Transport:
    """Sends one request at a time per connection; thread-safe.

    ``on_socket(sock, host)`` is called with every socket right after it connects (before TLS);
    it may raise to refuse the connection. ``timeouts()`` gives ``(connect, read)`` seconds for
    the calling thread's current request.
    """

    def __init__(
        self,
        headers: dict[str, str],
        *,
        on_socket: Callable[[socket.socket, str], None] | None = None,
        max_idle_per_host: int = 32,
    ) -> None:
        self._headers = headers
        self._on_socket = on_socket
        self._max_idle = max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self.connections_opened = 0

    # -- connections ------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                try:
                    import certifi

                    context = ssl.create_default_context(cafile=certifi.where())
                except ImportError:  # pragma: no cover - certifi comes with requests
                    context = ssl.create_default_context()
                self._context = context
            return self._context

    def _new(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, context=self._ssl_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port)
        on_socket = self._on_socket

        def create_connection(address, timeout=None, source_address=None):
            try:
                sock = socket.create_connection(address, timeout, source_address)
            except TimeoutError as exc:
                raise ConnectTimeoutError(f"connect to {host} timed out") from exc
            with self._lock:
                self.connections_opened += 1
            if on_socket is not None:
                try:
                    on_socket(sock, host)
                except BaseException:
                    sock.close()
                    raise
            return sock

        conn._create_connection = create_connection  # type: ignore[attr-defined]
        return conn

    def _take(self, key: tuple[str, str, int]) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to ``key`` that the server has not closed, or a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._new(*key), False
            sock = conn.sock
            if sock is None:
                return conn, False  # closed after its last answer: reconnects on first use
            if not _readable(sock):
                return conn, True
            conn.close()  # EOF or stray bytes: the server is done with it

    def give_back(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        connect_timeout: float,
        read_timeout: Callable[[], float],
        on_connected: Callable[[socket.socket], None] | None = None,
    ) -> tuple[http.client.HTTPResponse, tuple[str, str, int], http.client.HTTPConnection]:
        """Send ``method url`` and read the status line and headers.

        Returns the response (body unread), and the pool key and connection to hand to
        ``give_back`` once the body has been read to its end (or to close otherwise).
        ``on_connected`` is called with the socket in use (after TLS) before the request is sent;
        ``read_timeout()`` gives the per-read timeout at that moment.
        """
        scheme, host, port, target = split_url(url)
        key = (scheme, host, port)
        for fresh_try in (False, True):
            conn, reused = self._take(key) if not fresh_try else (self._new(*key), False)
            try:
                if conn.sock is None:
                    conn.timeout = connect_timeout
                    conn.connect()
                sock = conn.sock
                assert sock is not None
                sock.settimeout(read_timeout())
                if on_connected is not None:
                    on_connected(sock)
                conn.request(method, target, headers=self._headers)
                return conn.getresponse(), key, conn
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if not reused or fresh_try:
                    raise
                # The server closed this idle connection as we picked it: once more, fresh.
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover
