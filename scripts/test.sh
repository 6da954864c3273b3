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
.venv/bin/python -m pip install --quiet -e '.[reference,text,dev]'
if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error || echo "npm install failed: node-based checks will be skipped" >&2
fi
exec .venv/bin/python -m pytest -n 2 "$@"
