#!/usr/bin/env bash
# The main job, in one command: validate data/papers.yaml, then render README.md and docs/.
# First use creates .venv with the curation tools only (no torch); later runs reuse it.
# Extra arguments go to `repro build` (e.g. --check to verify committed files are fresh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/repro ] || ! .venv/bin/python -c "import reprogrammability, yaml, jsonschema, jinja2" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e .
fi
exec .venv/bin/repro build "$@"
