#!/usr/bin/env bash
# The test suite, from scratch: a virtual environment with every extra (torch, timm,
# transformers, dev tools), the npm linters when node is present, then pytest. Offline: tests
# build tiny random models and start their own HTTP servers on 127.0.0.1.
# Extra arguments go to pytest (e.g. -k links).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch 2.14.1 + torchvision 0.29.1 are the pair whose compiled ops load together.
.venv/bin/python -m pip install --quiet -e '.[reference,text,site,dev]'
if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error || echo "npm install failed: node-based checks will be skipped" >&2
fi
# The browser tests (tests/test_site_browser.py) drive Debian's headless chromium; install it
# when missing and we may (root, apt-get present).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y --no-install-recommends chromium >/dev/null \
        || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; } \
        || echo "could not install chromium: the browser tests will be skipped" >&2
fi
# With a browser present, a browser test that cannot run is a failure, never a skip.
if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then
    export REPRO_REQUIRE_BROWSER=1
fi
exec .venv/bin/python -m pytest -n 2 "$@"
