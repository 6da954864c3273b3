"""A headless browser and a local web server for the website's tests and benchmark.

The browser is Debian's ``chromium`` (``scripts/test.sh`` installs it with apt-get when it is
missing), or the Chrome a CI runner ships, driven by Playwright over its own protocol;
Playwright's downloadable browsers are never used, so nothing here needs the network. The site is
served from a directory by a stdlib HTTP server on 127.0.0.1, and every request that would leave
the machine (the README's badge image) is answered locally with an empty body, so a page never
waits for, or logs an error about, the internet.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The switches the browser runs with: headless, no sandbox (containers run tests as root), and
#: none of Chromium's own background traffic (updates, sync, field trials, QUIC probes).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """The browser to drive: $REPRO_CHROMIUM, Debian's chromium, or a Chrome on PATH."""
    explicit = os.environ.get("REPRO_CHROMIUM")
    if explicit:
        return explicit
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) while the block runs; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_BLANK_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'


def keep_local(context, base: str) -> None:
    """Answer every request outside ``base`` locally (a blank image, or an empty 204)."""

    def handle(route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        elif route.request.resource_type == "image":
            route.fulfill(status=200, content_type="image/svg+xml", body=_BLANK_SVG)
        else:
            route.fulfill(status=204, body="")

    context.route("**/*", handle)
