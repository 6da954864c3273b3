#!/usr/bin/env bash
# The website, in one command, offline: validate the data, render every page through the same
# pipeline as `repro build`, and build the HTML into _site/ with MkDocs (Material theme).
# First use creates .venv with the curation tools and the site generator (no torch); later runs
# reuse it. Extra arguments go to `repro site` (e.g. --out DIR, --site-url URL).
# Preview: python3 -m http.server -d _site 8000, then open http://127.0.0.1:8000/
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/repro ] || ! .venv/bin/python -c "import reprogrammability, yaml, jinja2, mkdocs, material" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[site]'
fi
exec .venv/bin/repro site "$@"
