"""The link checker's HTTP engine and CLI against HTTP servers these tests start on 127.0.0.1.

Every server is a threaded ``http.server`` on a random port, with routes written per test; it
records what it saw (methods, paths, in-flight maximum, bytes sent, disconnects) so tests assert
behaviour: which requests were made, not how long they took. Backoffs and timeouts are tiny.
"""

from __future__ import annotations

import email.utils
import json
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from reprogrammability.cli import main
from reprogrammability.links.cache import LinkCache
from reprogrammability.links.checker import (
    AddressGuard,
    HttpChecker,
    address_problem,
    backoff_delay,
    parse_retry_after,
)
from reprogrammability.links.config import Config
from reprogrammability.links.results import Status

pytestmark = pytest.mark.network

Route = Callable[["Handler", str], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def setup(self) -> None:
        # Headers and body go out in separate writes: without NODELAY the body waits for the
        # client's delayed ACK (40 ms a request), as it would not with a production server.
        import socket

        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        with app.lock:
            app.log.append((method, self.path, time.monotonic()))
            app.active += 1
            app.max_active = max(app.max_active, app.active)
        try:
            route = app.routes.get(path)
            if route is None:
                send(self, method, 404)
            else:
                route(self, method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            app.disconnects.set()
            self.close_connection = True
        finally:
            with app.lock:
                app.active -= 1

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")


def send(
    h: BaseHTTPRequestHandler,
    method: str,
    code: int,
    headers: dict | None = None,
    body: bytes = b"",
) -> None:
    h.send_response(code)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if method != "HEAD" and body:
        h.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up (a refused certificate, a deadline) are what several tests do."""


class App:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.disconnects = threading.Event()
        self.bytes_sent = 0
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.app = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str, method: str | None = None) -> int:
        return sum(
            1
            for m, p, _ in self.log
            if p.split("?", 1)[0] == path and (method is None or m == method)
        )

    def times(self, path: str) -> list[float]:
        return [t for _, p, t in self.log if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def app():
    server = App()
    yield server
    server.close()


def fast_config(**changes) -> Config:
    """Small timeouts and backoffs; private addresses allowed (the servers are on loopback)."""
    base = {
        "allow_private": True,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "retries": 2,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "concurrency": 8,
        "per_host": 4,
        "arxiv_min_interval": 0.0,
    }
    base.update(changes)
    return Config().with_overrides(**base)


def check(url: str, **changes):
    checker = HttpChecker(fast_config(**changes))
    try:
        return checker.check_all([url])[url], checker
    finally:
        checker.close()


def ok_route(h, method):
    send(h, method, 200, {"Content-Type": "text/html"}, b"<html>hello</html>")


# ---------------------------------------------------------------------------------------------
# status codes and methods


def test_ok_uses_head_only(app):
    app.routes["/ok"] = ok_route
    result, _ = check(app.url("/ok"))
    assert result.status is Status.OK and result.code == 200
    assert app.hits("/ok", "HEAD") == 1 and app.hits("/ok", "GET") == 0


def test_404_is_dead(app):
    result, _ = check(app.url("/missing"))
    assert result.status is Status.DEAD
    assert result.code == 404 and "404" in result.reason


@pytest.mark.parametrize("refusal", [405, 501, 403])
def test_head_refused_falls_back_to_get(app, refusal):
    def route(h, method):
        if method == "HEAD":
            send(h, method, refusal)
        else:
            ok_route(h, method)

    app.routes["/nohead"] = route
    result, _ = check(app.url("/nohead"))
    assert result.status is Status.OK, result.reason
    assert app.hits("/nohead", "HEAD") == 1 and app.hits("/nohead", "GET") == 1


def test_head_405_is_remembered_per_host(app):
    def route(h, method):
        send(h, method, 405) if method == "HEAD" else ok_route(h, method)

    app.routes["/a"] = route
    app.routes["/b"] = route
    checker = HttpChecker(fast_config(concurrency=1))
    results = checker.check_all([app.url("/a"), app.url("/b")])
    assert all(r.status is Status.OK for r in results.values())
    assert (
        app.hits("/a", "HEAD") + app.hits("/b", "HEAD") == 1
    )  # the second URL went straight to GET


def test_one_head_refusal_does_not_make_a_head_answering_host_get_only(app):
    def refuses(h, method):
        send(h, method, 405) if method == "HEAD" else ok_route(h, method)

    app.routes.update({"/a": ok_route, "/odd": refuses, "/b": ok_route})
    checker = HttpChecker(fast_config(concurrency=1, per_host=1))
    results = checker.check_all([app.url("/a"), app.url("/odd"), app.url("/b")])
    assert all(r.status is Status.OK for r in results.values())
    assert app.hits("/odd", "GET") == 1
    assert app.hits("/b", "HEAD") == 1 and app.hits("/b", "GET") == 0


def test_persistent_403_needs_a_human(app):
    app.routes["/wall"] = lambda h, m: send(h, m, 403, body=b"are you a robot?")
    result, _ = check(app.url("/wall"))
    assert result.status is Status.NEEDS_HUMAN
    assert not result.status.failing


def test_accepted_codes_come_from_config(app):
    app.routes["/wall"] = lambda h, m: send(h, m, 403)
    result, _ = check(app.url("/wall"), accept=frozenset({200, 403}))
    assert result.status is Status.OK
    assert app.hits("/wall", "GET") == 0  # accepted on HEAD: no fallback


# ---------------------------------------------------------------------------------------------
# redirects


def _redirect(to: str, code: int = 302):
    return lambda h, m: send(h, m, code, {"Location": to})


def test_redirect_chain_is_followed_and_reported(app):
    app.routes["/r1"] = _redirect("/r2", 302)
    app.routes["/r2"] = _redirect(app.url("/r3"), 307)
    app.routes["/r3"] = ok_route
    result, _ = check(app.url("/r1"))
    assert result.status is Status.OK
    assert result.redirects == 2 and result.final_url == app.url("/r3")
    assert [c.split()[0] for c in result.chain] == ["302", "307"]


def test_permanent_redirect_is_flagged(app):
    app.routes["/old"] = _redirect("/new", 301)
    app.routes["/new"] = ok_route
    result, _ = check(app.url("/old"))
    assert result.status is Status.REDIRECTED
    assert result.final_url == app.url("/new") and app.url("/new") in result.reason
    assert not result.status.failing


def test_redirect_bound(app):
    for i in range(6):
        app.routes[f"/loop{i}"] = _redirect(f"/loop{i + 1}")
    app.routes["/loop6"] = ok_route
    result, _ = check(app.url("/loop0"), max_redirects=3)
    assert result.status is Status.DEAD and "too many redirects" in result.reason
    assert app.hits("/loop4") == 0  # gave up after the bound
    result, _ = check(app.url("/loop0"), max_redirects=6)
    assert result.status is Status.OK and result.redirects == 6


# ---------------------------------------------------------------------------------------------
# retries


def test_5xx_then_success_after_retries(app):
    seen = []

    def flaky(h, method):
        seen.append(method)
        if len(seen) <= 2:
            send(h, method, 503)
        else:
            ok_route(h, method)

    app.routes["/flaky"] = flaky
    result, _ = check(app.url("/flaky"), retries=3)
    assert result.status is Status.OK
    assert result.attempts == 2  # HEAD 503 -> GET 503 (attempt 1), HEAD 200 (attempt 2)


def test_5xx_that_persists_is_dead_after_all_retries(app):
    app.routes["/down"] = lambda h, m: send(h, m, 500)
    result, _ = check(app.url("/down"), retries=2)
    assert result.status is Status.DEAD and result.attempts == 3
    assert "after 3 attempts" in result.reason


def test_429_retry_after_is_honoured(app):
    def limited(h, method):
        if app.hits("/limited") == 1:
            send(h, method, 429, {"Retry-After": "1"})
        else:
            ok_route(h, method)

    app.routes["/limited"] = limited
    result, _ = check(app.url("/limited"), backoff_max=5.0)
    assert result.status is Status.OK
    first, second = app.times("/limited")[:2]
    assert second - first >= 0.9  # waited for Retry-After, not the 10 ms backoff


def test_retry_after_is_capped(app):
    waits: list[float] = []
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    app.routes["/slowdown"] = lambda h, m: send(h, m, 429, {"Retry-After": future})
    checker = HttpChecker(fast_config(backoff_max=0.05, retries=2), sleep=waits.append)
    result = checker.check_url(app.url("/slowdown"))
    checker.close()
    assert result.status is Status.NEEDS_HUMAN and result.attempts == 3
    assert waits == [0.05, 0.05]  # an hour asked, the cap honoured


def test_retry_after_parsing():
    assert parse_retry_after("120") == 120
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after(date, now=now) <= 31
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_is_exponential_jittered_and_capped():
    import random

    rng = random.Random(1)
    for attempt in range(5):
        d = backoff_delay(attempt, 1.0, 30.0, None, rng)
        full = min(30.0, 2.0**attempt)
        assert full / 2 <= d <= full
    assert backoff_delay(10, 1.0, 30.0, None, rng) <= 30.0
    assert backoff_delay(0, 1.0, 30.0, 7.0, rng) == 7.0
    assert backoff_delay(0, 1.0, 30.0, 700.0, rng) == 30.0


def test_timeout_is_retried_then_an_error(app):
    def sleepy(h, method):
        time.sleep(1.0)
        send(h, method, 200)

    app.routes["/sleepy"] = sleepy
    result, _ = check(app.url("/sleepy"), read_timeout=0.2, retries=2)
    assert result.status is Status.ERROR and result.status.failing
    assert "timeout" in result.reason and result.attempts == 3
    # The HEAD that timed out was tried again as GET; the retries went straight to GET.
    assert app.hits("/sleepy", "HEAD") == 1 and app.hits("/sleepy", "GET") == 3


# ---------------------------------------------------------------------------------------------
# bodies, concurrency, limits


def test_huge_body_is_never_downloaded(app):
    chunk = b"x" * 65536
    total = 1 << 32  # 4 GiB announced

    def huge(h, method):
        if method == "HEAD":
            send(h, method, 405)
            return
        h.send_response(200)
        h.send_header("Content-Length", str(total))
        h.end_headers()
        for _ in range(total // len(chunk)):  # ends when the client hangs up (see _dispatch)
            h.wfile.write(chunk)
            with app.lock:
                app.bytes_sent += len(chunk)

    app.routes["/huge"] = huge
    result, _ = check(app.url("/huge"))
    assert result.status is Status.OK
    assert app.disconnects.wait(10), "the server never saw the client hang up"
    assert app.bytes_sent < 64 * 1024 * 1024  # socket buffers at most, never the 4 GiB


def test_per_host_limit_is_respected(app):
    def slow(h, method):
        time.sleep(0.1)
        ok_route(h, method)

    for i in range(12):
        app.routes[f"/p{i}"] = slow
    checker = HttpChecker(fast_config(concurrency=8, per_host=3))
    results = checker.check_all([app.url(f"/p{i}") for i in range(12)])
    assert all(r.status is Status.OK for r in results.values())
    assert app.max_active == 3  # never more, and the limit was actually used


def test_connections_are_reused(app):
    app.routes.update({f"/k{i}": ok_route for i in range(20)})
    connections = []
    original = Handler.setup

    def setup(self):
        connections.append(self.client_address)
        original(self)

    Handler.setup = setup  # type: ignore[method-assign]
    try:
        checker = HttpChecker(fast_config(concurrency=1, per_host=1))
        results = checker.check_all([app.url(f"/k{i}") for i in range(20)])
    finally:
        Handler.setup = original  # type: ignore[method-assign]
    assert all(r.status is Status.OK for r in results.values())
    assert len(connections) == 1  # one keep-alive connection served all twenty HEADs


# ---------------------------------------------------------------------------------------------
# cache


def test_cache_hit_skips_the_request_and_failures_are_not_cached(app, tmp_path):
    app.routes["/ok"] = ok_route
    urls = [app.url("/ok"), app.url("/gone")]
    path = tmp_path / "links.json"
    cache = LinkCache.load(path, 3600)
    HttpChecker(fast_config(), cache=cache).check_all(urls)
    cache.save()
    stored = json.loads(path.read_text())["entries"]
    assert list(stored) == [app.url("/ok")]  # the 404 was not cached
    assert app.hits("/ok") == 1 and app.hits("/gone") == 2  # HEAD 404, then GET 404

    cache = LinkCache.load(path, 3600)
    results = HttpChecker(fast_config(), cache=cache).check_all(urls)
    assert results[app.url("/ok")].status is Status.CACHED
    assert results[app.url("/gone")].status is Status.DEAD
    assert app.hits("/ok") == 1  # not requested again
    assert app.hits("/gone") == 4


def test_expired_cache_entries_are_rechecked(app, tmp_path):
    app.routes["/ok"] = ok_route
    path = tmp_path / "links.json"
    clock = [1_000_000.0]
    cache = LinkCache.load(path, 60, clock=lambda: clock[0])
    checker = HttpChecker(fast_config(), cache=cache)
    r = checker.check_url(app.url("/ok"))
    r.checked_at = clock[0]
    cache.put(r)
    cache.save()
    clock[0] += 61
    assert LinkCache.load(path, 60, clock=lambda: clock[0]).get(app.url("/ok")) is None
    clock[0] -= 30
    assert LinkCache.load(path, 60, clock=lambda: clock[0]).get(app.url("/ok")) is not None


def test_a_corrupt_cache_is_ignored_with_a_warning(tmp_path):
    path = tmp_path / "links.json"
    path.write_text("{not json")
    cache = LinkCache.load(path, 60)
    assert len(cache) == 0 and "unusable link cache" in cache.warnings[0]


# ---------------------------------------------------------------------------------------------
# private addresses


@pytest.mark.parametrize(
    "address,why",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "not globally routable"),
        ("240.0.0.1", "private"),
    ],
)
def test_non_public_addresses_are_named(address, why):
    assert address_problem(address) == why


def test_public_addresses_pass():
    assert address_problem("8.8.8.8") is None
    assert address_problem("2606:4700:4700::1111") is None


def test_private_address_refused_without_the_flag(app):
    app.routes["/ok"] = ok_route
    result, _ = check(app.url("/ok"), allow_private=False)
    assert result.status is Status.REFUSED and result.status.failing
    assert result.reason.startswith("refused: private address")
    assert app.hits("/ok") == 0  # not a single packet
    result, _ = check(f"http://localhost:{app.port}/ok", allow_private=False)
    assert result.status is Status.REFUSED and app.hits("/ok") == 0
    result, _ = check(app.url("/ok"), allow_private=True)
    assert result.status is Status.OK


def test_names_resolving_to_private_addresses_are_refused():
    def resolver(host, port, *args):
        addresses = {"public.test": ["93.184.216.34"], "sneaky.test": ["93.184.216.34", "10.0.0.7"]}
        return [(2, 1, 6, "", (a, port)) for a in addresses[host]]

    guard = AddressGuard(resolver)
    assert guard.refusal("https://public.test/x") is None
    assert "sneaky.test -> 10.0.0.7 is private" in guard.refusal("https://sneaky.test/x")


def test_redirects_to_private_addresses_are_refused(app, monkeypatch):
    """A page that passes the guard but redirects to an internal address is not followed."""
    import reprogrammability.links.checker as checker_module

    real = checker_module.address_problem
    # Treat this test's server (127.0.0.1) as public; everything else keeps the real rules.
    monkeypatch.setattr(
        checker_module, "address_problem", lambda a: None if a == "127.0.0.1" else real(a)
    )
    app.routes["/start"] = _redirect(f"http://127.0.0.2:{app.port}/ok")
    app.routes["/ok"] = ok_route
    result, _ = check(app.url("/start"), allow_private=False)
    assert result.status is Status.REFUSED
    assert "127.0.0.2 is loopback" in result.reason and "redirect target" in result.reason
    assert app.hits("/start") == 1 and app.hits("/ok") == 0


def test_dns_rebinding_is_caught_on_the_connected_socket(app, monkeypatch):
    """The name checks out as public, but the connection lands on loopback: refused."""
    import socket

    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):  # what urllib3 sees when it resolves
        if host == "rebind.test":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    app.routes["/ok"] = ok_route
    checker = HttpChecker(
        fast_config(allow_private=False),
        resolver=lambda host, port, *a: [(2, 1, 6, "", ("93.184.216.34", port))],
    )
    result = checker.check_url(f"http://rebind.test:{app.port}/ok")
    checker.close()
    assert result.status is Status.REFUSED
    assert "127.0.0.1 is loopback" in result.reason
    assert app.hits("/ok") == 0  # connected, then hung up before a single request byte


# ---------------------------------------------------------------------------------------------
# the command: papers.yaml lines, outputs, exit codes, arXiv API, --changed-only


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


FAST_TOML = """\
retries = 1
backoff_base = 0.01
backoff_max = 0.05
connect_timeout = 2
read_timeout = 2
allow_private = true
cache = false
"""


def _repo(tmp_path: Path, app: App, readme: str, papers: str | None = None) -> Path:
    _write(tmp_path, "links.toml", FAST_TOML)
    _write(tmp_path, "README.md", readme)
    _write(tmp_path, "docs/guide.md", "# Guide\n\n## Usage\n\ntext\n\n## Usage\n\nagain\n")
    if papers is not None:
        _write(tmp_path, "data/papers.yaml", papers)
    return tmp_path


PAPERS = """\
# comments survive
papers:
  - title: "A Working Paper"
    year: 2020
    url: {ok}
  - title: "Adversarial Reprogramming of Neural Networks"
    authors: [Gamaleldin F. Elsayed]
    year: 2019
    url: {ok}
    code: {gone}
"""


def test_command_reports_dead_links_with_paper_and_line(app, tmp_path, capsys):
    app.routes["/ok"] = ok_route
    papers = PAPERS.format(ok=app.url("/ok"), gone=app.url("/gone"))
    root = _repo(
        tmp_path,
        app,
        f"# Title\n\nSee [it]({app.url('/ok')}) and [usage](docs/guide.md#usage-1).\n",
        papers,
    )
    out_json, out_md = tmp_path / "report.json", tmp_path / "report.md"
    code = main(["links", "--root", str(root), "--json", str(out_json), "--markdown", str(out_md)])
    stdout = capsys.readouterr().out
    assert code == 1
    line = papers.splitlines().index(f"    code: {app.url('/gone')}") + 1
    assert (
        f"data/papers.yaml:{line}: {app.url('/gone')}: dead: HTTP 404 Not Found "
        "[paper: Adversarial Reprogramming of Neural Networks]"
    ) in stdout
    assert "ok 2" in stdout and "dead 1" in stdout  # /ok and the anchor; /ok counted once
    assert app.hits("/ok") == 1  # three occurrences, one request

    report = json.loads(out_json.read_text())
    assert report["summary"]["exit_code"] == 1
    assert report["summary"]["counts"]["dead"] == 1
    dead = [r for r in report["results"] if r["status"] == "dead"]
    assert dead[0]["url"] == app.url("/gone")
    assert dead[0]["occurrences"] == [
        {
            "file": "data/papers.yaml",
            "line": line,
            "target": app.url("/gone"),
            "kind": "remote",
            "field": "code",
            "paper": "Adversarial Reprogramming of Neural Networks",
        }
    ]
    ok = next(r for r in report["results"] if r["url"] == app.url("/ok"))
    assert len(ok["occurrences"]) == 3

    md = out_md.read_text()
    assert md.startswith("# Link check report")
    assert "## Dead: 1" in md
    assert f"`data/papers.yaml:{line}` (Adversarial Reprogramming of Neural Networks)" in md
    assert f"`{app.url('/gone')}`" in md


def test_command_exit_0_with_only_warnings(app, tmp_path, capsys):
    app.routes["/wall"] = lambda h, m: send(h, m, 403)
    app.routes["/old"] = _redirect("/new", 308)
    app.routes["/new"] = ok_route
    root = _repo(tmp_path, app, f"[a]({app.url('/wall')}) [b]({app.url('/old')})\n")
    out_md = tmp_path / "r.md"
    code = main(["links", "--root", str(root), str(root / "README.md"), "--markdown", str(out_md)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "needs human 1" in stdout and "redirected 1" in stdout
    assert "README.md:1: " + app.url("/wall") + ": needs human: HTTP 403" in stdout
    md = out_md.read_text()
    assert "No dead links." in md and "## Needs a human" in md and "## Permanently redirected" in md
    assert f"to `{app.url('/new')}`" in md  # a server-chosen address is shown inert, as code


def test_command_refuses_private_addresses_by_default(app, tmp_path, capsys):
    app.routes["/ok"] = ok_route
    root = _repo(tmp_path, app, f"[x]({app.url('/ok')})\n")
    _write(root, "links.toml", FAST_TOML.replace("allow_private = true", "allow_private = false"))
    assert main(["links", "--root", str(root)]) == 1
    assert "refused: private address (127.0.0.1 is loopback)" in capsys.readouterr().out
    assert app.hits("/ok") == 0
    assert main(["links", "--root", str(root), "--allow-private"]) == 0


def test_command_excludes_from_config_and_flags(app, tmp_path, capsys):
    root = _repo(tmp_path, app, f"[x]({app.url('/private/a')}) [y]({app.url('/tmp/b')})\n")
    _write(root, "links.toml", FAST_TOML + "exclude = ['/private/']\n")
    assert main(["links", "--root", str(root), "--exclude", r"/tmp/\w"]) == 0
    out = capsys.readouterr().out
    assert "excluded 2" in out and app.log == []


def test_command_uses_and_writes_the_cache(app, tmp_path, capsys):
    app.routes["/ok"] = ok_route
    root = _repo(tmp_path, app, f"[x]({app.url('/ok')})\n")
    _write(
        root, "links.toml", FAST_TOML.replace("cache = false", 'cache = true\nmax_cache_age = "1h"')
    )
    assert main(["links", "--root", str(root)]) == 0
    assert (root / ".cache" / "links.json").is_file()
    assert main(["links", "--root", str(root)]) == 0
    assert "cached 1" in capsys.readouterr().out
    assert app.hits("/ok") == 1
    assert main(["links", "--root", str(root), "--no-cache"]) == 0
    assert app.hits("/ok") == 2


def _atom(entries: list[tuple[str, int, str]]) -> bytes:
    items = "".join(
        f"<entry><id>http://arxiv.org/abs/{i}v{v}</id><published>2021-09-02T17:00:00Z</published>"
        f"<updated>2021-09-03T17:00:00Z</updated><title>{t}</title><summary>s</summary>"
        f"<author><name>A. Author</name></author></entry>"
        for i, v, t in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        f'xmlns:arxiv="http://arxiv.org/schemas/atom"><title>q</title>{items}</feed>'
    ).encode()


def test_arxiv_links_are_verified_through_the_api_in_batches(app, tmp_path, capsys):
    known = {"2109.01134": (2, "Known Paper"), "1806.11146": (3, "Adversarial Reprogramming")}
    queries: list[list[str]] = []

    def api(h, method):
        from urllib.parse import parse_qs, urlsplit

        ids = parse_qs(urlsplit(h.path).query)["id_list"][0].split(",")
        queries.append(ids)
        entries = []
        for q in ids:
            base, _, v = q.partition("v")
            if base in known:
                latest, title = known[base]
                version = int(v) if v else latest
                if version <= latest:
                    entries.append((base, version, title))
        send(h, method, 200, {"Content-Type": "application/atom+xml"}, _atom(entries))

    app.routes["/api/query"] = api
    readme = (
        "- [a](https://arxiv.org/abs/2109.01134)\n"
        "- [b](https://arxiv.org/pdf/1806.11146v2.pdf)\n"
        "- [c](https://arxiv.org/abs/2501.99999)\n"
        "- [d](https://arxiv.org/abs/1806.11146v9)\n"
    )
    root = _repo(tmp_path, app, readme)
    _write(
        root,
        "links.toml",
        FAST_TOML
        + (f'[arxiv]\napi_url = "{app.url("/api/query")}"\nbatch_size = 2\nmin_interval = 0\n'),
    )
    out_json = tmp_path / "r.json"
    argv = ["links", "--root", str(root), str(root / "README.md"), "--json", str(out_json)]
    assert main(argv) == 1
    stdout = capsys.readouterr().out
    assert len(queries) == 2 and sorted(q for batch in queries for q in batch) == sorted(
        ["2109.01134", "1806.11146v2", "2501.99999", "1806.11146v9"]
    )
    assert (
        "README.md:3: https://arxiv.org/abs/2501.99999: dead: arXiv has no paper 2501.99999"
        in stdout
    )
    assert (
        "README.md:4: https://arxiv.org/abs/1806.11146v9: dead: arXiv has no paper 1806.11146v9"
        in stdout
    )
    results = {r["url"]: r for r in json.loads(out_json.read_text())["results"]}
    assert results["https://arxiv.org/abs/2109.01134"]["status"] == "ok"
    assert results["https://arxiv.org/abs/2109.01134"]["via"] == "arxiv-api"
    assert "1806.11146v2" in results["https://arxiv.org/pdf/1806.11146v2.pdf"]["reason"]
    assert [p for _, p, _ in app.log if not p.startswith("/api/query")] == []


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        check=True,
        capture_output=True,
    )


def test_changed_only_checks_only_added_urls(app, tmp_path, capsys):
    app.routes["/new"] = ok_route
    root = _repo(tmp_path, app, f"old dead link: {app.url('/old-dead')}\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    _write(
        root, "README.md", f"old dead link: {app.url('/old-dead')}\n\n[new]({app.url('/new')})\n"
    )
    assert main(["links", "--root", str(root), "--changed-only", "--base", "HEAD"]) == 0
    assert app.hits("/old-dead") == 0 and app.hits("/new") == 1
    assert "1 URL(s) added since HEAD" in capsys.readouterr().err

    # a URL added in a file that did not exist at the base counts too
    _write(root, "docs/extra.md", f"<{app.url('/new-dead')}>\n")
    assert main(["links", "--root", str(root), "--changed-only", "--base", "HEAD"]) == 1
    assert app.hits("/new-dead") == 2 and app.hits("/old-dead") == 0

    assert main(["links", "--root", str(root), "--changed-only", "--base", "no-such-rev"]) == 2
    assert main(["links", "--root", str(root), "--changed-only"]) == 2


def test_arxiv_api_failure_is_a_warning_not_a_verdict(app):
    app.routes["/api/query"] = lambda h, m: send(h, m, 503)
    checker = HttpChecker(fast_config(retries=1, arxiv_api_url=app.url("/api/query")))
    assert checker._check_arxiv(["https://arxiv.org/abs/2109.01134"]) is None
    checker.close()
    assert "checked 1 arXiv link(s) over plain HTTP instead" in checker.warnings[0]
    assert app.hits("/api/query") == 2


@pytest.mark.parametrize("errno_name,attempts", [("EAI_NONAME", 1), ("EAI_AGAIN", 3)])
def test_unresolvable_hosts_are_errors_retried_only_when_transient(errno_name, attempts):
    import socket

    calls = []

    def resolver(host, port, *args):
        calls.append(host)
        raise socket.gaierror(getattr(socket, errno_name), "lookup failed")

    checker = HttpChecker(fast_config(allow_private=False, retries=2), resolver=resolver)
    result = checker.check_url("https://nowhere.test/page")
    assert result.status is Status.ERROR and result.status.failing
    assert result.reason.startswith("host not found: nowhere.test")
    assert result.attempts == attempts and len(calls) == attempts


def test_github_annotations(app, tmp_path, capsys):
    app.routes["/wall"] = lambda h, m: send(h, m, 999)
    root = _repo(tmp_path, app, f"# T\n\n[a]({app.url('/wall')}) [b]({app.url('/gone')})\n")
    assert main(["links", "--root", str(root), str(root / "README.md"), "--github"]) == 1
    out = capsys.readouterr().out
    assert (
        f"::error file=README.md,line=3,title=dead link::{app.url('/gone')}: dead: HTTP 404" in out
    )
    assert f"::warning file=README.md,line=3,title=needs human link::{app.url('/wall')}" in out


def test_malformed_urls_are_dead_without_stopping_the_run(app):
    app.routes["/ok"] = ok_route
    bad = ["http://host.test:notaport/", "http://[::1/", "https://"]
    checker = HttpChecker(fast_config())
    results = checker.check_all([*bad, app.url("/ok")])
    assert results[app.url("/ok")].status is Status.OK
    for url in bad:
        assert results[url].status is Status.DEAD
        assert results[url].reason.startswith("invalid URL"), results[url].reason


# ---------------------------------------------------------------------------------------------
# hostile servers: deadlines, HEAD that hangs, resets


def _trickle(h, method, delay: float = 0.05) -> None:
    """Headers one byte at a time: each read is quick, the whole answer takes seconds."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: " + b"a" * 60 + b"\r\n\r\n"
    for byte in head:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(delay)


def test_a_request_ends_at_its_deadline_however_slowly_the_server_trickles(app):
    app.routes["/trickle"] = _trickle  # ~4.5 s of headers, a byte every 0.05 s
    started = time.monotonic()
    result, _ = check(app.url("/trickle"), connect_timeout=0.3, read_timeout=0.3, retries=0)
    elapsed = time.monotonic() - started
    assert result.status is Status.ERROR, result.reason
    assert result.reason == "timeout (no complete answer within 0.3 s)"
    # HEAD and the GET it falls back to, each cut off at its deadline: far from the 4.5 s the
    # server would take (a per-read timeout never fires here).
    assert elapsed < 3, elapsed
    assert app.hits("/trickle", "HEAD") == 1 and app.hits("/trickle", "GET") == 1


def test_a_head_that_times_out_is_tried_as_get(app):
    def head_hangs(h, method):
        if method == "HEAD":
            time.sleep(1.5)
            return
        ok_route(h, method)

    app.routes["/hang"] = head_hangs
    result, _ = check(app.url("/hang"), read_timeout=0.3, retries=1)
    assert result.status is Status.OK, result.reason
    assert app.hits("/hang", "HEAD") == 1 and app.hits("/hang", "GET") == 1


def _reset(h, method):
    """Read the request, then hang up with a TCP reset (SO_LINGER 0)."""
    import socket
    import struct

    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def test_a_connection_reset_reads_as_a_sentence(app):
    app.routes["/reset"] = _reset
    result, _ = check(app.url("/reset"), retries=1)
    assert result.status is Status.ERROR
    assert result.reason == "connection reset by the server after 2 attempts", result.reason


def test_a_server_that_hangs_up_without_answering(app):
    def hang_up(h, method):
        h.close_connection = True  # says nothing, closes

    app.routes["/silent"] = hang_up
    result, _ = check(app.url("/silent"), retries=0)
    assert result.status is Status.ERROR
    assert result.reason == "the server closed the connection without answering", result.reason


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("errno_name,attempts", [("EAI_NONAME", 1), ("EAI_AGAIN", 3)])
def test_host_lookup_retries_do_not_depend_on_the_address_guard(
    monkeypatch, allow_private, errno_name, attempts
):
    import socket

    calls = []
    real = socket.getaddrinfo

    def failing(host, port, *args, **kwargs):
        if host != "nowhere.test":
            return real(host, port, *args, **kwargs)
        calls.append(host)
        raise socket.gaierror(getattr(socket, errno_name), "lookup failed")

    monkeypatch.setattr(socket, "getaddrinfo", failing)  # what urllib3 calls
    checker = HttpChecker(
        fast_config(allow_private=allow_private, retries=2), resolver=failing, sleep=lambda s: None
    )
    result = checker.check_url("https://nowhere.test/page")
    checker.close()
    assert result.status is Status.ERROR
    assert result.reason.startswith("host not found: nowhere.test"), result.reason
    assert result.attempts == attempts and len(calls) == attempts


# ---------------------------------------------------------------------------------------------
# connections


def _count_connections(app: App) -> list:
    connections: list = []
    original = Handler.setup

    def setup(self):
        connections.append(self.client_address)
        original(self)

    Handler.setup = setup  # type: ignore[method-assign]
    app.restore = lambda: setattr(Handler, "setup", original)  # type: ignore[attr-defined]
    return connections


def test_get_bodies_are_drained_and_a_405_host_keeps_its_connections(app):
    """HEAD refused, every check a GET with a (small) body: one connection serves them all."""

    def no_head(h, method):
        if method == "HEAD":
            send(h, method, 405)
        else:
            send(h, method, 200, {"Content-Type": "text/html"}, b"<p>page</p>" * 500)

    app.routes.update({f"/g{i}": no_head for i in range(20)})
    connections = _count_connections(app)
    try:
        checker = HttpChecker(fast_config(concurrency=1, per_host=1))
        results = checker.check_all([app.url(f"/g{i}") for i in range(20)])
    finally:
        app.restore()  # type: ignore[attr-defined]
    assert all(r.status is Status.OK for r in results.values())
    assert sum(app.hits(f"/g{i}", "HEAD") for i in range(20)) == 1  # then GET only
    assert len(connections) == 1


def test_connections_never_exceed_the_per_host_limit(app):
    def slow(h, method):
        time.sleep(0.02)
        ok_route(h, method)

    app.routes.update({f"/c{i}": slow for i in range(48)})
    connections = _count_connections(app)
    try:
        checker = HttpChecker(fast_config(concurrency=8, per_host=3))
        results = checker.check_all([app.url(f"/c{i}") for i in range(48)])
    finally:
        app.restore()  # type: ignore[attr-defined]
    assert all(r.status is Status.OK for r in results.values())
    assert len(connections) <= 3  # workers share the host's pool, not one connection each


# ---------------------------------------------------------------------------------------------
# remote fragments


PAGE = (
    b"<!doctype html><html><head><title>t</title></head><body>\n"
    b"<h2 id=\"intro\">Intro</h2>\n<a name='legacy'></a>\n"
    b"<div class=x id=bare>bare</div>\n"
    b"<article><h3 id=\"user-content-usage\">Usage</h3></article>\n"
)


def _page(body: bytes, ctype: str = "text/html; charset=utf-8"):
    return lambda h, m: send(h, m, 200, {"Content-Type": ctype}, body)


def test_remote_fragments_are_found_or_reported_missing(app):
    app.routes["/page.html"] = _page(PAGE + b"</body></html>\n")
    url = app.url("/page.html")
    checker = HttpChecker(fast_config())
    wanted = {"intro", "legacy", "bare", "usage", "missing"}
    results = checker.check_all([url], {url: wanted})
    assert results[url].status is Status.OK
    for fragment in ("intro", "legacy", "bare", "usage"):
        assert results[f"{url}#{fragment}"].status is Status.OK, fragment
    missing = results[f"{url}#missing"]
    assert missing.status is Status.DEAD
    assert missing.reason == "no anchor #missing in the page (HTTP 200)"
    assert app.hits("/page.html", "GET") == 1 and app.hits("/page.html", "HEAD") == 0


def test_fragment_scan_stops_at_the_anchor_and_at_the_cap(app, monkeypatch):
    import reprogrammability.links.checker as checker_module

    filler = b"<p>" + b"x" * 1020 + b"</p>\n"

    def endless(h, method):
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(1 << 32))
        h.end_headers()
        h.wfile.write(PAGE)
        while True:  # ends when the client hangs up (see _dispatch)
            h.wfile.write(filler * 64)
            with app.lock:
                app.bytes_sent += len(filler) * 64

    app.routes["/endless"] = endless
    url = app.url("/endless")
    monkeypatch.setattr(checker_module, "MAX_SCAN_BYTES", 256 * 1024)
    checker = HttpChecker(fast_config())
    results = checker.check_all([url], {url: {"intro", "nowhere"}})
    assert results[f"{url}#intro"].status is Status.OK
    beyond = results[f"{url}#nowhere"]
    assert beyond.status is Status.OK  # cannot say it is missing: the page was not read to the end
    assert beyond.reason.startswith("anchor #nowhere not in the first 256 KiB")
    assert app.disconnects.wait(10)
    assert app.bytes_sent < 32 * 1024 * 1024


def test_fragments_of_gzip_pages_and_non_html(app):
    import gzip

    def zipped(h, method):
        body = gzip.compress(PAGE)
        if "gzip" not in (h.headers.get("Accept-Encoding") or ""):
            send(h, method, 406)
            return
        send(h, method, 200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, body)

    app.routes["/z.html"] = zipped
    app.routes["/paper.pdf"] = _page(b"%PDF-1.4 ...", "application/pdf")
    z, pdf = app.url("/z.html"), app.url("/paper.pdf")
    results = HttpChecker(fast_config()).check_all([z, pdf], {z: {"intro", "gone"}, pdf: {"x"}})
    assert results[f"{z}#intro"].status is Status.OK
    assert results[f"{z}#gone"].status is Status.DEAD
    assert results[f"{pdf}#x"].status is Status.OK
    assert results[f"{pdf}#x"].reason == "fragment not checked (not an HTML page)"


def test_command_checks_remote_fragments(app, tmp_path, capsys):
    app.routes["/page.html"] = _page(PAGE)
    u = app.url("/page.html")
    readme = f"[a]({u}#intro) [b]({u}#missing) [c]({u}#L10-L12) [d]({u}#top) [e]({u})\n"
    root = _repo(tmp_path, app, readme)
    assert main(["links", "--root", str(root), str(root / "README.md")]) == 1
    out = capsys.readouterr().out
    assert f"README.md:1: {u}#missing: dead: no anchor #missing in the page (HTTP 200)" in out
    assert "dead 1" in out
    assert app.hits("/page.html") == 1  # one GET answers the page and all its fragments


def test_fragment_results_are_cached(app, tmp_path):
    app.routes["/page.html"] = _page(PAGE)
    url = app.url("/page.html")
    path = tmp_path / "links.json"
    cache = LinkCache.load(path, 3600)
    HttpChecker(fast_config(), cache=cache).check_all([url], {url: {"intro"}})
    cache.save()
    cache = LinkCache.load(path, 3600)
    results = HttpChecker(fast_config(), cache=cache).check_all([url], {url: {"intro"}})
    assert results[f"{url}#intro"].status is Status.CACHED
    assert app.hits("/page.html") == 1
    # a fragment not seen before fetches the page again
    results = HttpChecker(fast_config(), cache=cache).check_all([url], {url: {"intro", "nope"}})
    assert results[f"{url}#nope"].status is Status.DEAD and app.hits("/page.html") == 2


# ---------------------------------------------------------------------------------------------
# allowlist


def test_allowlisted_addresses_are_checked_and_others_still_refused(app, tmp_path, capsys):
    app.routes["/ok"] = ok_route
    result, _ = check(app.url("/ok"), allow_private=False, allow_private_hosts=("127.0.0.1",))
    assert result.status is Status.OK
    result, _ = check(app.url("/ok"), allow_private=False, allow_private_hosts=("10.0.0.0/8",))
    assert result.status is Status.REFUSED and app.hits("/ok") == 1
    result, _ = check(
        f"http://localhost:{app.port}/ok", allow_private=False, allow_private_hosts=("localhost",)
    )
    assert result.status is Status.OK

    root = _repo(tmp_path, app, f"[x]({app.url('/ok')})\n")
    _write(root, "links.toml", FAST_TOML.replace("allow_private = true", "allow_private = false"))
    assert main(["links", "--root", str(root)]) == 1
    assert main(["links", "--root", str(root), "--allow-private-host", "127.0.0.0/8"]) == 0
    _write(
        root,
        "links.toml",
        FAST_TOML.replace("allow_private = true", 'allow_private_hosts = ["127.0.0.1"]'),
    )
    assert main(["links", "--root", str(root)]) == 0
    capsys.readouterr()


def test_allowlisted_name_is_still_checked_on_the_connected_socket(app, monkeypatch):
    """Allowing 10.0.0.0/8 does not let a name that resolves there connect to loopback."""
    import socket

    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "mirror.test":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    app.routes["/ok"] = ok_route
    checker = HttpChecker(
        fast_config(allow_private=False, allow_private_hosts=("10.0.0.0/8",)),
        resolver=lambda host, port, *a: [(2, 1, 6, "", ("10.0.0.9", port))],
    )
    result = checker.check_url(f"http://mirror.test:{app.port}/ok")
    checker.close()
    assert result.status is Status.REFUSED and "127.0.0.1 is loopback" in result.reason
    assert app.hits("/ok") == 0


# ---------------------------------------------------------------------------------------------
# TLS


@pytest.fixture
def tls_app(app):
    import ssl

    here = Path(__file__).parent / "fixtures" / "tls"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(here / "selfsigned-cert.pem", here / "selfsigned-key.pem")
    app.httpd.socket = context.wrap_socket(app.httpd.socket, server_side=True)
    app.routes["/ok"] = ok_route
    return app, here / "selfsigned-cert.pem"


def test_tls_is_verified_and_connections_are_reused(tls_app):
    import ssl

    app, cert = tls_app
    url = f"https://127.0.0.1:{app.port}/ok"
    result, _ = check(url)
    assert result.status is Status.ERROR and result.attempts == 1  # not worth retrying
    assert result.reason == "TLS error: self-signed certificate", result.reason

    checker = HttpChecker(fast_config(concurrency=1, per_host=1))
    checker.transport._context = ssl.create_default_context(cafile=str(cert))  # trust it here
    urls = [url, f"https://localhost:{app.port}/ok", url + "?again"]
    results = checker.check_all(urls)
    assert [results[u].status for u in urls] == [Status.OK] * 3
    assert checker.transport.connections_opened == 2  # one per host name, reused


def test_a_redirect_to_an_unusable_url_is_dead_not_retried(app):
    app.routes["/bad"] = _redirect("http://[::1/x")
    result, _ = check(app.url("/bad"), retries=2)
    assert result.status is Status.DEAD and result.attempts == 1
    assert result.reason == "redirects to invalid URL (Invalid IPv6 URL) http://[::1/x", result.reason


def test_the_deadline_holds_over_tls_too(tls_app):
    import ssl

    app, cert = tls_app
    app.routes["/trickle"] = _trickle
    checker = HttpChecker(fast_config(connect_timeout=0.3, read_timeout=0.3, retries=0))
    checker.transport._context = ssl.create_default_context(cafile=str(cert))
    started = time.monotonic()
    result = checker.check_url(f"https://127.0.0.1:{app.port}/trickle")
    checker.close()
    assert result.reason == "timeout (no complete answer within 0.3 s)", result.reason
    assert time.monotonic() - started < 3
